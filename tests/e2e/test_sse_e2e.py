"""Event streams over a real connection, and a SIGTERM that open streams cannot hold up."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ecko.testing import LiveServer
from ecko.testing.sse import iter_events

APPS = Path(__file__).parent / "apps"
DRAIN = 1.0
# Time for the server to notice the signal, close sockets and run the lifespan shutdown.
MARGIN = 4.0


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer("sse_app:app", cwd=APPS) as live:
        yield live


def test_first_event_arrives_before_the_generator_finishes(server: LiveServer) -> None:
    with (
        httpx.Client(base_url=server.url, timeout=10) as client,
        client.stream("GET", "/gated/wire") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["transfer-encoding"] == "chunked"
        events = iter_events(response)
        first = next(events)
        assert (first.event, first.id, first.json()) == ("first", "1", {"n": 1})
        # The generator is still waiting for /release: the first event came on its own.
        assert client.post("/release/wire").json() == {"released": True}
        second = next(events)
        assert (second.event, second.id, second.json()) == ("second", "2", {"n": 2})
        assert list(events) == []


def test_idle_stream_gets_pings_and_the_server_survives_a_client_leaving(
    server: LiveServer,
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for path in ("/forever", "/forever-sync"):
            with client.stream("GET", path) as response:
                lines = response.iter_lines()
                assert next(lines).startswith("data: ")
                if path == "/forever":
                    assert [next(lines), next(lines)] == ["", ": ping"]
        assert client.get("/lines").text == '{"n":0}\n{"n":1}\n{"n":2}\n'


def _open_stream(url: str, received: list[str], done: threading.Event) -> None:
    """Read the event stream at `url` to its end, noting each event's data."""
    try:
        with httpx.stream("GET", url, timeout=30) as response:
            for event in iter_events(response):
                received.append(event.data)
    except httpx.HTTPError as error:  # the test checks the stream ended cleanly
        received.append(f"error: {error!r}")
    finally:
        done.set()


def _run_until_sigterm(live: LiveServer, tmp_path: Path) -> tuple[float, list[str], int | None]:
    """Open two streams and a WebSocket, send SIGTERM; return the exit time and what was seen."""
    streams: list[tuple[list[str], threading.Event]] = []
    for path in ("/forever", "/forever-sync"):
        received: list[str] = []
        done = threading.Event()
        threading.Thread(
            target=_open_stream, args=(live.url + path, received, done), daemon=True
        ).start()
        streams.append((received, done))
    with connect(f"{live.ws_url}/idle", open_timeout=10) as websocket:
        assert websocket.recv(timeout=10) == "hello"
        deadline = time.monotonic() + 10
        while not all(received for received, _ in streams):
            assert time.monotonic() < deadline, "the streams never sent their first event"
            time.sleep(0.01)  # poll interval
        started = time.monotonic()
        os.kill(live.pid, signal.SIGTERM)
        live.process.wait(DRAIN + MARGIN + 5)
        elapsed = time.monotonic() - started
        try:
            websocket.recv(timeout=1)
            close_code = None
        except ConnectionClosed as closed:
            close_code = closed.rcvd.code if closed.rcvd is not None else None
    for _, done in streams:
        assert done.wait(5)
    seen = [data for received, _ in streams for data in received]
    return elapsed, seen, close_code


@pytest.mark.parametrize("server_name", ["uvicorn", "granian"])
def test_sigterm_ends_open_streams_and_websockets_within_the_drain_time(
    tmp_path: Path, server_name: str
) -> None:
    stopped = tmp_path / "stopped"
    env = {"SSE_APP_DRAIN": str(DRAIN), "SSE_APP_STOPPED_FILE": str(stopped)}
    command = None
    if server_name == "granian":
        command = [
            sys.executable, "-m", "granian", "--interface", "asgi", "--host", "{host}",
            "--port", "{port}", "{target}",
        ]  # fmt: skip
    live = LiveServer("sse_app:app", cwd=APPS, env=env, command=command)
    with live:
        elapsed, seen, close_code = _run_until_sigterm(live, tmp_path)
    logs = live.logs()
    # Without the drain, the server would wait for these streams forever.
    assert elapsed < DRAIN + MARGIN, logs
    assert elapsed >= DRAIN * 0.9, logs  # streams got their drain time
    assert not any(data.startswith("error") for data in seen), (seen, logs)
    assert "hello" in seen
    assert "tick" in seen
    # Ours, or uvicorn's "service restart". granian may stop its worker before the close
    # frame is flushed (seen under load in CI): then the connection just ends, which is still
    # a bounded shutdown.
    expected_codes = (1001, 1012, None) if server_name == "granian" else (1001, 1012)
    assert close_code in expected_codes, logs
    assert stopped.read_text() == "stopped", logs  # the lifespan shutdown still ran
    assert "Traceback" not in logs, logs


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing")
def test_clock_example_page_shows_the_stream_live_in_a_browser() -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with (
        LiveServer("sse_clock:app", cwd=EXAMPLES) as live,
        sync_api.sync_playwright() as playwright,
    ):
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page()
            page.goto(live.url)
            page.wait_for_function(
                "document.getElementById('status').textContent === 'live'", timeout=10_000
            )
            # Two ticks a second apart: the page is fed by the stream as it runs.
            page.wait_for_function(
                "document.querySelectorAll('#log li').length >= 2", timeout=10_000
            )
            ticks = page.locator("#log li").all_text_contents()
            assert all(tick.startswith("#") for tick in ticks)
            assert page.text_content("#time") not in ("--:--:--", None)
        finally:
            browser.close()
