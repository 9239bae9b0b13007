"""The todo example end to end under uvicorn, with its SQLite file in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ecko.testing import LiveServer

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    env = {"TODO_DB": str(tmp_path / "todo.sqlite3")}
    with (
        LiveServer("todo:app", cwd=EXAMPLES, env=env) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        yield http


def test_todo_crud_over_the_wire(client: httpx.Client, tmp_path: Path) -> None:
    assert client.get("/").json() == {"name": "Todo API", "todos": "/todos"}
    assert client.get("/todos").json() == {"todos": []}

    created = client.post("/todos", json={"title": "Write tests"})
    assert created.status_code == 201
    first = created.json()
    assert first == {"id": first["id"], "title": "Write tests", "completed": False}
    second = client.post("/todos", json={"title": "Ship it", "completed": True}).json()

    assert client.get(f"/todos/{first['id']}").json() == first
    assert client.get("/todos").json() == {"todos": [first, second]}
    assert client.get("/todos", params={"completed": "true"}).json() == {"todos": [second]}
    assert client.get("/todos", params={"limit": 1}).json() == {"todos": [first]}

    updated = client.put(f"/todos/{first['id']}", json={"completed": True})
    assert updated.json() == {**first, "completed": True}

    assert client.delete(f"/todos/{first['id']}").json() == {"deleted": True}
    missing = client.get(f"/todos/{first['id']}")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"Todo {first['id']} not found"
    assert client.get("/todos").json() == {"todos": [second]}

    invalid = client.post("/todos", json={"completed": True})
    assert invalid.status_code == 422
    assert (tmp_path / "todo.sqlite3").exists()
