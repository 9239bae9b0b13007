"""`ecko run --server granian`: the app served by granian in a subprocess, over the wire."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ecko.testing import LiveServer

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.e2e.apps.granian_app:app"
STARTED_FILE = "GRANIAN_APP_STARTED_FILE"
STOPPED_FILE = "GRANIAN_APP_STOPPED_FILE"


def ecko_granian(*options: str) -> list[str]:
    """Return the `python -m ecko run APP --server granian` command line, port left to fill."""
    return [
        sys.executable, "-m", "ecko", "run", APP, "--server", "granian",
        "--host", "{host}", "--port", "{port}", *options,
    ]  # fmt: skip


def markers(folder: Path) -> dict[str, str]:
    """Return the environment telling the app where to write its startup and shutdown markers."""
    return {STARTED_FILE: str(folder / "started"), STOPPED_FILE: str(folder / "stopped")}


def error_lines(log: str) -> list[str]:
    """Return the lines of a server log that report errors."""
    return [line for line in log.splitlines() if "[ERROR]" in line or "Traceback" in line]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("granian")
    live = LiveServer(
        command=ecko_granian("--prod", "--workers", "1"), cwd=ROOT, env=markers(folder)
    )
    with live:
        yield live


def test_json_route_converts_typed_params(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/items/7", params={"limit": "3", "tag": "new"}, timeout=10)

    assert response.status_code == 200
    assert response.headers["server"] == "granian"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"item_id": 7, "limit": 3, "tag": "new", "debug": False}


def test_invalid_params_are_refused_with_422_naming_each_field(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/items/seven", params={"limit": "0"}, timeout=10)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [error["loc"] for error in errors] == [["path", "item_id"], ["query", "limit"]]


def test_stream_arrives_incrementally(server: LiveServer) -> None:
    with (
        httpx.Client(base_url=server.url, timeout=10) as client,
        client.stream("GET", "/stream/incremental") as response,
    ):
        assert response.status_code == 200
        assert "content-length" not in response.headers
        chunks = response.iter_raw()
        received = b""
        # The app holds the second chunk until /release: the first must already be here.
        while received != b"first\n":
            received += next(chunks)
        assert client.post("/release/incremental").json() == {"released": True}
        assert b"".join(chunks) == b"second\n"


def test_websocket_echo(server: LiveServer) -> None:
    log_start = len(server.logs())

    async def scenario() -> None:
        async with connect(f"{server.ws_url}/echo") as ws:
            for text in ("hello", "héllo wörld", ""):
                await ws.send(text)
                assert await ws.recv() == f"echo:{text}"

    asyncio.run(scenario())
    assert error_lines(server.logs()[log_start:]) == []


def test_websocket_denial_response_reaches_the_client(server: LiveServer) -> None:
    async def refused(path: str) -> InvalidStatus:
        with pytest.raises(InvalidStatus) as refusal:
            async with connect(f"{server.ws_url}{path}"):
                pass
        return refusal.value

    # granian offers the `websocket.http.response` extension: status, headers and body go out.
    denial = asyncio.run(refused("/deny")).response
    assert denial.status_code == 401
    assert denial.headers["x-denied-by"] == "ecko"
    assert denial.body == b"no entry without a token"
    assert asyncio.run(refused("/no-such-route")).response.status_code == 403


def test_lifespan_hooks_run_in_the_worker_and_the_server_stops_cleanly(tmp_path: Path) -> None:
    started, stopped = tmp_path / "started", tmp_path / "stopped"
    with LiveServer(
        command=ecko_granian("--prod", "--workers", "1"), cwd=ROOT, env=markers(tmp_path)
    ) as live:
        # granian listens before its worker runs the startup hooks, so LiveServer may return
        # first; the worker serves only once they are done, and requests wait in the backlog.
        assert httpx.get(f"{live.url}/items/1", timeout=10).status_code == 200
        assert started.exists()
        assert not stopped.exists()
        worker = started.read_text().removeprefix("started ")
        # The hooks run in granian's worker process, not in the one `ecko run` started.
        assert worker != str(live.pid)

    # granian shuts down gracefully on SIGTERM and exits 0.
    assert live.process.returncode in (0, -signal.SIGTERM)
    assert stopped.read_text() == f"stopped {worker}"
    log = live.logs()
    assert "serving tests.e2e.apps.granian_app:app in production mode (reload off" in log
    assert "Granian shutdown completed" in log
    assert error_lines(log) == []


def test_development_mode_reloads_and_answers_with_debug_on(tmp_path: Path) -> None:
    # Run from tmp_path: the reloader watches it, not the repository, and the app's markers
    # are written into it.
    environment = {**markers(tmp_path), "PYTHONPATH": str(ROOT)}
    with LiveServer(command=ecko_granian(), cwd=tmp_path, env=environment) as live:
        response = httpx.get(f"{live.url}/items/2", timeout=10)
        assert response.json() == {"item_id": 2, "limit": 10, "tag": None, "debug": True}
        worker = (tmp_path / "started").read_text().removeprefix("started ")

    assert live.process.returncode in (0, -signal.SIGTERM)
    log = live.logs()
    assert "in development mode (reload on, debug on, 1 worker)" in log
    # Files the app writes are not code: the worker that started is the one that stopped.
    assert "Changes detected" not in log
    assert (tmp_path / "stopped").read_text() == f"stopped {worker}"
    assert error_lines(log) == []
