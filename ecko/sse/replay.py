"""Replay buffers: recent events kept so a reconnecting client gets those it missed."""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from typing import Protocol, final, runtime_checkable

from ecko.sse.events import ServerSentEvent


@runtime_checkable
class ReplayBuffer(Protocol):
    """Remembers recent events so a reconnecting client gets those it missed.

    An event stream given a buffer records every event with an `id` that it sends, and a
    request carrying `Last-Event-ID` first receives the recorded events after that id.
    Recording is idempotent by id, so many streams may share one buffer.
    """

    async def append(self, event: ServerSentEvent) -> None:
        """Record `event` (it has an id); an id already recorded is ignored."""
        ...

    async def since(self, last_event_id: str) -> Sequence[ServerSentEvent]:
        """Return the events recorded after `last_event_id`, oldest first; [] if unknown."""
        ...


@final
class MemoryReplayBuffer:
    """An in-process `ReplayBuffer` keeping the last `max_events` events.

    Each worker process has its own; use a shared backend when running several.
    """

    def __init__(self, max_events: int = 1000) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, not {max_events}")
        self.max_events = max_events
        self._events: collections.OrderedDict[str, ServerSentEvent] = collections.OrderedDict()
        # Streams on different event loops (several TestClients) may share one buffer.
        self._lock = threading.Lock()

    async def append(self, event: ServerSentEvent) -> None:
        """Record `event`, dropping the oldest beyond `max_events`; ids seen already are ignored."""
        if event.id is None:
            raise ValueError("Only events with an id can be replayed")
        with self._lock:
            if event.id in self._events:
                return
            self._events[event.id] = event
            if len(self._events) > self.max_events:
                self._events.popitem(last=False)

    async def since(self, last_event_id: str) -> list[ServerSentEvent]:
        """Return the events after `last_event_id`; [] when it is unknown or already evicted."""
        with self._lock:
            if last_event_id not in self._events:
                return []
            ids = list(self._events)
            return [self._events[key] for key in ids[ids.index(last_event_id) + 1 :]]

    def __len__(self) -> int:
        return len(self._events)
