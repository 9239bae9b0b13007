"""The floor: hand-written ASGI doing each scenario's work with msgspec and no framework.

It parses, coerces and validates what the scenarios ask for, but nothing more (no header
parsing it does not need, no error shape beyond the status): what no framework can beat on
the same server.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from apps.common import API_KEY, FILE, ITEMS

encode = msgspec.json.encode


class User(msgspec.Struct):
    """Scenario 5's body."""

    name: str
    email: str
    age: int


class Search(msgspec.Struct):
    """Scenario 4's query parameters, coerced from strings."""

    q: str
    limit: int
    tag: list[str]
    page: int | None = None


user_decoder = msgspec.json.Decoder(User)
JSON = [(b"content-type", b"application/json")]
TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
pool = ThreadPoolExecutor(max_workers=40)


async def respond(send: Any, status: int, body: bytes, headers: list[Any] = JSON) -> None:
    """Send one complete response."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def read_body(receive: Any) -> bytes:
    """Read the whole request body."""
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


def query(scope: dict[str, Any]) -> dict[str, Any]:
    """Multi-value query parameters: one value as a string, several as a list."""
    params: dict[str, Any] = {}
    for key, value in parse_qsl(scope["query_string"].decode()):
        if key in params:
            existing = params[key]
            params[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            params[key] = value
    return params


def sync_work() -> bytes:
    """Scenario 8's blocking handler."""
    return encode({"message": "sync"})


def read_file() -> bytes:
    """Scenario 12: read the file (in the threadpool)."""
    return FILE.read_bytes()


async def http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Serve the HTTP scenarios."""
    path: str = scope["path"]
    method: str = scope["method"]
    if path == "/" and method == "GET":
        await respond(send, 200, encode({"message": "Hello, World!"}))
    elif path == "/plaintext" and method == "GET":
        await respond(send, 200, b"Hello, World!", TEXT)
    elif path.startswith("/users/") and method == "GET":
        try:
            user_id = int(path[7:])
            active = msgspec.convert(query(scope).get("active", "false"), bool, strict=False)
        except (ValueError, msgspec.ValidationError):
            await respond(send, 422, b"{}")
            return
        await respond(send, 200, encode({"id": user_id, "active": active}))
    elif path == "/search" and method == "GET":
        params = query(scope)
        tags = params.get("tag", [])
        params["tag"] = tags if isinstance(tags, list) else [tags]
        try:
            search = msgspec.convert(params, Search, strict=False)
        except msgspec.ValidationError:
            await respond(send, 422, b"{}")
            return
        result = {"q": search.q, "limit": search.limit, "page": search.page, "tag": search.tag}
        await respond(send, 200, encode(result))
    elif path == "/users" and method == "POST":
        try:
            user = user_decoder.decode(await read_body(receive))
        except msgspec.ValidationError as error:
            await respond(send, 422, encode({"detail": str(error)}))
            return
        result = {"id": 1, "name": user.name, "email": user.email, "age": user.age}
        await respond(send, 201, encode(result))
    elif path == "/sync" and method == "GET":
        body = await asyncio.get_running_loop().run_in_executor(pool, sync_work)
        await respond(send, 200, body)
    elif path == "/items" and method == "GET":
        await respond(send, 200, encode(ITEMS))
    elif path == "/file" and method == "GET":
        body = await asyncio.get_running_loop().run_in_executor(pool, read_file)
        await respond(send, 200, body, [(b"content-type", b"application/octet-stream")])
    else:
        await respond(send, 404, b'{"detail":"Not Found"}')


async def websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Scenario 11: echo every text message."""
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text")})
        else:
            return


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Acknowledge startup and shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI entry point."""
    kind = scope["type"]
    if kind == "http":
        await http(scope, receive, send)
    elif kind == "websocket":
        await websocket(scope, receive, send)
    else:
        await lifespan(scope, receive, send)


async def guarded_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Scenario 9: a middleware adding a header around a hook checking the API key."""
    if scope["type"] != "http":
        await lifespan(scope, receive, send)
        return

    async def send_with_header(message: dict[str, Any]) -> None:  # the middleware
        if message["type"] == "http.response.start":
            message["headers"] = [*message["headers"], (b"x-middleware", b"on")]
        await send(message)

    headers = dict(scope["headers"])  # the before-request hook
    if headers.get(b"x-api-key", b"").decode() != API_KEY:
        await respond(send_with_header, 401, b'{"detail":"Unauthorized"}')
        return
    if scope["path"] == "/guarded":
        await respond(send_with_header, 200, encode({"message": "guarded"}))
    else:
        await respond(send_with_header, 404, b'{"detail":"Not Found"}')
