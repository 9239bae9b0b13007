from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecko.cli import CommandError, main
from ecko.cli.run import RunOptions, ServerSettings, resolve_settings
from tests.cli.conftest import ECKO_ROOT, RAW_ASGI_APP, StartEcko, WriteModule, free_port


def test_development_is_the_default_with_reload_and_debug() -> None:
    assert resolve_settings(RunOptions("app:app")) == ServerSettings(
        reload=True, debug=True, workers=1, forwarded_allow_ips=None
    )


def test_prod_turns_reload_and_debug_off_and_trusts_proxy_headers_from_localhost() -> None:
    assert resolve_settings(RunOptions("app:app", prod=True, workers=4)) == ServerSettings(
        reload=False, debug=False, workers=4, forwarded_allow_ips="127.0.0.1"
    )


def test_prod_runs_one_worker_per_cpu_by_default() -> None:
    assert resolve_settings(RunOptions("app:app", prod=True)).workers == (os.cpu_count() or 1)


def test_no_reload_keeps_debug_in_development() -> None:
    settings = resolve_settings(RunOptions("app:app", reload=False, forwarded_allow_ips="*"))

    assert (settings.reload, settings.debug, settings.forwarded_allow_ips) == (False, True, "*")


def test_empty_forwarded_allow_ips_trusts_no_proxy_even_in_prod() -> None:
    settings = resolve_settings(RunOptions("app:app", prod=True, forwarded_allow_ips=""))

    assert settings.forwarded_allow_ips is None


def test_several_workers_with_reload_are_refused_with_the_fix() -> None:
    with pytest.raises(CommandError) as caught:
        resolve_settings(RunOptions("app:app", workers=4))

    assert caught.value.message == (
        "--workers 4 cannot be combined with reload; "
        "add --prod (or --no-reload) to run several workers"
    )


def test_reload_in_prod_is_refused() -> None:
    with pytest.raises(CommandError, match="--reload is for development; drop it or drop --prod"):
        resolve_settings(RunOptions("app:app", prod=True, reload=True))


def test_forwarded_allow_ips_with_granian_is_refused_as_it_has_no_equivalent() -> None:
    with pytest.raises(CommandError) as caught:
        resolve_settings(RunOptions("app:app", server="granian", forwarded_allow_ips="10.0.0.1"))

    assert caught.value.message.startswith("--forwarded-allow-ips has no granian equivalent")


def test_granian_in_prod_trusts_no_proxy_headers() -> None:
    settings = resolve_settings(RunOptions("app:app", server="granian", prod=True))

    assert settings.forwarded_allow_ips is None


def test_granian_needs_the_key_file_with_the_certificate(tmp_path: Path) -> None:
    certificate = tmp_path / "cert.pem"
    certificate.write_text("")

    with pytest.raises(CommandError, match="--server granian needs --ssl-keyfile"):
        resolve_settings(RunOptions("app:app", server="granian", ssl_certfile=str(certificate)))


def test_key_without_certificate_is_refused() -> None:
    with pytest.raises(CommandError, match="--ssl-keyfile needs --ssl-certfile"):
        resolve_settings(RunOptions("app:app", ssl_keyfile="key.pem"))


@pytest.mark.parametrize("flag", ["--env-file", "--ssl-certfile"])
def test_missing_files_are_named_in_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    assert main(["run", "app:app", flag, "nothere.txt"]) == 2

    assert capsys.readouterr().err == (
        f"error: {flag}: file 'nothere.txt' not found (looked in {project})\n"
    )


def test_option_errors_come_before_importing_the_app(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = write_module("main.py", "open('imported', 'w').close()\n").parent / "imported"

    assert main(["run", "main:app", "--workers", "2"]) == 2

    assert capsys.readouterr().err.startswith("error: --workers 2 cannot be combined with reload;")
    assert not marker.exists()


REPORT_DEBUG_AT_IMPORT = """\
import os

raise RuntimeError("ECKO_DEBUG=" + os.environ.get("ECKO_DEBUG", "<unset>"))
"""


def test_development_sets_ecko_debug_before_the_app_is_imported(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str]
) -> None:
    write_module("main.py", REPORT_DEBUG_AT_IMPORT)

    assert main(["run", "main:app"]) == 1

    assert capsys.readouterr().err.startswith(
        "error: importing 'main' raised RuntimeError: ECKO_DEBUG=1\n"
    )


def test_prod_clears_ecko_debug_before_the_app_is_imported(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module("main.py", REPORT_DEBUG_AT_IMPORT)
    monkeypatch.setenv("ECKO_DEBUG", "1")

    assert main(["run", "main:app", "--prod"]) == 1

    assert "RuntimeError: ECKO_DEBUG=<unset>\n" in capsys.readouterr().err
    assert "ECKO_DEBUG" not in os.environ


def test_missing_module_fails_in_one_line_with_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "nothere:app"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: module 'nothere' not found: there is no nothere.py")
    assert err.count("\n") == 1


def test_malformed_target_fails_with_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "a:b:c"]) == 2

    assert (
        capsys.readouterr().err
        == "error: invalid target 'a:b:c': expected 'module:attribute', e.g. app:app\n"
    )


def test_granian_missing_names_the_extra_in_one_line(
    write_module: WriteModule, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module("main.py", RAW_ASGI_APP)
    # A None entry makes `import granian` raise ImportError, as if it were not installed.
    monkeypatch.setitem(sys.modules, "granian", None)

    assert main(["run", "main:app", "--server", "granian"]) == 2

    assert capsys.readouterr().err == (
        "error: 'granian' is not installed; install it with: pip install 'ecko[granian]'\n"
    )


def test_serves_a_raw_asgi_app_in_development_and_stops_cleanly_on_sigterm(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "tmpmod.py").write_text(RAW_ASGI_APP)
    port = free_port()

    ecko = start_ecko(
        "run", "tmpmod:app", "--port", str(port), "--host", "127.0.0.1", "--no-reload"
    )

    assert ecko.get(f"http://127.0.0.1:{port}/") == "debug=1"
    assert ecko.stop() == 0
    assert "serving tmpmod:app in development mode (reload off, debug on, 1 worker)" in ecko.log
    assert "Application shutdown complete." in ecko.log


def test_prod_serves_without_debug(tmp_path: Path, start_ecko: StartEcko) -> None:
    (tmp_path / "tmpmod.py").write_text(RAW_ASGI_APP)
    port = free_port()

    ecko = start_ecko(
        "run", "tmpmod:app", "--port", str(port), "--prod", "--workers", "1",
        env={"ECKO_DEBUG": "1"},
    )  # fmt: skip

    assert ecko.get(f"http://127.0.0.1:{port}/") == "debug=<unset>"
    assert ecko.stop() == 0


def test_serves_an_ecko_app_with_debug_on_in_development(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "web.py").write_text(
        "from ecko import Ecko\n"
        "\n"
        "app = Ecko()\n"
        "\n"
        "@app.get('/')\n"
        "def home() -> dict[str, bool]:\n"
        "    return {'debug': app.debug}\n"
    )
    port = free_port()

    ecko = start_ecko("run", "web.py", "--port", str(port), "--no-reload")

    assert ecko.get(f"http://127.0.0.1:{port}/") == '{"debug":true}'
    assert ecko.stop() == 0


def test_exits_non_zero_when_the_app_fails_to_start(tmp_path: Path, start_ecko: StartEcko) -> None:
    (tmp_path / "failing.py").write_text(
        "async def app(scope, receive, send):\n"
        "    assert scope['type'] == 'lifespan'\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'database unreachable'})\n"
    )

    ecko = start_ecko("run", "failing:app", "--port", str(free_port()), "--no-reload")

    assert ecko.wait() == 3
    assert "database unreachable" in ecko.log
    assert "error: the server could not start; see the log above" in ecko.log


def test_module_raising_on_import_exits_1_without_a_traceback(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "broken.py").write_text("app = undefined_name\n")

    ecko = start_ecko("run", "broken:app", "--port", str(free_port()))

    assert ecko.wait() == 1
    assert ecko.log == (
        "error: importing 'broken' raised NameError: name 'undefined_name' is not defined\n"
        '  File "broken.py", line 1, in <module>\n'
        "    app = undefined_name\n"
    )


def test_reload_serves_a_file_outside_the_current_directory_and_picks_up_edits(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    app_file = tmp_path / "my-project" / "server.py"
    app_file.parent.mkdir()
    app_file.write_text(RAW_ASGI_APP)
    (tmp_path / "elsewhere").mkdir()
    port = free_port()

    ecko = start_ecko(
        "run", "../my-project/server.py:app", "--port", str(port), cwd=tmp_path / "elsewhere"
    )
    url = f"http://127.0.0.1:{port}/"

    assert ecko.get(url) == "debug=1"
    edited = RAW_ASGI_APP.replace('BODY = "debug={debug}"', 'BODY = "edited"')
    saved_at = 0.0

    def serves_the_edit(body: str) -> bool:
        nonlocal saved_at
        # The watcher may arm after the server answers (uvicorn says nothing when it is ready),
        # so an edit made too early goes unseen: save again until the edit is served.
        if body != "edited" and time.monotonic() - saved_at > 1:
            app_file.write_text(edited)
            saved_at = time.monotonic()
        return body == "edited"

    assert ecko.get(url, until=serves_the_edit) == "edited"
    assert ecko.stop() == 0
    assert "reload on, debug on" in ecko.log


def with_body(body: str) -> str:
    return RAW_ASGI_APP.replace('BODY = "debug={debug}"', f"BODY = {body!r}")


def test_prod_trusts_proxy_headers_and_passes_the_root_path(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "tmpmod.py").write_text(with_body("client={client} root_path={root_path}"))
    port = free_port()
    forwarded = {"X-Forwarded-For": "203.0.113.9"}

    ecko = start_ecko(
        "run", "tmpmod:app", "--port", str(port), "--prod", "--workers", "1", "--root-path", "/api"
    )  # fmt: skip

    body = ecko.get(f"http://127.0.0.1:{port}/", headers=forwarded)
    assert body == "client=203.0.113.9 root_path=/api"
    assert ecko.stop() == 0


def test_development_ignores_proxy_headers(tmp_path: Path, start_ecko: StartEcko) -> None:
    (tmp_path / "tmpmod.py").write_text(with_body("client={client}"))
    port = free_port()
    forwarded = {"X-Forwarded-For": "203.0.113.9"}

    ecko = start_ecko("run", "tmpmod:app", "--port", str(port), "--no-reload")

    assert ecko.get(f"http://127.0.0.1:{port}/", headers=forwarded) == "client=127.0.0.1"
    assert ecko.stop() == 0


def test_prod_runs_several_workers_that_all_answer(tmp_path: Path, start_ecko: StartEcko) -> None:
    (tmp_path / "tmpmod.py").write_text(with_body("pid={pid}"))
    port = free_port()

    ecko = start_ecko("run", "tmpmod:app", "--port", str(port), "--prod", "--workers", "2")

    # Each request opens a new connection, which any worker may accept: poll until two
    # different worker processes have answered.
    pids: set[str] = set()

    def two_workers_answered(body: str) -> bool:
        pids.add(body)
        return len(pids) == 2

    ecko.get(f"http://127.0.0.1:{port}/", until=two_workers_answered)
    assert f"pid={ecko.process.pid}" not in pids
    assert ecko.stop() == 0
    assert "serving tmpmod:app in production mode (reload off, debug off, 2 workers)" in ecko.log
    assert ecko.log.count("Application shutdown complete.") == 2


def test_port_in_use_exits_with_the_startup_failure_code(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "tmpmod.py").write_text(RAW_ASGI_APP)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        ecko = start_ecko("run", "tmpmod:app", "--port", str(port), "--no-reload")

        assert ecko.wait() == 3
    assert "address already in use" in ecko.log


def test_granian_reload_serves_a_file_outside_the_current_directory_and_picks_up_edits(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    app_file = tmp_path / "my-project" / "server.py"
    app_file.parent.mkdir()
    app_file.write_text(RAW_ASGI_APP)
    (tmp_path / "elsewhere").mkdir()
    port = free_port()

    ecko = start_ecko(
        "run", "../my-project/server.py:app", "--server", "granian", "--port", str(port),
        cwd=tmp_path / "elsewhere",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"

    assert ecko.get(url) == "debug=1"
    edited = RAW_ASGI_APP.replace('BODY = "debug={debug}"', 'BODY = "edited"')
    saved_at = 0.0

    def serves_the_edit(body: str) -> bool:
        nonlocal saved_at
        # granian arms its watcher after the worker starts: save again until the edit is served.
        if body != "edited" and time.monotonic() - saved_at > 1:
            app_file.write_text(edited)
            saved_at = time.monotonic()
        return body == "edited"

    assert ecko.get(url, until=serves_the_edit) == "edited"
    assert ecko.stop() == 0
    assert "serving server:app in development mode (reload on, debug on, 1 worker)" in ecko.log
    assert "Changes detected, reloading workers" in ecko.log


def test_granian_prod_serves_without_debug_under_the_root_path(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "tmpmod.py").write_text(with_body("debug={debug} root_path={root_path}"))
    port = free_port()

    ecko = start_ecko(
        "run", "tmpmod:app", "--server", "granian", "--port", str(port), "--prod",
        "--workers", "1", "--root-path", "/api", env={"ECKO_DEBUG": "1"},
    )  # fmt: skip

    assert ecko.get(f"http://127.0.0.1:{port}/api/") == "debug=<unset> root_path=/api"
    assert ecko.stop() == 0
    assert "serving tmpmod:app in production mode (reload off, debug off, 1 worker)" in ecko.log


def test_granian_prod_runs_several_workers_that_all_answer(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "tmpmod.py").write_text(with_body("pid={pid}"))
    port = free_port()

    # --graceful-timeout becomes granian's workers_kill_timeout: under load a granian worker
    # sometimes ignores the stop request, and is then killed after 2 s instead of never.
    ecko = start_ecko(
        "run", "tmpmod:app", "--server", "granian", "--port", str(port), "--prod",
        "--workers", "2", "--graceful-timeout", "2",
    )  # fmt: skip

    pids: set[str] = set()

    def two_workers_answered(body: str) -> bool:
        pids.add(body)
        return len(pids) == 2

    ecko.get(f"http://127.0.0.1:{port}/", until=two_workers_answered)
    # granian serves from worker processes, never from the process `ecko run` started.
    assert f"pid={ecko.process.pid}" not in pids
    assert ecko.stop() == 0
    assert "serving tmpmod:app in production mode (reload off, debug off, 2 workers)" in ecko.log
    assert "Stopped worker-2" in ecko.log


def test_granian_exits_non_zero_when_the_app_fails_to_start(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "failing.py").write_text(
        "async def app(scope, receive, send):\n"
        "    assert scope['type'] == 'lifespan'\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'database unreachable'})\n"
    )

    ecko = start_ecko(
        "run", "failing:app", "--server", "granian", "--port", str(free_port()), "--prod",
        "--workers", "1",
    )  # fmt: skip

    # The worker exits 1 and granian stops with it; uvicorn's startup-failure code is 3.
    assert ecko.wait() == 1
    assert "[ERROR] database unreachable" in ecko.log
    assert "ASGI lifespan startup failed" in ecko.log


def test_granian_port_in_use_exits_with_the_startup_failure_code_in_one_line(
    tmp_path: Path, start_ecko: StartEcko
) -> None:
    (tmp_path / "tmpmod.py").write_text(RAW_ASGI_APP)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        ecko = start_ecko("run", "tmpmod:app", "--server", "granian", "--port", str(port))

        assert ecko.wait() == 3
    assert ecko.log.endswith(
        "error: the server could not start: Address already in use (os error 98)\n"
    )
    assert "Traceback" not in ecko.log


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nothere:app", "error: module 'nothere' not found: there is no nothere.py or nothere/"),
        ("shop:api", "error: module 'shop' has no attribute 'api'; it defines: app\n"),
        ("shop:SETTINGS", "error: 'shop:SETTINGS' is a dict, not an ASGI app; the module defines"),
        ("shop.py:make()", "error: calling shop:make() raised ZeroDivisionError: division by zero"),
        ("missing.py", "error: file 'missing.py' not found (looked in "),
    ],
)
def test_bad_targets_fail_in_the_terminal_without_a_traceback(
    tmp_path: Path, target: str, message: str
) -> None:
    (tmp_path / "shop.py").write_text(
        "from ecko import Ecko\n\napp = Ecko()\nSETTINGS = {}\n\n\ndef make():\n    return 1 / 0\n"
    )

    completed = subprocess.run(
        [sys.executable, "-m", "ecko", "run", target, "--port", str(free_port())],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ECKO_ROOT, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.stderr.startswith(message)
    assert "Traceback" not in completed.stderr
    assert completed.returncode == (1 if "raised" in message else 2)
