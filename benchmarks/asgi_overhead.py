"""Per-request framework overhead, in-process, side by side: raw ASGI, Ecko and its peers.

Each framework serves the same three endpoints; every round calls each app in turn straight
through its ASGI interface (no server, no network), so the numbers are framework cost only.
Peers (Starlette, FastAPI, Litestar) are measured when installed:

    python -m venv .bench && .bench/bin/pip install -e . starlette fastapi litestar
    .bench/bin/python benchmarks/asgi_overhead.py
"""

import asyncio
import importlib.util
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgspec

Scope = dict[str, Any]
App = Callable[..., Any]


def raw_asgi_app() -> App:
    """The floor: hand-written ASGI doing the same work with msgspec, no framework."""
    encode = msgspec.json.encode

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        path = scope["path"]
        if path == "/hello":
            body = encode({"message": "Hello, World!"})
        elif path.startswith("/users/"):
            query = dict(p.split("=") for p in scope["query_string"].decode().split("&") if p)
            body = encode({"id": int(path[7:]), "posts": query.get("include_posts") == "true"})
        else:
            message = await receive()
            data = msgspec.json.decode(message["body"], type=Item)
            body = encode({"name": data.name, "price": data.price})
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


class Item(msgspec.Struct):
    """The POST body every framework decodes."""

    name: str
    price: float


def ecko_app() -> App:
    """Ecko serving the three endpoints."""
    from ecko import Ecko

    app = Ecko()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "Hello, World!"}

    @app.get("/users/{user_id}")
    async def user(user_id: int, include_posts: bool = False) -> dict[str, Any]:
        return {"id": user_id, "posts": include_posts}

    @app.post("/items")
    async def items(item: Item) -> dict[str, Any]:
        return {"name": item.name, "price": item.price}

    return app


def starlette_app() -> App:
    """Starlette serving the three endpoints (conversions by hand, as its users write)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse({"message": "Hello, World!"})

    async def user(request: Request) -> JSONResponse:
        posts = request.query_params.get("include_posts") == "true"
        return JSONResponse({"id": int(request.path_params["user_id"]), "posts": posts})

    async def items(request: Request) -> JSONResponse:
        data = await request.json()
        return JSONResponse({"name": str(data["name"]), "price": float(data["price"])})

    return Starlette(
        routes=[
            Route("/hello", hello),
            Route("/users/{user_id:int}", user),
            Route("/items", items, methods=["POST"]),
        ]
    )


def fastapi_app() -> App:
    """FastAPI serving the three endpoints with a pydantic body model."""
    from fastapi import FastAPI
    from pydantic import BaseModel

    class Model(BaseModel):
        name: str
        price: float

    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "Hello, World!"}

    @app.get("/users/{user_id}")
    async def user(user_id: int, include_posts: bool = False) -> dict[str, Any]:
        return {"id": user_id, "posts": include_posts}

    @app.post("/items")
    async def items(item: Model) -> dict[str, Any]:
        return {"name": item.name, "price": item.price}

    return app


def litestar_app() -> App:
    """Litestar serving the three endpoints."""
    from litestar import Litestar, get, post

    @get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "Hello, World!"}

    @get("/users/{user_id:int}")
    async def user(user_id: int, include_posts: bool = False) -> dict[str, Any]:
        return {"id": user_id, "posts": include_posts}

    @post("/items", status_code=200)
    async def items(data: Item) -> dict[str, Any]:
        return {"name": data.name, "price": data.price}

    return Litestar([hello, user, items])


REQUESTS = {
    "GET /hello": ("GET", "/hello", b"", b""),
    "GET /users/{id}?include_posts": ("GET", "/users/42", b"include_posts=true", b""),
    "POST /items (JSON body)": ("POST", "/items", b"", b'{"name": "pen", "price": 1.5}'),
}


async def call(app: App, method: str, path: str, query: bytes, body: bytes) -> int:
    """Send one request through `app`'s ASGI interface; return the status."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("bench", 80),
        "state": {},
    }
    status = 0
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def measure(apps: dict[str, App], calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """Return the median microseconds per request, by framework and endpoint."""
    results: dict[str, dict[str, list[float]]] = {
        name: {label: [] for label in REQUESTS} for name in apps
    }
    for name, app in apps.items():
        for method, path, query, body in REQUESTS.values():
            status = await call(app, method, path, query, body)
            assert status == 200, f"{name} answered {status} to {method} {path}"
    for _ in range(rounds):
        for name, app in apps.items():  # interleaved: machine noise hits every framework alike
            for label, (method, path, query, body) in REQUESTS.items():
                start = time.perf_counter()
                for _ in range(calls):
                    await call(app, method, path, query, body)
                results[name][label].append((time.perf_counter() - start) / calls * 1e6)
    return {
        name: {label: statistics.median(v) for label, v in by.items()}
        for name, by in results.items()
    }


def main() -> None:
    """Measure every installed framework and print the table."""
    apps: dict[str, App] = {"raw ASGI": raw_asgi_app(), "ecko": ecko_app()}
    for name, module, factory in [
        ("starlette", "starlette", starlette_app),
        ("fastapi", "fastapi", fastapi_app),
        ("litestar", "litestar", litestar_app),
    ]:
        if importlib.util.find_spec(module) is not None:
            apps[name] = factory()
    table = asyncio.run(measure(apps, calls=2000, rounds=7))
    width = max(len(label) for label in REQUESTS)
    print(
        f"{'µs per request (median of 7 rounds)':<{width}}  "
        + "".join(f"{name:>11}" for name in apps)
    )
    for label in REQUESTS:
        print(f"{label:<{width}}  " + "".join(f"{table[name][label]:>11.1f}" for name in apps))


if __name__ == "__main__":
    main()
