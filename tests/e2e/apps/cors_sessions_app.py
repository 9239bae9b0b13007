"""The spec's CORS and sessions examples together, served by a real server."""

from __future__ import annotations

from typing import Any

from ecko import Ecko, context
from ecko.middleware import cors, sessions

app = Ecko()
app.use(cors(
    origins=["https://myapp.com"],
    methods=["GET", "POST", "PUT", "DELETE"],
    allow_credentials=True,
))  # fmt: skip
app.use(sessions(secret="your-secret-key-min-32-chars!!"))


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
