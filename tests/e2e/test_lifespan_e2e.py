"""Lifespan under uvicorn: hooks run around serving; a failing startup stops the server."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from ecko.testing import LiveServer

APPS = Path(__file__).parent / "apps"


def test_startup_and_shutdown_hooks_run_around_serving(tmp_path: Path) -> None:
    server = LiveServer("lifespan_app:app", cwd=APPS, env={"MARKER_DIR": str(tmp_path)})
    with server:
        # uvicorn completes the lifespan startup before it listens.
        assert (tmp_path / "started").read_text() == str(server.pid)
        assert not (tmp_path / "stopped").exists()
        events = httpx.get(f"{server.url}/events", timeout=10).json()
        assert events == ["context enter", "startup sync", "startup async"]
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to exit.
    assert server.process.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server.logs()
    assert (tmp_path / "stopped").read_text() == str(server.pid)
    assert (tmp_path / "events.log").read_text().splitlines() == [
        "context enter",
        "startup sync",
        "startup async",
        "shutdown sync",
        "shutdown async",
        "context exit",
    ]


def test_failing_startup_hook_makes_the_server_exit_non_zero() -> None:
    server = LiveServer("broken_startup_app:app", cwd=APPS)
    with pytest.raises(RuntimeError, match="exited with code") as info:
        server.start()
    code = server.process.returncode
    assert code is not None
    assert code != 0
    log = server.logs()
    assert "Application startup failed" in log
    assert "DatabaseUnavailableError: database at db.invalid:5432 is unreachable" in log
    assert "Traceback (most recent call last)" in log
    assert "database at db.invalid:5432 is unreachable" in str(info.value)
