"""An app whose startup hook fails: the server must refuse to start."""

from __future__ import annotations

from ecko import Ecko

app = Ecko()


class DatabaseUnavailableError(RuntimeError):
    """The database could not be reached at startup."""


@app.on_startup
def connect() -> None:
    raise DatabaseUnavailableError("database at db.invalid:5432 is unreachable")


@app.get("/")
def home() -> str:
    return "never served"
