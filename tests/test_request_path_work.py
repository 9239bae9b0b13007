"""The per-request path does no work that start-up can do (the core issue's "Figures")."""

import inspect
import typing
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

import ecko.app
import ecko.middleware
import ecko.params
from ecko import Ecko, NotFound, Query, Request, Response, Router, context
from ecko.testing import TestClient


class Item(msgspec.Struct):
    name: str
    price: float


def build_app() -> Ecko[Any]:
    app = Ecko()
    api = Router(prefix="/api")

    @app.before_request
    def before() -> None:
        context.seen = True

    @app.after_request
    async def after(response: Response) -> Response:
        response.headers["x-after"] = "1"
        return response

    async def async_middleware(request: Request, call_next: Callable[..., Any]) -> Any:
        return await call_next()

    def sync_middleware(request: Request, call_next: Callable[..., Any]) -> Any:
        return call_next()

    app.use(async_middleware)
    app.use(sync_middleware)

    @app.exception_handler(LookupError)
    def lookup(exc: LookupError) -> tuple[dict[str, str], int]:
        return {"error": "lookup"}, 400

    @api.get("/users/{user_id}")
    def user(user_id: int, page: int = Query(1, ge=1), tags: list[str] = []) -> dict[str, Any]:  # noqa: B006
        return {"id": user_id, "page": page, "tags": tags}

    @api.post("/items")
    async def items(item: Item) -> Item:
        return item

    @api.get("/missing")
    def missing() -> None:
        raise NotFound("gone")

    @api.get("/lookup")
    def failing() -> None:
        raise KeyError("x")

    app.include(api)
    return app


def test_serving_requests_inspects_no_signature_evaluates_no_hints_builds_no_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = build_app()
    calls: list[str] = []

    def counting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return function(*args, **kwargs)

        return wrapper

    with TestClient(app) as client:
        assert client.get("/api/users/1").status_code == 200  # start-up is done by now
        monkeypatch.setattr(inspect, "signature", counting("signature", inspect.signature))
        monkeypatch.setattr(typing, "get_type_hints", counting("hints", typing.get_type_hints))
        monkeypatch.setattr(ecko.app, "build_chain", counting("chain", ecko.middleware.build_chain))
        monkeypatch.setattr(
            ecko.params, "compile_handler", counting("compile", ecko.params.compile_handler)
        )
        answers = [
            client.get("/api/users/7?page=2&tags=a&tags=b").status_code,
            client.get("/api/users/x?page=0").status_code,
            client.post("/api/items", json={"name": "pen", "price": 1.5}).status_code,
            client.post("/api/items", json={"name": 1, "price": "x"}).status_code,
            client.post(
                "/api/items", content=b"{", headers={"content-type": "application/json"}
            ).status_code,
            client.get("/api/missing").status_code,
            client.get("/api/lookup").status_code,
            client.get("/nowhere").status_code,
            client.delete("/api/users/1").status_code,
            client.head("/api/users/1").status_code,
            client.options("/api/users/1").status_code,
            client.get("/api/users/1/").status_code,
        ]
    assert answers == [200, 422, 200, 422, 422, 404, 400, 404, 405, 200, 204, 200]
    assert calls == []
