"""The spec's "Full Example" (tests/spec/full_example.py, copied as written) works end to end."""

import pytest

from ecko.testing import LiveServer, TestClient
from tests.spec import full_example


def test_full_example_serves_the_todo_api(capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(full_example.app) as client:
        assert "Todo API ready!" in capsys.readouterr().out
        assert client.get("/").json() == {"name": "Todo API", "docs": "/docs"}
        created = client.post("/todos", json={"title": "Write docs"})
        assert created.status_code == 201
        todo_id = created.json()["id"]
        assert client.get(f"/todos/{todo_id}").json()["title"] == "Write docs"
        updated = client.put(f"/todos/{todo_id}", json={"completed": True})
        assert updated.json()["completed"] is True
        assert client.get("/todos?completed=true&limit=5").json()["todos"][0]["id"] == todo_id
        assert client.delete(f"/todos/{todo_id}").json() == {"deleted": True}
        assert client.get(f"/todos/{todo_id}").status_code == 404
        assert "GET /todos" in capsys.readouterr().out
        preflight = client.options(
            "/todos",
            headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        document = client.get("/openapi.json").json()
        assert document["info"] == {"title": "Todo API", "version": "1.0.0"}
        assert "/todos/{todo_id}" in document["paths"]
        assert "swagger" in client.get("/docs").text.lower()


def test_full_example_runs_under_a_real_server() -> None:
    with LiveServer("tests.spec.full_example:app") as server:
        import httpx

        answer = httpx.post(f"{server.url}/todos", json={"title": "live"})
        assert answer.status_code == 201
        assert httpx.get(f"{server.url}/todos").json()["todos"][0]["title"] == "live"
