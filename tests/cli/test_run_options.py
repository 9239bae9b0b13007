"""`ecko run` options end to end: factories, .env files, Unix sockets, TLS, graceful shutdown."""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.cli.conftest import RAW_ASGI_APP, StartEcko, free_port

SLOW_APP = """\
import asyncio
import pathlib


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/slow":
        pathlib.Path("started").touch()  # tells the test the request is in flight
        await asyncio.sleep(float(scope["query_string"] or b"1"))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"finished"})
"""


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_factory_target_is_called_in_the_reloading_server(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "factory.py").write_text(
        "from ecko import Ecko\n"
        "\n"
        "def create_app():\n"
        "    app = Ecko()\n"
        "    app.get('/')(lambda: {'made_by': 'factory'})\n"
        "    return app\n"
    )
    port = free_port()

    ecko = start_ecko("run", "factory:create_app()", "--port", str(port))

    assert ecko.get(f"http://127.0.0.1:{port}/") == '{"made_by":"factory"}'
    assert ecko.stop() == 0
    assert "serving factory:create_app() in development mode (reload on" in ecko.log


def test_env_file_is_loaded_before_the_app_and_the_environment_wins(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "envapp.py").write_text(
        "import os\n"
        "from ecko import Ecko\n"
        "\n"
        "app = Ecko()\n"
        "GREETING = os.environ['GREETING']  # read at import: the file must be loaded first\n"
        "\n"
        "@app.get('/')\n"
        "def home() -> dict[str, str]:\n"
        "    return {'greeting': GREETING, 'name': os.environ['NAME']}\n"
    )
    (tmp_path / "local.env").write_text("GREETING='Hello from .env'\nNAME=file\n")
    port = free_port()

    ecko = start_ecko(
        "run", "envapp:app", "--port", str(port), "--no-reload", "--env-file", "local.env",
        env={"NAME": "environment"},
    )  # fmt: skip

    body = ecko.get(f"http://127.0.0.1:{port}/")
    assert body == '{"greeting":"Hello from .env","name":"environment"}'
    assert ecko.stop() == 0


def test_unix_socket_is_served_and_announced(tmp_path: Path, start_ecko: StartEcko) -> None:
    (tmp_path / "slow.py").write_text(SLOW_APP)
    path = tmp_path / "app.sock"

    ecko = start_ecko("run", "slow:app", "--uds", str(path), "--prod", "--workers", "1")

    wait_for(path)
    deadline = time.monotonic() + 30
    while True:
        with socket.socket(socket.AF_UNIX) as client:
            try:
                client.connect(str(path))
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, ecko.log
                time.sleep(0.02)
                continue
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b"".join(iter(lambda: client.recv(4096), b""))
            break
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert b"\r\nfinished\r\n" in answer
    assert ecko.stop() == 0
    assert f"  URL     unix:{path}\n" in ecko.log


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_https_with_a_certificate_and_key_and_no_access_log(
    tmp_path: Path, start_ecko: StartEcko, server: str
) -> None:
    (tmp_path / "tmpmod.py").write_text(RAW_ASGI_APP)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out", "cert.pem"],
        cwd=tmp_path, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    port = free_port()

    ecko = start_ecko(
        "run", "tmpmod:app", "--port", str(port), "--no-reload", "--server", server,
        "--ssl-certfile", "cert.pem", "--ssl-keyfile", "key.pem", "--no-access-log",
    )  # fmt: skip

    context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    context.check_hostname = False
    deadline = time.monotonic() + 30
    while True:
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
        try:
            connection.request("GET", "/")
            body = connection.getresponse().read()
            break
        except (ConnectionRefusedError, ConnectionResetError):
            assert time.monotonic() < deadline, ecko.log
            assert ecko.process.poll() is None, ecko.log
            time.sleep(0.02)
        finally:
            connection.close()
    assert body == b"debug=1"
    assert ecko.stop() == 0
    assert f"  URL     https://127.0.0.1:{port}\n" in ecko.log
    assert '"GET / HTTP/1.1"' not in ecko.log


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path, start_ecko: StartEcko) -> None:
    (tmp_path / "slow.py").write_text(SLOW_APP)
    port = free_port()
    ecko = start_ecko(
        "run", "slow:app", "--port", str(port), "--prod", "--workers", "1", "--no-access-log"
    )
    ecko.get(f"http://127.0.0.1:{port}/")
    answers: list[str] = []

    def slow_request() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/slow?1")
        answers.append(connection.getresponse().read().decode())

    client = threading.Thread(target=slow_request)
    client.start()
    wait_for(tmp_path / "started")

    assert ecko.stop() == 0
    client.join(timeout=30)
    assert answers == ["finished"]
    assert "Waiting for connections to close." in ecko.log
    assert '"GET /' not in ecko.log  # --no-access-log


def test_graceful_timeout_bounds_the_wait_for_slow_requests(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "slow.py").write_text(SLOW_APP)
    port = free_port()
    ecko = start_ecko(
        "run", "slow:app", "--port", str(port), "--prod", "--workers", "1",
        "--graceful-timeout", "1",
    )  # fmt: skip
    ecko.get(f"http://127.0.0.1:{port}/")

    outcome: list[object] = []

    def hanging_request() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/slow?60")
        try:
            response = connection.getresponse()
            outcome.append((response.status, response.read()))
        except (http.client.HTTPException, ConnectionError) as error:
            outcome.append(error)

    client = threading.Thread(target=hanging_request)
    client.start()
    wait_for(tmp_path / "started")

    started = time.monotonic()
    assert ecko.stop() == 0
    assert time.monotonic() - started < 15
    client.join(timeout=30)
    assert len(outcome) == 1
    assert outcome[0] != (200, b"finished"), outcome
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in ecko.log


FORWARDED = {"X-Forwarded-For": "203.0.113.9"}


@pytest.mark.parametrize(
    ("arguments", "client"),
    [
        (["--no-reload", "--forwarded-allow-ips", "127.0.0.1"], "203.0.113.9"),
        (["--prod", "--workers", "1", "--forwarded-allow-ips", "10.0.0.1"], "127.0.0.1"),
    ],
)
def test_proxy_headers_are_trusted_only_from_the_allowed_addresses(
    tmp_path: Path, start_ecko: StartEcko, arguments: list[str], client: str
) -> None:
    (tmp_path / "tmpmod.py").write_text(RAW_ASGI_APP.replace('"debug={debug}"', '"{client}"'))
    port = free_port()

    ecko = start_ecko("run", "tmpmod:app", "--port", str(port), *arguments)

    assert ecko.get(f"http://127.0.0.1:{port}/", headers=FORWARDED) == client
    assert ecko.stop() == 0


def test_failing_startup_hook_exits_non_zero_with_its_error(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "hooked.py").write_text(
        "from ecko import Ecko\n"
        "\n"
        "app = Ecko()\n"
        "\n"
        "@app.on_startup\n"
        "def connect():\n"
        "    raise ConnectionError('database unreachable at db:5432')\n"
    )

    ecko = start_ecko("run", "hooked:app", "--port", str(free_port()), "--no-reload")

    assert ecko.wait() == 3
    assert "database unreachable at db:5432" in ecko.log
    assert ecko.log.endswith("error: the server could not start; see the log above\n")


def test_banner_shows_the_docs_url_when_openapi_is_set_up(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "documented.py").write_text(
        "from ecko import Ecko, setup_openapi\n"
        "\n"
        "app = Ecko()\n"
        "setup_openapi(app, docs_url='/api-docs')\n"
    )
    port = free_port()

    ecko = start_ecko("run", "documented:app", "--port", str(port), "--root-path", "/v1")

    ecko.get(f"http://127.0.0.1:{port}/api-docs")
    assert ecko.stop() == 0
    assert f"  URL     http://127.0.0.1:{port}/v1\n" in ecko.log
    assert f"  Docs    http://127.0.0.1:{port}/v1/api-docs\n" in ecko.log
    assert f"  Reload  watching *.py under {tmp_path}\n" in ecko.log
