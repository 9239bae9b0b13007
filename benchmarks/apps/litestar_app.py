"""Litestar: parameters from type hints, bodies as msgspec Structs, a before_request hook."""

# ruff: noqa: D102, D103 - handlers written as each framework's docs write them

from typing import Any

import msgspec
from apps.common import API_KEY, FILE, ITEMS
from litestar import Litestar, MediaType, Request, Response, WebSocket, get, post, websocket
from litestar.exceptions import ValidationException, WebSocketDisconnect
from litestar.middleware import ASGIMiddleware
from litestar.response import File
from litestar.types import ASGIApp, Message, Receive, Scope, Send


class User(msgspec.Struct):
    """Scenario 5's body."""

    name: str
    email: str
    age: int


@get("/")
async def hello() -> dict[str, str]:
    return {"message": "Hello, World!"}


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return "Hello, World!"


@get("/users/{user_id:int}")
async def get_user(user_id: int, active: bool = False) -> dict[str, Any]:
    return {"id": user_id, "active": active}


@get("/search")
async def search(q: str, limit: int, tag: list[str], page: int | None = None) -> dict[str, Any]:
    return {"q": q, "limit": limit, "page": page, "tag": tag}


@post("/users")  # Litestar's POST default is already 201
async def create_user(data: User) -> dict[str, Any]:
    return {"id": 1, "name": data.name, "email": data.email, "age": data.age}


@get("/sync", sync_to_thread=True)
def sync() -> dict[str, str]:
    return {"message": "sync"}


@get("/items")
async def items() -> list[dict[str, Any]]:
    return ITEMS


@websocket("/ws")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    try:
        while True:
            await socket.send_text(await socket.receive_text())
    except WebSocketDisconnect:
        pass


@get("/file")
async def download() -> File:
    return File(FILE, media_type="application/octet-stream", content_disposition_type="inline")


def unprocessable(request: Request, error: ValidationException) -> Response[dict[str, Any]]:
    # Litestar answers validation failures with 400; the scenario asks for 422.
    return Response({"detail": error.detail, "extra": error.extra}, status_code=422)


app = Litestar(
    [hello, plaintext, get_user, search, create_user, sync, items, echo, download],
    exception_handlers={ValidationException: unprocessable},
)


async def check_key(request: Request) -> Response[str] | None:
    if request.headers.get("x-api-key") != API_KEY:
        return Response("Unauthorized", status_code=401, media_type=MediaType.TEXT)
    return None


class TagResponse(ASGIMiddleware):
    """Add `x-middleware: on` to every response."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-middleware", b"on")]
            await send(message)

        await next_app(scope, receive, send_with_header)


@get("/guarded")
async def guarded() -> dict[str, str]:
    return {"message": "guarded"}


guarded_app = Litestar([guarded], middleware=[TagResponse()], before_request=check_key)
