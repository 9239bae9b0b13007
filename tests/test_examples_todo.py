"""The todo example (examples/todo.py) through the test client, on a fresh SQLite file."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ecko.testing import TestClient
from examples import todo


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(todo, "db", todo.Database(str(tmp_path / "todo.sqlite3")))
    with TestClient(todo.app) as test_client:
        yield test_client


def _create(client: TestClient, title: str, completed: bool = False) -> dict[str, Any]:
    response = client.post("/todos", json={"title": title, "completed": completed})
    assert response.status_code == 201
    created: dict[str, Any] = response.json()
    return created


def _error_locations(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    return [error["loc"] for error in response.json()["errors"]]


def test_home_describes_the_api(client: TestClient) -> None:
    assert client.get("/").json() == {"name": "Todo API", "todos": "/todos"}


def test_create_from_the_struct_body_answers_201(client: TestClient) -> None:
    response = client.post("/todos", json={"title": "Write tests"})
    assert response.status_code == 201
    body = response.json()
    assert body == {"id": body["id"], "title": "Write tests", "completed": False}
    assert isinstance(body["id"], int)
    done = _create(client, "Already done", completed=True)
    assert done["completed"] is True
    assert done["id"] != body["id"]


def test_create_validates_the_body(client: TestClient) -> None:
    assert _error_locations(client.post("/todos", json={"completed": True})) == [["body", "title"]]
    wrong_type = client.post("/todos", json={"title": 42})
    assert _error_locations(wrong_type) == [["body", "title"]]
    malformed = client.post(
        "/todos", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert _error_locations(malformed) == [["body"]]
    assert client.get("/todos").json() == {"todos": []}


def test_list_filters_by_completed_and_limits(client: TestClient) -> None:
    first = _create(client, "one")
    second = _create(client, "two", completed=True)
    third = _create(client, "three")
    assert client.get("/todos").json() == {"todos": [first, second, third]}
    assert client.get("/todos?completed=true").json() == {"todos": [second]}
    assert client.get("/todos?completed=false").json() == {"todos": [first, third]}
    assert client.get("/todos?limit=2").json() == {"todos": [first, second]}
    assert client.get("/todos?completed=false&limit=1").json() == {"todos": [first]}


def test_list_default_limit_is_10(client: TestClient) -> None:
    created = [_create(client, f"todo {i}") for i in range(12)]
    assert client.get("/todos").json() == {"todos": created[:10]}


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=many", "completed=maybe"])
def test_list_rejects_bad_query_values(client: TestClient, query: str) -> None:
    name = query.partition("=")[0]
    assert _error_locations(client.get(f"/todos?{query}")) == [["query", name]]


def test_get_one_todo(client: TestClient) -> None:
    created = _create(client, "find me")
    assert client.get(f"/todos/{created['id']}").json() == created


def test_missing_todo_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/todos/999")
    assert response.status_code == 404
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Todo 999 not found",
    }
    assert client.put("/todos/999", json={"title": "x"}).status_code == 404
    assert client.delete("/todos/999").json()["detail"] == "Todo 999 not found"


def test_todo_id_must_be_an_integer(client: TestClient) -> None:
    assert _error_locations(client.get("/todos/abc")) == [["path", "todo_id"]]


def test_update_from_a_dict_changes_only_the_given_fields(client: TestClient) -> None:
    created = _create(client, "draft")
    renamed = client.put(f"/todos/{created['id']}", json={"title": "final"})
    assert renamed.json() == {**created, "title": "final"}
    completed = client.put(f"/todos/{created['id']}", json={"completed": True})
    assert completed.json() == {**created, "title": "final", "completed": True}
    assert client.get(f"/todos/{created['id']}").json() == completed.json()


def test_update_rejects_unknown_fields_and_wrong_types(client: TestClient) -> None:
    created = _create(client, "strict")
    path = f"/todos/{created['id']}"
    unknown = client.put(path, json={"title": "x", "owner": "ada"})
    assert _error_locations(unknown) == [["body"]]
    assert "unknown field `owner`" in unknown.json()["errors"][0]["msg"]
    wrong = client.put(path, json={"title": 7, "completed": "yes"})
    assert _error_locations(wrong) == [["body", "title"], ["body", "completed"]]
    assert _error_locations(client.put(path, json=["title"])) == [["body"]]
    assert client.get(path).json() == created


def test_delete_removes_the_todo(client: TestClient) -> None:
    keep = _create(client, "keep")
    drop = _create(client, "drop")
    assert client.delete(f"/todos/{drop['id']}").json() == {"deleted": True}
    assert client.get(f"/todos/{drop['id']}").status_code == 404
    assert client.get("/todos").json() == {"todos": [keep]}
    assert client.delete(f"/todos/{drop['id']}").status_code == 404


def test_each_request_is_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="todo"):
        client.get("/todos?limit=3")
    assert ("todo", logging.INFO, "GET /todos") in caplog.record_tuples


def test_data_survives_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "kept.sqlite3")
    monkeypatch.setattr(todo, "db", todo.Database(path))
    with TestClient(todo.app) as client:
        created = _create(client, "persistent")
    monkeypatch.setattr(todo, "db", todo.Database(path))
    with TestClient(todo.app) as client:
        assert client.get("/todos").json() == {"todos": [created]}
