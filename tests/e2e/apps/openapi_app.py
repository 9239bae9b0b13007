"""The spec's OpenAPI example plus a Struct body, served for the LiveServer test."""

from __future__ import annotations

import msgspec

from ecko import Ecko, setup_openapi

app = Ecko()
setup_openapi(app, title="My API", version="1.0.0", description="My awesome API")


class CreateUser(msgspec.Struct):
    """A user to create."""

    name: str
    email: str


@app.get("/users/{user_id}")
def get_user(user_id: int) -> dict[str, int]:
    """Get a user by their ID."""
    return {"id": user_id}


@app.post("/users", status_code=201)
def create_user(user: CreateUser) -> CreateUser:
    """Create a user."""
    return user
