"""Background tasks: added by a handler, run after the response, in order, failures logged."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from typing import Any

import pytest

from ecko import (
    BackgroundTasks,
    Ecko,
    NotFound,
    RouteDefinitionError,
    UploadFile,
    WebSocket,
    context,
)
from ecko.types import Message, Scope
from tests.conftest import ClientFactory


def test_tasks_run_in_order_sync_in_the_threadpool(client_for: ClientFactory) -> None:
    app = Ecko()
    ran: list[tuple[str, str]] = []

    def record(label: str, *, suffix: str = "") -> None:
        ran.append((label + suffix, threading.current_thread().name))

    async def record_async(label: str) -> None:
        await asyncio.sleep(0)
        ran.append((label, threading.current_thread().name))

    @app.post("/orders")
    def create_order(tasks: BackgroundTasks) -> str:
        tasks.add(record, "first", suffix="!")
        tasks.add(record_async, "second")
        tasks.add(functools.partial(record_async, "third"))
        assert len(tasks) == 3
        return "created"

    assert client_for(app).post("/orders").text == "created"
    assert [label for label, _ in ran] == ["first!", "second", "third"]
    assert ran[0][1].startswith("ecko-sync")
    assert not ran[1][1].startswith("ecko-sync")


def test_failing_task_is_logged_and_the_next_still_runs(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()
    ran: list[str] = []

    def explode() -> None:
        raise ValueError("mail server down")

    @app.post("/signup")
    async def signup(tasks: BackgroundTasks) -> str:
        tasks.add(explode)
        tasks.add(ran.append, "after")
        return "ok"

    with caplog.at_level(logging.ERROR, logger="ecko"):
        response = client_for(app).post("/signup")

    assert response.status_code == 200
    assert ran == ["after"]
    [record] = [r for r in caplog.records if "Background task" in r.getMessage()]
    assert record.name == "ecko"
    assert "explode" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


def test_tasks_see_the_request_context(client_for: ClientFactory) -> None:
    app = Ecko()
    seen: list[Any] = []

    def audit() -> None:
        seen.append((context.request.path, context.user))

    async def audit_async() -> None:
        seen.append((context.request.path, context.user))

    @app.post("/things")
    def things(tasks: BackgroundTasks) -> str:
        context.user = "ada"
        tasks.add(audit)
        tasks.add(audit_async)
        return "ok"

    client_for(app).post("/things")
    assert seen == [("/things", "ada"), ("/things", "ada")]


def test_every_tasks_parameter_is_the_same_object(client_for: ClientFactory) -> None:
    app = Ecko()
    ran: list[str] = []

    @app.post("/twice")
    def twice(first: BackgroundTasks, second: BackgroundTasks) -> bool:
        first.add(ran.append, "a")
        second.add(ran.append, "b")
        return first is second

    assert client_for(app).post("/twice").json() is True
    assert ran == ["a", "b"]


def test_a_task_can_add_another(client_for: ClientFactory) -> None:
    app = Ecko()
    ran: list[str] = []

    @app.post("/chain")
    def chain(tasks: BackgroundTasks) -> str:
        def first() -> None:
            ran.append("first")
            tasks.add(ran.append, "second")

        tasks.add(first)
        return "ok"

    client_for(app).post("/chain")
    assert ran == ["first", "second"]


def test_tasks_run_before_uploads_are_closed(client_for: ClientFactory) -> None:
    app = Ecko()
    read: list[bytes] = []

    async def process(upload: UploadFile) -> None:
        read.append(await upload.read())

    @app.post("/import")
    def import_file(file: UploadFile, tasks: BackgroundTasks) -> str:
        tasks.add(process, file)
        return "queued"

    client_for(app).post("/import", files={"file": ("data.csv", b"a,b\n1,2\n")})
    assert read == [b"a,b\n1,2\n"]


def test_tasks_of_a_failed_handler_are_dropped(client_for: ClientFactory) -> None:
    app = Ecko()
    ran: list[str] = []

    @app.post("/fails")
    def fails(tasks: BackgroundTasks) -> str:
        tasks.add(ran.append, "send welcome mail")
        raise ValueError("boom")

    @app.post("/missing")
    def missing(tasks: BackgroundTasks) -> str:
        tasks.add(ran.append, "audit")
        raise NotFound("no such thing")

    @app.post("/works")
    def works(tasks: BackgroundTasks) -> str:
        tasks.add(ran.append, "after success")
        return "ok"

    client = client_for(app, raise_server_exceptions=False)
    assert client.post("/fails").status_code == 500
    assert client.post("/missing").status_code == 404
    assert client.post("/works").status_code == 200
    assert ran == ["after success"]


def test_request_without_tasks_schedules_nothing() -> None:
    app = Ecko()
    scopes: list[Scope] = []

    @app.get("/plain")
    def plain() -> str:
        return "ok"

    async def exchange() -> None:
        scope: Scope = {
            "type": "http",
            "method": "GET",
            "path": "/plain",
            "query_string": b"",
            "headers": [],
        }

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            pass

        await app(scope, receive, send)
        scopes.append(scope)

    asyncio.run(exchange())
    assert "ecko.after_response" not in scopes[0]


def test_background_tasks_on_a_websocket_route_is_refused() -> None:
    app = Ecko()

    with pytest.raises(RouteDefinitionError, match="BackgroundTasks"):

        @app.websocket("/ws")
        async def ws(websocket: WebSocket, tasks: BackgroundTasks) -> None:
            pass


def test_repr_names_the_tasks() -> None:
    tasks = BackgroundTasks()
    tasks.add(print, "x")
    assert repr(tasks) == "BackgroundTasks(['print'])"
