"""Server-side session stores: the `SessionStore` protocol and the in-process `MemoryStore`."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol, final

__all__ = ["DEFAULT_MAX_ENTRIES", "MemoryStore", "SessionStore"]

DEFAULT_MAX_ENTRIES = 10_000
"""Sessions a `MemoryStore` keeps before dropping the least recently used."""


class SessionStore(Protocol):
    """Where `sessions(store=...)` keeps session data; the cookie then holds only a signed id.

    Values are the session serialized to JSON bytes. A Redis store implements the same three
    methods with GET, SET ... EX and DEL.
    """

    async def get(self, session_id: str) -> bytes | None:
        """Return the data stored under `session_id`, or None if missing or expired."""
        ...

    async def set(self, session_id: str, data: bytes, ttl: int | None) -> None:
        """Store `data` under `session_id` for `ttl` seconds (None: until evicted)."""
        ...

    async def delete(self, session_id: str) -> None:
        """Forget `session_id`; deleting a missing id is not an error."""
        ...


@final
class MemoryStore:
    """Keep sessions in this process: bounded, expiring, lost on restart.

    For development and single-process servers: each worker process has its own store, so
    with several workers a visitor's requests may not find their session.

    Args:
        max_entries: sessions kept; past it the least recently used one is dropped.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"MemoryStore(max_entries=...) must be >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        # id -> (monotonic deadline or None, data); order is least recently used first.
        self._entries: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, session_id: str) -> bytes | None:
        """Return the data stored under `session_id`, or None if missing or expired."""
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        deadline, data = entry
        if deadline is not None and time.monotonic() >= deadline:
            del self._entries[session_id]
            return None
        self._entries.move_to_end(session_id)
        return data

    async def set(self, session_id: str, data: bytes, ttl: int | None) -> None:
        """Store `data` under `session_id` for `ttl` seconds (None: until evicted)."""
        deadline = None if ttl is None else time.monotonic() + ttl
        self._entries[session_id] = (deadline, data)
        self._entries.move_to_end(session_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete(self, session_id: str) -> None:
        """Forget `session_id`; deleting a missing id is not an error."""
        self._entries.pop(session_id, None)
