"""The `Session` dict: JSON data only, noting when it is read, changed or given a new id."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, Self

__all__ = ["MAX_DEPTH", "Session", "check_json"]

MAX_DEPTH = 32
"""Deepest nesting of lists and dicts a session value may have."""

_JSON_HINT = (
    "session values must be JSON data: str, int, float, bool, None, and lists and dicts "
    "(with str keys) of them; store an id or a plain form instead, such as "
    "value.isoformat() for a datetime"
)


def check_json(value: Any, where: str, depth: int = 0) -> None:
    """Check `value` is JSON data that comes back from the cookie as it went in.

    Args:
        value: the value to check.
        where: how to name it in the error, like `session['user']`.
        depth: how deeply `value` is nested already.

    Raises:
        TypeError: `value` (or something inside it) is not JSON data.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            # JSON has no NaN or infinity: msgspec writes null, which would come back as None.
            raise TypeError(f"{where} is {value!r}; {_JSON_HINT}")
        return
    if depth >= MAX_DEPTH:
        raise TypeError(f"{where} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_json(item, f"{where}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has the key {key!r}; {_JSON_HINT}")
            check_json(item, f"{where}[{key!r}]", depth + 1)
        return
    raise TypeError(f"{where} is a {type(value).__name__}; {_JSON_HINT}")


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"Session keys must be strings, got {key!r}")


class Session(dict[str, Any]):
    """The session of one request: a dict of JSON data that notes reads and changes.

    `accessed` turns true when the session is read (the response then varies on `Cookie`);
    `modified` when it changes (the cookie, or the store's record, is then written).
    Changing a value *inside* it (`session["cart"].append(...)`) is not seen: assign the
    key again, or set `session.modified = True`.
    """

    __slots__ = ("accessed", "modified", "regenerated")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(data or {})
        self.accessed = False
        self.modified = False
        self.regenerated = False

    def regenerate(self) -> None:
        """Give the session a new id with this response, keeping its data; call it on login.

        With a `store`, the old record is deleted, so an id planted in a visitor's browser
        before they logged in (session fixation) is worth nothing after. Without a store
        there is no id to plant: the cookie is signed again, and the call is harmless, so
        login code needs no change when a store is added later.
        """
        self.regenerated = True
        self.modified = True

    # -- reads ---------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None, /) -> Any:
        """Return `session[key]`, or `default` if it is missing."""
        self.accessed = True
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return super().__iter__()

    def __len__(self) -> int:
        self.accessed = True
        return super().__len__()

    def keys(self) -> Any:
        """Return the keys (a read)."""
        self.accessed = True
        return super().keys()

    def values(self) -> Any:
        """Return the values (a read)."""
        self.accessed = True
        return super().values()

    def items(self) -> Any:
        """Return the `(key, value)` pairs (a read)."""
        self.accessed = True
        return super().items()

    def copy(self) -> dict[str, Any]:
        """Return a plain dict with the same contents (a read)."""
        self.accessed = True
        return dict(super().items())

    # -- changes -------------------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        _check_key(key)
        check_json(value, f"session[{key!r}]")
        super().__setitem__(key, value)
        self.modified = True

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.modified = True

    # typeshed overloads dict.__ior__ and __or__ pairwise; one signature cannot match both.
    def __ior__(self, other: Mapping[str, Any]) -> Self:  # type: ignore[override,misc]
        self.update(other)
        return self

    def clear(self) -> None:
        """Remove everything; the response then deletes the cookie (and the store's record)."""
        super().clear()
        self.modified = True

    def pop(self, key: str, /, *default: Any) -> Any:
        """Remove `key` and return its value (or `default`)."""
        self.accessed = True
        if super().__contains__(key):
            self.modified = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last `(key, value)` pair."""
        self.accessed = True
        item = super().popitem()
        self.modified = True
        return item

    def setdefault(self, key: str, default: Any = None, /) -> Any:
        """Return `session[key]`, storing `default` there first if it is missing."""
        self.accessed = True
        if not super().__contains__(key):
            self[key] = default
        return super().__getitem__(key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set every key of the given mapping (or pairs) and keywords."""
        items = dict(*args, **kwargs)
        for key, value in items.items():  # all checked first: a refused update changes nothing
            _check_key(key)
            check_json(value, f"session[{key!r}]")
        super().update(items)
        self.modified = True

    def __repr__(self) -> str:
        return f"Session({dict.__repr__(self)}, modified={self.modified})"
