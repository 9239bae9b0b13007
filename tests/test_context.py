"""`ecko.context`: per-request attributes, isolated between concurrent requests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from ecko import Ecko, Request, Response, context
from ecko.testing import AsyncTestClient
from tests.conftest import ClientFactory


class User:
    def __init__(self, name: str) -> None:
        self.name = name


def test_before_request_sets_context_user_for_the_handler(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.before_request
    def load_user() -> None:
        token = context.request.headers.get("authorization")
        context.user = User(token.removeprefix("Bearer ") if token else "anonymous")

    @app.get("/profile")
    def profile() -> dict[str, str]:
        return {"name": context.user.name}

    client = client_for(app)
    assert client.get("/profile", headers={"Authorization": "Bearer ada"}).json() == {"name": "ada"}
    assert client.get("/profile").json() == {"name": "anonymous"}


def test_context_request_is_the_current_request(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/items/{item_id}")
    async def item(item_id: int, request: Request) -> dict[str, Any]:
        return {
            "same": context.request is request,
            "path": context.request.path,
            "params": context.request.path_params,
        }

    assert client_for(app).get("/items/5").json() == {
        "same": True,
        "path": "/items/5",
        "params": {"item_id": "5"},
    }


def test_context_starts_empty_for_every_request(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/set")
    def set_value() -> dict[str, bool]:
        had = "user" in context
        context.user = "someone"
        return {"had": had}

    client = client_for(app)
    assert client.get("/set").json() == {"had": False}
    assert client.get("/set").json() == {"had": False}


def test_context_is_readable_in_every_place_user_code_runs(client_for: ClientFactory) -> None:
    app = Ecko()
    seen: dict[str, str] = {}

    async def middleware(request: Request, call_next: Any) -> Response:
        seen["middleware"] = context.request.path
        context.trail = ["middleware"]
        response: Response = await call_next()
        seen["middleware after"] = ",".join(context.trail)
        return response

    app.use(middleware)

    @app.before_request
    def before() -> None:
        seen["before"] = context.request.path
        context.trail.append("before")

    @app.after_request
    async def after(response: Response) -> Response:
        seen["after"] = context.request.path
        context.trail.append("after")
        return response

    @app.exception_handler(ValueError)
    def on_value_error(exc: ValueError) -> tuple[dict[str, str], int]:
        seen["exception handler"] = context.request.path
        context.trail.append("exception handler")
        return {"error": str(exc)}, 400

    @app.get("/fail")
    def fail() -> None:
        seen["handler"] = context.request.path
        context.trail.append("handler")
        raise ValueError("bad value")

    response = client_for(app).get("/fail")
    assert response.status_code == 400
    assert seen == {
        "middleware": "/fail",
        "before": "/fail",
        "handler": "/fail",
        "exception handler": "/fail",
        "after": "/fail",
        "middleware after": "middleware,before,handler,exception handler,after",
    }


def test_context_values_are_isolated_between_concurrent_async_requests() -> None:
    app = Ecko()
    arrived = 0
    all_arrived = asyncio.Event()
    count = 50

    @app.before_request
    async def remember() -> None:
        nonlocal arrived
        context.user = context.request.query_params["n"]
        arrived += 1
        if arrived == count:
            all_arrived.set()
        # Every request holds here until all have set their own value.
        await asyncio.wait_for(all_arrived.wait(), 10)

    @app.get("/async")
    async def read_async(n: str) -> dict[str, str]:
        await asyncio.sleep(0)
        return {"n": n, "user": context.user}

    async def run() -> list[dict[str, str]]:
        async with AsyncTestClient(app) as client:
            responses = await asyncio.gather(
                *(client.get("/async", params={"n": str(i)}) for i in range(count))
            )
        return [response.json() for response in responses]

    results = asyncio.run(run())
    assert all(result["user"] == result["n"] for result in results)
    assert sorted(int(result["n"]) for result in results) == list(range(count))


def test_context_values_are_isolated_between_concurrent_threadpool_requests() -> None:
    app = Ecko()
    count = 20
    barrier = threading.Barrier(count, timeout=10)

    @app.get("/sync")
    def read_sync(n: str) -> dict[str, str]:
        context.user = n
        barrier.wait()  # all handlers are inside the pool, each having set its value
        return {"n": n, "user": context.user, "path": context.request.url.query}

    async def run() -> list[dict[str, str]]:
        async with AsyncTestClient(app) as client:
            responses = await asyncio.gather(
                *(client.get("/sync", params={"n": str(i)}) for i in range(count))
            )
        return [response.json() for response in responses]

    results = asyncio.run(run())
    assert all(result["user"] == result["n"] for result in results)
    assert all(result["path"] == f"n={result['n']}" for result in results)


def test_context_is_isolated_between_requests_from_many_threads(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    count = 12
    barrier = threading.Barrier(count, timeout=10)

    @app.before_request
    def remember() -> None:
        context.user = context.request.headers["x-user"]

    @app.get("/")
    def handler() -> dict[str, str]:
        barrier.wait()
        return {"user": context.user}

    client = client_for(app)
    results: dict[str, str] = {}

    def call(name: str) -> None:
        results[name] = client.get("/", headers={"X-User": name}).json()["user"]

    threads = [threading.Thread(target=call, args=(f"user-{i}",)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert results == {f"user-{i}": f"user-{i}" for i in range(count)}


def test_context_outside_a_request_raises_an_error_that_says_so() -> None:
    with pytest.raises(RuntimeError, match=r"context\.request was used outside a request"):
        _ = context.request
    with pytest.raises(RuntimeError, match=r"context\.user was set outside a request"):
        context.user = "nobody"
    assert "user" not in context
    assert context.get("user", "default") == "default"
    assert repr(context) == "<context outside a request>"


def test_context_outside_a_request_includes_startup_hooks(client_for: ClientFactory) -> None:
    app = Ecko()
    errors: list[str] = []

    @app.on_startup
    def startup() -> None:
        try:
            _ = context.request
        except RuntimeError as error:
            errors.append(str(error))

    client_for(app)
    assert len(errors) == 1
    assert "outside a request" in errors[0]


def test_unset_context_attribute_says_how_to_set_it(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> dict[str, Any]:
        try:
            _ = context.user
        except AttributeError as error:
            message = str(error)
        return {"message": message, "default": context.get("user", "guest")}

    body = client_for(app).get("/").json()
    assert "context has no attribute 'user'" in body["message"]
    assert "context.user = ..." in body["message"]
    assert body["default"] == "guest"


def test_context_attribute_can_be_deleted(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> dict[str, bool]:
        context.user = "ada"
        del context.user
        return {"has_user": "user" in context}

    assert client_for(app).get("/").json() == {"has_user": False}
