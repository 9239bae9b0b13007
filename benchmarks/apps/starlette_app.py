"""Starlette: routes and responses by hand; bodies validated with msgspec (it has none)."""

# ruff: noqa: D103 - handlers written as each framework's docs write them

from typing import Any

import msgspec
from apps.common import API_KEY, FILE, ITEMS
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


class User(msgspec.Struct):
    """Scenario 5's body."""

    name: str
    email: str
    age: int


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"message": "Hello, World!"})


async def plaintext(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, World!")


async def get_user(request: Request) -> JSONResponse:
    active = request.query_params.get("active", "false").lower() in ("1", "true", "yes", "on")
    return JSONResponse({"id": request.path_params["user_id"], "active": active})


async def search(request: Request) -> JSONResponse:
    params = request.query_params
    try:
        q = params["q"]
        limit = int(params["limit"])
        page = int(params["page"]) if "page" in params else None
    except (KeyError, ValueError) as error:
        return JSONResponse({"detail": str(error)}, 422)
    return JSONResponse({"q": q, "limit": limit, "page": page, "tag": params.getlist("tag")})


async def create_user(request: Request) -> JSONResponse:
    try:
        user = msgspec.json.decode(await request.body(), type=User)
    except msgspec.ValidationError as error:
        return JSONResponse({"detail": str(error)}, 422)
    return JSONResponse({"id": 1, "name": user.name, "email": user.email, "age": user.age}, 201)


def sync(request: Request) -> JSONResponse:
    return JSONResponse({"message": "sync"})


async def items(request: Request) -> JSONResponse:
    return JSONResponse(ITEMS)


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


async def download(request: Request) -> FileResponse:
    return FileResponse(FILE, media_type="application/octet-stream")


app = Starlette(
    routes=[
        Route("/", hello),
        Route("/plaintext", plaintext),
        Route("/users/{user_id:int}", get_user),
        Route("/search", search),
        Route("/users", create_user, methods=["POST"]),
        Route("/sync", sync),
        Route("/items", items),
        WebSocketRoute("/ws", echo),
        Route("/file", download),
    ]
)


async def guarded(request: Request) -> Response:
    if request.headers.get("x-api-key") != API_KEY:  # the before-request check
        return PlainTextResponse("Unauthorized", 401)
    return JSONResponse({"message": "guarded"})


async def tag_response(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    response.headers["x-middleware"] = "on"
    return response


guarded_app = Starlette(
    routes=[Route("/guarded", guarded)],
    middleware=[Middleware(BaseHTTPMiddleware, dispatch=tag_response)],
)
