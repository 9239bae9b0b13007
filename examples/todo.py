"""A complete todo API on Ecko, stored in SQLite (the standard library's embedded database).

Run it with `ecko run examples/todo.py:app` and open http://127.0.0.1:8000/todos.
Set TODO_DB to choose the database file (default: todo.sqlite3 in the current folder).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec

from ecko import Ecko, NotFound, Path, Query, context, setup_openapi

logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
logger = logging.getLogger("todo")


class CreateTodo(msgspec.Struct):
    """The body of POST /todos."""

    title: str
    completed: bool = False


class UpdateTodo(msgspec.Struct, forbid_unknown_fields=True):
    """The body of PUT /todos/{todo_id}: the fields to change, each optional."""

    title: str | msgspec.UnsetType = msgspec.UNSET
    completed: bool | msgspec.UnsetType = msgspec.UNSET


# SQLite stores 64-bit integers: a larger id is refused with a 422 before it reaches the query.
TodoId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The todo's id")]


class Database:
    """A small SQLite store: one connection shared by the worker threads under a lock."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # Sync handlers run in the threadpool: the lock, not sqlite3, keeps access serial.
            self._connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            self._connection.row_factory = sqlite3.Row
        return self._connection

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run one statement (autocommit) and return its rows."""
        with self._lock:
            return self._connect().execute(sql, args).fetchall()

    def insert(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one INSERT and return the new row's id."""
        with self._lock:
            return int(self._connect().execute(sql, args).lastrowid or 0)

    def create_schema(self) -> None:
        """Create the todos table if it does not exist."""
        self.query(
            "CREATE TABLE IF NOT EXISTS todos ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " title TEXT NOT NULL,"
            " completed INTEGER NOT NULL DEFAULT 0)"
        )

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def row_to_todo(row: sqlite3.Row) -> dict[str, Any]:
    """Turn a database row into the JSON shape of a todo."""
    return {"id": row["id"], "title": row["title"], "completed": bool(row["completed"])}


app = Ecko()
setup_openapi(app, title="Todo API", version="1.0.0", description="A todo list on SQLite.")
db = Database(os.environ.get("TODO_DB", "todo.sqlite3"))


@app.on_startup
def startup() -> None:
    """Create the schema before the first request."""
    db.create_schema()
    logger.info("Todo API ready, data in %s", db.path)


@app.on_shutdown
def shutdown() -> None:
    """Close the database connection."""
    db.close()


@app.before_request
def request_logging() -> None:
    """Log each request line."""
    logger.info("%s %s", context.request.method, context.request.path)


@app.get("/")
def home() -> dict[str, str]:
    """API information."""
    return {"name": "Todo API", "todos": "/todos"}


@app.get("/todos")
def list_todos(
    completed: bool | None = None, limit: int = Query(10, ge=1, le=100)
) -> dict[str, Any]:
    """List todos, optionally only (not) completed ones."""
    sql, args = "SELECT * FROM todos", []
    if completed is not None:
        sql += " WHERE completed = ?"
        args.append(int(completed))
    rows = db.query(sql + " ORDER BY id LIMIT ?", [*args, limit])
    return {"todos": [row_to_todo(row) for row in rows]}


def fetch_todo(todo_id: int) -> dict[str, Any]:
    """Return one todo or raise NotFound."""
    rows = db.query("SELECT * FROM todos WHERE id = ?", [todo_id])
    if not rows:
        raise NotFound(f"Todo {todo_id} not found")
    return row_to_todo(rows[0])


@app.get("/todos/{todo_id}", responses={404: "Todo not found"})
def get_todo(todo_id: TodoId) -> dict[str, Any]:
    """Get a specific todo by ID."""
    return fetch_todo(todo_id)


@app.post("/todos", status_code=201)
def create_todo(todo: CreateTodo) -> dict[str, Any]:
    """Create a new todo."""
    todo_id = db.insert(
        "INSERT INTO todos (title, completed) VALUES (?, ?)", [todo.title, int(todo.completed)]
    )
    return fetch_todo(todo_id)


@app.put("/todos/{todo_id}", responses={404: "Todo not found"})
def update_todo(todo_id: TodoId, data: UpdateTodo) -> dict[str, Any]:
    """Update a todo's title and/or completed flag."""
    current = fetch_todo(todo_id)
    title = current["title"] if data.title is msgspec.UNSET else data.title
    completed = current["completed"] if data.completed is msgspec.UNSET else data.completed
    db.query(
        "UPDATE todos SET title = ?, completed = ? WHERE id = ?", [title, int(completed), todo_id]
    )
    return fetch_todo(todo_id)


@app.delete("/todos/{todo_id}", responses={404: "Todo not found"})
def delete_todo(todo_id: TodoId) -> dict[str, bool]:
    """Delete a todo."""
    fetch_todo(todo_id)
    db.query("DELETE FROM todos WHERE id = ?", [todo_id])
    return {"deleted": True}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
