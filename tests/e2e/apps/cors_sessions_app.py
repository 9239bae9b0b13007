"""The spec's CORS and sessions examples together, served by a real server.

`/stored/...` is a second app, mounted, keeping its sessions in a `MemoryStore`.
"""

from __future__ import annotations

from typing import Any

from ecko import Ecko, WebSocket, context
from ecko.middleware import cors, sessions
from ecko.middleware.sessions import MemoryStore

app = Ecko()
app.use(cors(
    origins=["https://myapp.com"],
    methods=["GET", "POST", "PUT", "DELETE"],
    allow_credentials=True,
    expose_headers=["X-Total"],
))  # fmt: skip
# The spec's own "your-secret-key-min-32-chars!!" is 30 characters, refused since issue 4;
# this is the spec's full example's secret.
app.use(sessions(secret="change-me-in-production-use-env-var"))


@app.post("/login")
def login(data: dict[str, Any]) -> dict[str, bool]:
    context.session["user_id"] = data["user_id"]
    return {"logged_in": True}


@app.get("/profile")
def profile() -> dict[str, Any] | tuple[dict[str, str], int]:
    user_id = context.session.get("user_id")
    if not user_id:
        return {"error": "Not logged in"}, 401
    return {"user_id": user_id}


@app.post("/logout")
def logout() -> dict[str, bool]:
    context.session.clear()
    return {"logged_out": True}


@app.get("/items/{item_id}")
def item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


@app.get("/boom")
def boom() -> None:
    raise RuntimeError("handler failed on purpose")


@app.websocket("/ws")
async def whoami(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_json({"user_id": ws.session.get("user_id")})


stored = Ecko()
stored.use(sessions(secret="change-me-in-production-use-env-var", store=MemoryStore()))


@stored.post("/login")
def stored_login(data: dict[str, Any]) -> dict[str, bool]:
    context.session.regenerate()  # a new id at login: a planted one is worth nothing
    context.session["user_id"] = data["user_id"]
    context.session["history"] = ["x" * 100] * 100  # too large for a cookie, fine in a store
    return {"logged_in": True}


@stored.get("/profile")
def stored_profile() -> dict[str, Any]:
    return {"user_id": context.session.get("user_id")}


@stored.post("/logout")
def stored_logout() -> None:
    context.session.clear()


@stored.websocket("/ws")
async def stored_whoami(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_json({"user_id": ws.session.get("user_id")})


app.mount("/stored", stored)
