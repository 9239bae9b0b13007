"""BlackSheep: parameters from type hints, bodies as pydantic models, a middleware as the hook.

BlackSheep calls a `def` handler on the event loop (it has no threadpool hop), so scenario 8
measures no hop for it.
"""

# ruff: noqa: D103 - handlers written as each framework's docs write them

from typing import Any

from apps.common import API_KEY, FILE, ITEMS
from blacksheep import Application, Request, Response, Router, WebSocket, json, text
from blacksheep.server.responses import file
from blacksheep.server.websocket import WebSocketDisconnectError
from pydantic import BaseModel, ValidationError

app = Application(router=Router())
get, post = app.router.get, app.router.post


class User(BaseModel):
    """Scenario 5's body."""

    name: str
    email: str
    age: int


@get("/")
async def hello() -> Response:
    return json({"message": "Hello, World!"})


@get("/plaintext")
async def plaintext() -> Response:
    return text("Hello, World!")


@get("/users/{user_id}")
async def get_user(user_id: int, active: bool = False) -> Response:
    return json({"id": user_id, "active": active})


@get("/search")
async def search(q: str, limit: int, tag: list[str], page: int | None = None) -> Response:
    return json({"q": q, "limit": limit, "page": page, "tag": tag})


@post("/users")
async def create_user(request: Request) -> Response:
    # BlackSheep's FromJSON answers a bad body with 400; the scenario asks for 422.
    try:
        user = User.model_validate_json(await request.read() or b"")
    except ValidationError as error:
        return json({"detail": error.errors(include_url=False)}, 422)
    return json({"id": 1, "name": user.name, "email": user.email, "age": user.age}, 201)


@get("/sync")
def sync() -> Response:
    return json({"message": "sync"})


@get("/items")
async def items() -> Response:
    return json(ITEMS)


@app.router.ws("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnectError:
        pass


@get("/file")
async def download() -> Response:
    return file(str(FILE), "application/octet-stream")


guarded_app = Application(router=Router())


async def check_key(request: Request, handler: Any) -> Response:
    if request.get_first_header(b"x-api-key") != API_KEY.encode():
        return text("Unauthorized", 401)
    response: Response = await handler(request)
    return response


async def tag_response(request: Request, handler: Any) -> Response:
    response: Response = await handler(request)
    response.add_header(b"x-middleware", b"on")
    return response


guarded_app.middlewares.append(tag_response)
guarded_app.middlewares.append(check_key)


@guarded_app.router.get("/guarded")
async def guarded() -> Response:
    return json({"message": "guarded"})
