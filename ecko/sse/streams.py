"""Event stream and JSON Lines responses fed by generators, and the `@sse` handler wrapper."""

from __future__ import annotations

import abc
import asyncio
import functools
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from ecko.exceptions import RouteDefinitionError
from ecko.responses import HeadersInput, StreamingResponse
from ecko.serialization import encode_json
from ecko.sse.events import ServerSentEvent, to_event
from ecko.sse.replay import ReplayBuffer
from ecko.sse.shutdown import shutdown_signal_for
from ecko.types import Receive, Scope, Send

DEFAULT_PING_INTERVAL = 15.0
"""Seconds of silence after which an event stream sends a `: ping` comment.

Proxies and load balancers commonly drop connections idle for 30-60 seconds.
"""


_PING = b": ping\n\n"


class _PumpedStream(StreamingResponse, metaclass=abc.ABCMeta):
    """A streaming response that encodes each item, pings when idle and ends on shutdown."""

    ping_interval: float | None = None
    ping_bytes = b""

    def __init__(
        self,
        content: Iterable[Any] | AsyncIterable[Any],
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type)
        self._scope: Scope = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the headers, then each item as it comes, until it ends or the client leaves."""
        self._scope = scope
        await super().__call__(scope, receive, send)

    @abc.abstractmethod
    def encode(self, item: Any) -> bytes:
        """Turn one yielded item into the bytes sent for it (b"" sends nothing)."""

    async def start(self, send: Send) -> bool:
        """Send what goes before the first item; return False if the client has gone."""
        return True

    async def sent(self, item: Any) -> None:
        """Note that `item` was sent (for replay buffers)."""

    async def _stream(self, chunks: AsyncIterator[Any], send: Send) -> None:
        shutdown = shutdown_signal_for(self._scope)
        drained = asyncio.ensure_future(shutdown.drained()) if shutdown is not None else None
        pending: asyncio.Future[Any] | None = None
        try:
            if not await self.start(send):
                return
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(chunks))
                waiting = (pending,) if drained is None else (pending, drained)
                done, _ = await asyncio.wait(
                    waiting, timeout=self.ping_interval, return_when=asyncio.FIRST_COMPLETED
                )
                if pending in done:
                    finished, pending = pending, None
                    try:
                        item = finished.result()
                    except StopAsyncIteration:
                        break
                    data = self.encode(item)
                    if data and not await _send_chunk(send, data):
                        return
                    await self.sent(item)
                elif drained is not None and drained in done:
                    break
                elif not await _send_chunk(send, self.ping_bytes):  # idle: keep the line alive
                    return
            await _send_chunk(send, b"", more_body=False)
        finally:
            if drained is not None:
                drained.cancel()
            if pending is not None:
                # An async generator gets CancelledError at its `await`, so its `finally` runs
                # now; a sync one (in the threadpool) is closed at its next `yield`.
                pending.cancel()
                await asyncio.wait((pending,))


async def _send_chunk(send: Send, data: bytes, *, more_body: bool = True) -> bool:
    """Send a body chunk; False means the client has gone."""
    try:
        await send({"type": "http.response.body", "body": data, "more_body": more_body})
    except OSError:  # uvicorn raises ClientDisconnected, an OSError
        return False
    return True


class EventStreamResponse(_PumpedStream):
    """A `text/event-stream` response fed by a sync or async generator.

    Each yielded value is sent as an event: a `ServerSentEvent` as it is, anything else as its
    data (text as is, other values as JSON); None sends nothing. A `: ping` comment goes out
    after `ping` seconds without an event. When the client disconnects, an async generator
    is cancelled at once and a sync one (run in the threadpool) is closed at its next yield,
    so `finally:` blocks run. On server shutdown the stream ends after the app's drain time.

    Args:
        content: the generator (or any iterable) of events.
        status_code: the HTTP status.
        headers: extra headers; `Cache-Control: no-cache` and `X-Accel-Buffering: no` (no
            proxy buffering) are set unless given here.
        ping: seconds of silence before a keep-alive comment; None sends none.
        replay: record sent events with an id here, and first send a reconnecting client
            (one sending `Last-Event-ID`) the recorded events it missed.
        retry: milliseconds browsers wait before reconnecting, sent first.
    """

    media_type = "text/event-stream"
    ping_bytes = _PING

    def __init__(
        self,
        content: Iterable[Any] | AsyncIterable[Any],
        status_code: int = 200,
        headers: HeadersInput = None,
        *,
        ping: float | None = DEFAULT_PING_INTERVAL,
        replay: ReplayBuffer | None = None,
        retry: int | None = None,
    ) -> None:
        if ping is not None and ping <= 0:
            raise ValueError(f"ping must be a positive number of seconds or None, not {ping}")
        super().__init__(content, status_code, headers)
        self.headers.setdefault("cache-control", "no-cache")
        self.headers.setdefault("x-accel-buffering", "no")
        self.ping_interval = ping
        self.replay = replay
        self.retry = None if retry is None else ServerSentEvent(retry=retry)
        self._replayed: set[str] = set()

    def encode(self, item: Any) -> bytes:
        """Encode one yielded value as an event; b"" for None, or for an event already replayed."""
        event = to_event(item)
        if event is None or (event.id is not None and event.id in self._replayed):
            return b""
        return event.encode()

    async def start(self, send: Send) -> bool:
        """Send the `retry` field, then the missed events of a reconnecting client."""
        if self.retry is not None and not await _send_chunk(send, self.retry.encode()):
            return False
        last_event_id = _last_event_id(self._scope)
        if self.replay is None or last_event_id is None:
            return True
        for event in await self.replay.since(last_event_id):
            if not await _send_chunk(send, event.encode()):
                return False
            if event.id is not None:
                self._replayed.add(event.id)
        return True

    async def sent(self, item: Any) -> None:
        """Record an event with an id in the replay buffer."""
        if self.replay is not None and isinstance(item, ServerSentEvent) and item.id is not None:
            await self.replay.append(item)


def _last_event_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"last-event-id":
            return str(value.decode("latin-1"))
    return None


class JSONLinesResponse(_PumpedStream):
    """An `application/jsonl` response: each yielded value encoded as one line of JSON.

    Sync and async generators are streamed as for `EventStreamResponse`: closed when the
    client disconnects, ended after the app's drain time on shutdown.
    """

    media_type = "application/jsonl"

    def __init__(
        self,
        content: Iterable[Any] | AsyncIterable[Any],
        status_code: int = 200,
        headers: HeadersInput = None,
    ) -> None:
        super().__init__(content, status_code, headers)
        self.headers.setdefault("cache-control", "no-cache")
        self.headers.setdefault("x-accel-buffering", "no")

    def encode(self, item: Any) -> bytes:
        """Encode one value as a line of compact JSON."""
        try:
            return encode_json(item) + b"\n"
        except NotImplementedError as error:  # msgspec 0.22 passes enc_hook's error through
            raise TypeError(str(error)) from error


def event_stream_handler(
    handler: Callable[..., Any],
    *,
    ping: float | None = DEFAULT_PING_INTERVAL,
    replay: ReplayBuffer | None = None,
    retry: int | None = None,
) -> Callable[..., Awaitable[EventStreamResponse]]:
    """Wrap a generator function into a handler returning its `EventStreamResponse`.

    The wrapper keeps the generator's signature, so its parameters are resolved like any
    handler's.

    Raises:
        RouteDefinitionError: `handler` is not a generator function.
    """
    if not (inspect.isgeneratorfunction(handler) or inspect.isasyncgenfunction(handler)):
        raise RouteDefinitionError(
            f"@sse handler {getattr(handler, '__qualname__', handler)} must be a generator "
            "function (`def` or `async def` with `yield`)"
        )

    @functools.wraps(handler)
    async def stream(**kwargs: Any) -> EventStreamResponse:
        return EventStreamResponse(handler(**kwargs), ping=ping, replay=replay, retry=retry)

    # The generator's return annotation describes events; the route returns the response
    # (so OpenAPI documents text/event-stream).
    annotations = dict(getattr(handler, "__annotations__", {}))
    annotations["return"] = EventStreamResponse
    stream.__annotations__ = annotations
    return stream
