"""`app.state` keeps the type of the object given to `Ecko(state=...)`.

mypy --strict checks this file with the rest of tests/; pytest runs it too. The
`# type: ignore[...]` comments are assertions as well: strict mode reports an unused ignore,
so each one fails the type check if the error it expects stops happening (as it would if
`app.state` were `Any`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, assert_type

import msgspec
import pytest

from ecko import Ecko, State


class Database:
    def __init__(self, url: str) -> None:
        self.url = url

    def ping(self) -> bool:
        return True


class AppState(msgspec.Struct):
    db: Database
    count: int = 0


@dataclasses.dataclass
class Config:
    debug: bool
    name: str


def test_struct_state_is_typed() -> None:
    app = Ecko(state=AppState(db=Database("sqlite://")))
    assert_type(app, Ecko[AppState])
    assert_type(app.state, AppState)
    count: int = app.state.count
    url: str = app.state.db.url
    alive: bool = app.state.db.ping()
    app.state.count = count + 1
    assert (app.state.count, url, alive) == (1, "sqlite://", True)

    _wrong: str = app.state.count  # type: ignore[assignment]
    with pytest.raises(AttributeError):
        app.state.missing  # type: ignore[attr-defined]  # noqa: B018

    def set_count_to_text() -> None:
        app.state.count = "many"  # type: ignore[assignment]

    set_count_to_text()  # nothing checks at run time; mypy did above
    assert app.state.count == "many"  # type: ignore[comparison-overlap]


def test_dataclass_state_is_typed() -> None:
    app = Ecko(state=Config(debug=False, name="demo"), debug=True)
    assert_type(app.state, Config)
    name: str = app.state.name
    assert name == "demo"
    assert app.debug is True


def test_default_state_is_an_untyped_state_bag() -> None:
    app = Ecko()
    assert_type(app, Ecko[State])
    assert_type(app.state, State)
    app.state.anything = 1
    value: Any = app.state.anything
    assert value == 1
