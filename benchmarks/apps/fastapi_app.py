"""FastAPI: parameters from type hints, bodies as pydantic models, a dependency as the hook."""

# ruff: noqa: D103 - handlers written as each framework's docs write them

from typing import Annotated, Any

from apps.common import API_KEY, FILE, ITEMS
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, WebSocket
from fastapi.responses import FileResponse, PlainTextResponse
from fastapi.websockets import WebSocketDisconnect
from pydantic import BaseModel

app = FastAPI()


class User(BaseModel):
    """Scenario 5's body."""

    name: str
    email: str
    age: int


@app.get("/")
async def hello() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "Hello, World!"


@app.get("/users/{user_id}")
async def get_user(user_id: int, active: bool = False) -> dict[str, Any]:
    return {"id": user_id, "active": active}


@app.get("/search")
async def search(
    q: str, limit: int, tag: Annotated[list[str], Query()], page: int | None = None
) -> dict[str, Any]:
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
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


@app.get("/file")
async def download() -> FileResponse:
    return FileResponse(FILE, media_type="application/octet-stream")


async def check_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
    if x_api_key != API_KEY:
        raise HTTPException(401, "Unauthorized")


guarded_app = FastAPI(dependencies=[Depends(check_key)])


@guarded_app.middleware("http")
async def tag_response(request: Request, call_next: Any) -> Any:
    response = await call_next(request)
    response.headers["x-middleware"] = "on"
    return response


@guarded_app.get("/guarded")
async def guarded() -> dict[str, str]:
    return {"message": "guarded"}
