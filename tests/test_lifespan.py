"""Startup and shutdown hooks, the lifespan context manager, and `app.state`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from ecko import Ecko, State
from ecko.testing import AsyncTestClient, TestClient


def test_startup_hooks_run_in_order_and_shutdown_hooks_in_reverse() -> None:
    app = Ecko()
    calls: list[str] = []

    @app.on_startup
    def connect_database() -> None:
        calls.append("startup database")

    @app.on_startup
    async def warm_cache() -> None:
        await asyncio.sleep(0)
        calls.append("startup cache")

    @app.on_shutdown
    async def disconnect_database() -> None:
        calls.append("shutdown database")

    @app.on_shutdown
    def drop_cache() -> None:
        calls.append("shutdown cache")

    @app.get("/")
    def handler() -> list[str]:
        return list(calls)

    with TestClient(app) as client:
        assert client.get("/").json() == ["startup database", "startup cache"]
    assert calls == ["startup database", "startup cache", "shutdown cache", "shutdown database"]


def test_sync_hooks_run_in_the_threadpool_async_hooks_on_the_loop() -> None:
    app = Ecko()
    threads: dict[str, str] = {}

    @app.on_startup
    def sync_startup() -> None:
        threads["sync"] = threading.current_thread().name

    @app.on_startup
    async def async_startup() -> None:
        threads["async"] = threading.current_thread().name

    with TestClient(app):
        pass
    assert threads["sync"].startswith("ecko-sync")
    assert threads["async"] == "ecko-test-loop"


def test_every_shutdown_hook_runs_even_if_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    app = Ecko()
    calls: list[str] = []

    @app.on_shutdown
    def first_registered() -> None:
        calls.append("first")

    @app.on_shutdown
    def failing() -> None:
        calls.append("failing")
        raise RuntimeError("cannot close the pool")

    @app.on_shutdown
    async def last_registered() -> None:
        calls.append("last")

    client = TestClient(app)
    client.__enter__()
    with pytest.raises(RuntimeError, match="RuntimeError: cannot close the pool"):
        client.__exit__(None, None, None)
    assert calls == ["last", "failing", "first"]
    assert "Shutdown hook" in caplog.text
    assert "failing" in caplog.text
    assert "cannot close the pool" in caplog.text


def test_failing_startup_hook_makes_the_test_client_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Ecko()
    calls: list[str] = []

    @app.on_startup
    def first() -> None:
        calls.append("first")

    @app.on_startup
    def broken() -> None:
        raise ConnectionError("database unreachable")

    @app.on_startup
    def never() -> None:
        calls.append("never")

    with pytest.raises(RuntimeError, match="database unreachable") as info, TestClient(app):
        pass
    assert "ConnectionError" in str(info.value)
    assert "Traceback" in str(info.value)
    assert calls == ["first"]
    assert "Application startup failed" in caplog.text


def test_lifespan_context_manager_wraps_serving() -> None:
    calls: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Ecko[Any]) -> AsyncIterator[None]:
        calls.append("enter")
        app.state.pool = "connected"
        yield
        calls.append("exit")
        app.state.pool = "closed"

    app = Ecko(lifespan=lifespan)

    @app.on_startup
    def startup() -> None:
        calls.append(f"startup sees {app.state.pool}")

    @app.on_shutdown
    def shutdown() -> None:
        calls.append("shutdown")

    @app.get("/pool")
    def pool() -> dict[str, str]:
        return {"pool": app.state.pool}

    with TestClient(app) as client:
        assert client.get("/pool").json() == {"pool": "connected"}
    assert calls == ["enter", "startup sees connected", "shutdown", "exit"]
    assert app.state.pool == "closed"


def test_failing_lifespan_context_makes_the_test_client_raise() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Ecko[Any]) -> AsyncIterator[None]:
        raise OSError("no network")
        yield

    app = Ecko(lifespan=lifespan)
    with pytest.raises(RuntimeError, match="no network"), TestClient(app):
        pass


def test_failing_startup_hook_leaves_the_lifespan_context() -> None:
    calls: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Ecko[Any]) -> AsyncIterator[None]:
        calls.append("enter")
        try:
            yield
        finally:
            calls.append("exit")

    app = Ecko(lifespan=lifespan)

    @app.on_startup
    def broken() -> None:
        raise ValueError("bad config")

    with pytest.raises(RuntimeError, match="bad config"), TestClient(app):
        pass
    assert calls == ["enter", "exit"]


def test_async_test_client_runs_lifespan() -> None:
    app = Ecko()
    calls: list[str] = []

    @app.on_startup
    async def startup() -> None:
        calls.append("startup")

    @app.on_shutdown
    async def shutdown() -> None:
        calls.append("shutdown")

    @app.get("/")
    async def handler() -> list[str]:
        return calls

    async def run() -> list[str]:
        async with AsyncTestClient(app) as client:
            body: list[str] = (await client.get("/")).json()
        return body

    assert asyncio.run(run()) == ["startup"]
    assert calls == ["startup", "shutdown"]


def test_shutdown_hooks_do_not_run_after_a_failed_startup() -> None:
    app = Ecko()
    calls: list[str] = []

    @app.on_startup
    def broken() -> None:
        raise RuntimeError("nope")

    @app.on_shutdown
    def shutdown() -> None:
        calls.append("shutdown")

    with pytest.raises(RuntimeError), TestClient(app):
        pass
    assert calls == []


# --- app.state ----------------------------------------------------------------------------------


def test_app_state_is_a_state_by_default() -> None:
    app = Ecko()
    assert isinstance(app.state, State)
    with pytest.raises(AttributeError, match="set it first"):
        _ = app.state.missing


def test_app_state_set_at_startup_is_visible_in_handlers() -> None:
    app = Ecko()

    @app.on_startup
    async def connect() -> None:
        app.state.db = {"users": ["ada"]}

    @app.get("/users")
    def users() -> list[str]:
        users: list[str] = app.state.db["users"]
        return users

    with TestClient(app) as client:
        assert client.get("/users").json() == ["ada"]


class Settings(msgspec.Struct):
    name: str
    count: int = 0


@dataclasses.dataclass
class Resources:
    settings: Settings
    opened: list[str] = dataclasses.field(default_factory=list)


def test_typed_state_is_the_object_given() -> None:
    resources = Resources(Settings("demo"))
    app = Ecko(state=resources)
    assert app.state is resources

    @app.on_startup
    def open_resources() -> None:
        app.state.opened.append("db")

    @app.get("/")
    def handler() -> dict[str, Any]:
        app.state.settings.count += 1
        return {"name": app.state.settings.name, "count": app.state.settings.count}

    with TestClient(app) as client:
        assert client.get("/").json() == {"name": "demo", "count": 1}
        assert client.get("/").json() == {"name": "demo", "count": 2}
    assert resources.opened == ["db"]
