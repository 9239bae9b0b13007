"""The timeout middleware: 503 at the deadline; async handlers cancelled, sync ones abandoned."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ecko import Ecko
from ecko.middleware import timeout
from ecko.testing import LiveServer
from tests.conftest import ClientFactory

DEADLINE = 0.2


def _problem(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_fast_handler_is_untouched(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use(timeout(5))

    @app.get("/fast")
    async def fast() -> dict[str, bool]:
        return {"ok": True}

    assert client_for(app).get("/fast").json() == {"ok": True}


def test_async_handler_overrun_is_503_and_the_handler_is_cancelled(
    client_for: ClientFactory,
) -> None:
    events: list[str] = []
    app = Ecko()
    app.use(timeout(DEADLINE))

    @app.get("/slow")
    async def slow() -> str:
        try:
            events.append("started")
            await asyncio.sleep(30)
            events.append("finished")  # never reached: the work stops at the deadline
            return "late"
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        finally:
            events.append("cleaned up")

    started = time.monotonic()
    response = client_for(app).get("/slow")
    elapsed = time.monotonic() - started
    body = _problem(response)
    assert body["detail"] == "The server did not answer within 0.2 seconds"
    assert body["title"] == "Service Unavailable"
    assert events == ["started", "cancelled", "cleaned up"]
    assert elapsed < 5


def test_sync_handler_gets_503_at_the_deadline_while_its_thread_runs_on(
    client_for: ClientFactory,
) -> None:
    release = threading.Event()
    finished = threading.Event()
    app = Ecko()
    app.use(timeout(DEADLINE))

    @app.get("/blocking")
    def blocking() -> str:
        release.wait(30)  # a thread cannot be interrupted: it waits until released
        finished.set()
        return "late"

    started = time.monotonic()
    response = client_for(app).get("/blocking")
    elapsed = time.monotonic() - started
    _problem(response)
    assert elapsed < 5  # the client did not wait for the thread
    assert not finished.is_set()  # the thread was still running when the 503 went out
    release.set()
    assert finished.wait(10)  # and it ran to its end afterwards


def test_the_deadline_covers_inner_middleware(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use(timeout(DEADLINE))

    async def slow_middleware(request: Any, call_next: Any) -> Any:
        await asyncio.sleep(30)
        return await call_next()

    app.use(slow_middleware)

    @app.get("/")
    def index() -> str:
        return "never"

    _problem(client_for(app).get("/"))


def test_outer_middleware_sees_the_503(client_for: ClientFactory) -> None:
    seen: list[int] = []
    app = Ecko()

    async def record(request: Any, call_next: Any) -> Any:
        response = await call_next()
        seen.append(response.status_code)
        return response

    app.use(record)
    app.use(timeout(DEADLINE))

    @app.get("/slow")
    async def slow() -> None:
        await asyncio.sleep(30)

    _problem(client_for(app).get("/slow"))
    assert seen == [503]


def test_error_formatter_shapes_the_503(client_for: ClientFactory) -> None:
    app = Ecko(error_formatter=lambda exc, problem: ({"error": problem["detail"]}, 503))
    app.use(timeout(DEADLINE))

    @app.get("/slow")
    async def slow() -> None:
        await asyncio.sleep(30)

    response = client_for(app).get("/slow")
    assert response.status_code == 503
    assert response.json() == {"error": "The server did not answer within 0.2 seconds"}


@pytest.mark.parametrize("seconds", [0, -1, float("inf"), float("nan"), True, "5"])
def test_bad_deadline_is_refused(seconds: Any) -> None:
    with pytest.raises(ValueError, match="above 0"):
        timeout(seconds)


# -- through a real server -------------------------------------------------------------------

APP_SOURCE = """
import asyncio

from ecko import Ecko
from ecko.middleware import timeout

app = Ecko()
app.use(timeout(0.2))


@app.get("/slow")
async def slow() -> str:
    await asyncio.sleep(30)
    return "late"


@app.get("/fast")
def fast() -> str:
    return "fast"
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("timeout_app")
    (folder / "timeout_app.py").write_text(APP_SOURCE)
    with (
        LiveServer("timeout_app:app", cwd=folder) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        yield http


def test_503_on_the_wire_and_the_server_keeps_serving(live: httpx.Client) -> None:
    started = time.monotonic()
    response = live.get("/slow")
    assert time.monotonic() - started < 5
    assert _problem(response)["status"] == 503
    assert live.get("/fast").text == "fast"
