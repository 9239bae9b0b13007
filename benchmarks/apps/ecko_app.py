"""Ecko: parameters from type hints, bodies as msgspec Structs."""

# ruff: noqa: D103 - handlers written as each framework's docs write them

from typing import Any

import msgspec
from apps.common import API_KEY, FILE, ITEMS

from ecko import Ecko, FileResponse, PlainTextResponse, Request, WebSocket

app = Ecko()


class User(msgspec.Struct):
    """Scenario 5's body."""

    name: str
    email: str
    age: int


@app.get("/")
async def hello() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/plaintext")
async def plaintext() -> PlainTextResponse:
    return PlainTextResponse("Hello, World!")


@app.get("/users/{user_id}")
async def get_user(user_id: int, active: bool = False) -> dict[str, Any]:
    return {"id": user_id, "active": active}


@app.get("/search")
async def search(q: str, limit: int, tag: list[str], page: int | None = None) -> dict[str, Any]:
    return {"q": q, "limit": limit, "page": page, "tag": tag}


@app.post("/users", status_code=201)
async def create_user(user: User) -> dict[str, Any]:
    return {"id": 1, "name": user.name, "email": user.email, "age": user.age}


@app.get("/sync")
def sync() -> dict[str, str]:
    return {"message": "sync"}


@app.get("/items")
async def items() -> list[dict[str, Any]]:
    return ITEMS


@app.websocket("/ws")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws:
        await ws.send_text(message)


@app.get("/file")
async def download() -> FileResponse:
    return FileResponse(FILE, media_type="application/octet-stream")


guarded_app = Ecko()


@guarded_app.before_request
async def check_key(request: Request) -> Any:
    if request.headers.get("x-api-key") != API_KEY:
        return PlainTextResponse("Unauthorized", 401)
    return None


async def tag_response(request: Request, call_next: Any) -> Any:
    response = await call_next()
    response.headers["x-middleware"] = "on"
    return response


guarded_app.use(tag_response)


@guarded_app.get("/guarded")
async def guarded() -> dict[str, str]:
    return {"message": "guarded"}
