"""Read server-sent events one by one from an httpx response, as a browser's EventSource does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import httpx

from ecko.sse import ServerSentEvent

__all__ = ["EventParser", "EventStream", "aiter_events", "iter_events", "stream_events"]


class EventParser:
    """Turn `text/event-stream` lines into events, following the WHATWG parsing rules.

    Like a browser, an event without data is not dispatched; `last_event_id` and `retry`
    keep the latest values seen. Comments become events with only `comment` set when
    `comments` is true (to see keep-alive pings).
    """

    def __init__(self, *, comments: bool = False) -> None:
        self.comments = comments
        self.last_event_id: str | None = None
        self.retry: int | None = None
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        """Take one line (without its line break); return the event it completes, if any."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return ServerSentEvent(comment=line[1:].removeprefix(" ")) if self.comments else None
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event, event_id, retry = self._data, self._event, self._id, self._retry
        self._data, self._event, self._id, self._retry = [], None, None, None
        if not data:
            return None
        return ServerSentEvent("\n".join(data), event=event, id=event_id, retry=retry)


def _events(lines: Iterable[str], parser: EventParser) -> Iterator[ServerSentEvent]:
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event


def iter_events(response: httpx.Response, *, comments: bool = False) -> Iterator[ServerSentEvent]:
    """Yield the events of a streamed response as they arrive (`client.stream(...)`)."""
    return _events(response.iter_lines(), EventParser(comments=comments))


async def aiter_events(
    response: httpx.Response, *, comments: bool = False
) -> AsyncIterator[ServerSentEvent]:
    """Yield the events of a response streamed by an async client as they arrive."""
    parser = EventParser(comments=comments)
    async for line in response.aiter_lines():
        event = parser.feed(line)
        if event is not None:
            yield event


class EventStream(Iterator[ServerSentEvent]):
    """The events of one open response, read one at a time with `next()` or a `for` loop.

    Attributes:
        response: the streamed httpx response (status and headers are already there).
    """

    def __init__(self, response: httpx.Response, *, comments: bool = False) -> None:
        self.response = response
        self._parser = EventParser(comments=comments)
        self._events = _events(response.iter_lines(), self._parser)

    @property
    def last_event_id(self) -> str | None:
        """The id of the latest event received with one, as a browser would send back."""
        return self._parser.last_event_id

    @property
    def retry(self) -> int | None:
        """The latest `retry` (milliseconds) the server sent."""
        return self._parser.retry

    def __next__(self) -> ServerSentEvent:
        return next(self._events)

    def take(self, count: int) -> list[ServerSentEvent]:
        """Read the next `count` events (fewer if the stream ends)."""
        return [event for _, event in zip(range(count), self, strict=False)]


@contextlib.contextmanager
def stream_events(
    client: httpx.Client, method: str, url: str, *, comments: bool = False, **kwargs: Any
) -> Iterator[EventStream]:
    """Open `method url` on `client` as a stream and read its events one by one.

    Leaving the block closes the connection, which the server sees as a disconnect.
    Other keyword arguments go to `client.stream()` (headers, params, timeout...).
    """
    with client.stream(method, url, **kwargs) as response:
        yield EventStream(response, comments=comments)
