"""Test ASGI apps in-process through httpx (TestClient) or under a real server (LiveServer)."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeAlias, TypeVar

from ecko.exceptions import MissingDependencyError
from ecko.serialization import decode_json, encode_json
from ecko.types import ASGIApp, Message, Scope

try:
    import httpx
except ImportError as error:  # pragma: no cover - httpx is installed wherever tests run
    raise MissingDependencyError(
        "'httpx' is not installed; install it with: pip install 'ecko[testing]'"
    ) from error

__all__ = [
    "AsyncTestClient",
    "LiveServer",
    "TestClient",
    "WebSocketClosed",
    "WebSocketDenialResponse",
    "WebSocketRejected",
    "WebSocketTestSession",
]

T = TypeVar("T")

_Event: TypeAlias = tuple[str, Any]
"""What an app task reports: ("start" | "body" | "end" | "message", data) while it runs, then
exactly one outcome: ("returned", None), ("error", exception) or ("cancelled", None)."""

_OUTCOMES = frozenset({"returned", "error", "cancelled"})
_ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_RECEIVE_TIMEOUT = 10.0
_EXIT_TIMEOUT = 5.0
"""Seconds an app gets to finish after a WebSocket or lifespan ends before it is cancelled."""


class WebSocketRejected(Exception):  # noqa: N818 - it is an event the test expects, not a bug
    """The app closed the WebSocket before accepting it."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"WebSocket rejected with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class WebSocketClosed(Exception):  # noqa: N818 - it is an event the test expects, not a bug
    """The app closed an accepted WebSocket; raised by the next `receive_*` call."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"WebSocket closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class WebSocketDenialResponse(Exception):  # noqa: N818 - it is an event the test expects
    """The app refused the WebSocket with an HTTP response (websocket.http.response extension)."""

    def __init__(self, status_code: int, headers: httpx.Headers, body: bytes) -> None:
        super().__init__(f"WebSocket denied with HTTP {status_code}")
        self.status_code = status_code
        self.headers = headers
        self.body = body


class _ClientDisconnectedError(OSError):
    """Raised in the app when it sends on a WebSocket the test has left, as uvicorn does."""


def _build_scope(
    request: httpx.Request,
    *,
    scope_type: Literal["http", "websocket"],
    client: tuple[str, int],
    root_path: str,
    state: Mapping[str, Any],
) -> Scope:
    """Build the ASGI connection scope for `request`."""
    url = request.url
    scope: Scope = {
        "type": scope_type,
        "asgi": dict(_ASGI_VERSION),
        "http_version": "1.1",
        "scheme": url.scheme,
        "path": url.path,
        "raw_path": url.raw_path.partition(b"?")[0],
        "query_string": url.query,
        "root_path": root_path,
        "headers": [(name.lower(), value) for name, value in request.headers.raw],
        "client": client,
        "server": (url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 80)),
        "state": dict(state),
    }
    if scope_type == "http":
        scope["method"] = request.method
    return scope


class _Portal:
    """An event loop in a daemon thread, running coroutines submitted from other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._stopped:
                raise RuntimeError("The TestClient is closed.")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="ecko-test")
                loop.set_default_executor(executor)
                thread = threading.Thread(
                    target=self._run, args=(loop, executor), name="ecko-test-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _run(
        loop: asyncio.AbstractEventLoop, executor: concurrent.futures.ThreadPoolExecutor
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            # A sync handler still blocked in a worker must not hang close(); idle workers exit.
            executor.shutdown(wait=False, cancel_futures=True)
            asyncio.set_event_loop(None)
            loop.close()

    @property
    def closed(self) -> bool:
        """Tell whether stop() was called."""
        return self._stopped

    def in_loop_thread(self) -> bool:
        """Tell whether the caller runs on the portal's own thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coroutine` on the loop, starting it on first use."""
        try:
            loop = self._start()
        except BaseException:
            coroutine.close()
            raise
        return asyncio.run_coroutine_threadsafe(coroutine, loop)

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the loop and wait for its result."""
        return self.submit(coroutine).result()

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Call `callback(*args)` on the loop thread."""
        self._start().call_soon_threadsafe(callback, *args)

    def stop(self) -> None:
        """Cancel what still runs, close the loop and join its thread; idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            thread.join()


async def _settle(task: asyncio.Task[Any], grace: float) -> BaseException | None:
    """Wait up to `grace` seconds for `task`, then cancel it; return its exception, if any."""
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        task.cancel()
        await asyncio.wait({task})
    return None if task.cancelled() else task.exception()


class _Lifespan:
    """Drive an app's ASGI lifespan protocol on the running loop."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self._app = app
        self._state = state
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope: Scope = {"type": "lifespan", "asgi": dict(_ASGI_VERSION), "state": self._state}
        try:
            await self._app(scope, self._to_app.get, self._send)
        finally:
            self._from_app.put_nowait(None)

    async def _send(self, message: Message) -> None:
        self._from_app.put_nowait(message)

    async def _exchange(self, phase: Literal["startup", "shutdown"]) -> None:
        assert self._task is not None
        self._to_app.put_nowait({"type": f"lifespan.{phase}"})
        message = await self._from_app.get()
        if message is None:
            # The app returned (no lifespan support, like uvicorn's "auto") or raised.
            await self._task
            return
        if message["type"] == f"lifespan.{phase}.failed":
            cause = await _settle(self._task, _EXIT_TIMEOUT)
            raise RuntimeError(message.get("message") or f"lifespan {phase} failed") from cause
        if message["type"] != f"lifespan.{phase}.complete":
            raise RuntimeError(f"Unexpected ASGI message {message['type']!r} during {phase}.")

    async def startup(self) -> None:
        """Send lifespan.startup and wait for the app to complete it.

        Raises:
            RuntimeError: the app reported lifespan.startup.failed.
        """
        self._task = asyncio.create_task(self._run())
        try:
            await self._exchange("startup")
        except BaseException:
            await _settle(self._task, 0)
            raise

    async def shutdown(self) -> None:
        """Send lifespan.shutdown, wait for the app to complete it and return.

        Raises:
            RuntimeError: the app reported lifespan.shutdown.failed.
        """
        if self._task is None:
            return
        if not self._task.done():
            await self._exchange("shutdown")
        error = await _settle(self._task, _EXIT_TIMEOUT)
        if error is not None:
            raise error


class _HTTPExchange:
    """One request run through an ASGI app on the running loop, reporting events to `emit`."""

    def __init__(
        self, app: ASGIApp, scope: Scope, body: list[bytes], emit: Callable[[_Event], object]
    ) -> None:
        self._app = app
        self._scope = scope
        self._body = [chunk for chunk in body if chunk] or [b""]
        self._emit = emit
        self._disconnected = asyncio.Event()
        self._started = False
        self._complete = False
        self._aborted = False
        self._task: asyncio.Task[Any] | None = None

    async def run(self) -> None:
        """Call the app; report its events, then exactly one outcome."""
        self._task = asyncio.current_task()
        outcome: _Event = ("cancelled", None)
        try:
            if not self._aborted:
                await self._app(self._scope, self._receive, self._send)
            outcome = ("returned", None)
        except Exception as error:  # noqa: BLE001 - whatever the app raises is re-raised in the test
            outcome = ("error", error)
        finally:
            self._emit(outcome)

    async def abort(self) -> None:
        """Disconnect the client and cancel the app, for a response closed before its end."""
        self._aborted = True
        self._disconnected.set()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def _receive(self) -> Message:
        if self._body:
            chunk = self._body.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(self._body)}
        # ASGI: after the body, receive() waits until the response is sent or the client leaves.
        await self._disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if self._aborted:
            return
        message_type = message["type"]
        if message_type == "http.response.start":
            if self._started:
                raise RuntimeError("The app sent http.response.start twice.")
            self._started = True
            headers = [(bytes(name), bytes(value)) for name, value in message.get("headers", ())]
            self._emit(("start", (message["status"], headers)))
        elif message_type == "http.response.body":
            if not self._started:
                raise RuntimeError("The app sent http.response.body before http.response.start.")
            if self._complete:
                raise RuntimeError("The app sent http.response.body after the response ended.")
            body = bytes(message.get("body", b""))
            if body:
                self._emit(("body", body))
            if not message.get("more_body", False):
                self._complete = True
                self._emit(("end", None))
                self._disconnected.set()
        else:
            raise RuntimeError(f"Unexpected ASGI message {message_type!r} on an HTTP connection.")


def _response_head(event: _Event, raise_server_exceptions: bool) -> tuple[int, list[Any]] | None:
    """Read the status and headers from the app's first event; None means "answer 500".

    Raises:
        Exception: the app's own error, when `raise_server_exceptions` is on.
        RuntimeError: the app returned without sending a response.
    """
    kind, value = event
    if kind == "start":
        status, headers = value
        return int(status), headers
    if kind == "error":
        if raise_server_exceptions:
            raise value
        return None
    if kind == "returned":
        raise RuntimeError("The ASGI app returned without sending a response.")
    raise RuntimeError("The ASGI app was cancelled before sending a response.")


def _error_response() -> httpx.Response:
    return httpx.Response(
        500, headers={"content-type": "text/plain; charset=utf-8"}, content=b"Internal Server Error"
    )


class _BodyReader:
    """Interpret the app's events after http.response.start."""

    def __init__(self, raise_server_exceptions: bool) -> None:
        self.raise_server_exceptions = raise_server_exceptions
        self.body_ended = False
        self.outcome: _Event | None = None

    def chunk(self, event: _Event) -> bytes:
        """Return the body bytes `event` carries (b"" if none); raise the app's failure."""
        kind, value = event
        if kind == "body":
            return bytes(value)
        self.body_ended = True
        if kind == "end":
            return b""
        self.outcome = event
        if kind == "error":
            if self.raise_server_exceptions:
                raise value
            return b""
        raise RuntimeError(f"The ASGI app {kind} before completing the response body.")

    def settle(self, event: _Event) -> None:
        """Record an event that came after the body; raise an error the app hit afterwards."""
        kind, value = event
        if kind in _OUTCOMES:
            self.outcome = event
            if kind == "error" and self.raise_server_exceptions:
                raise value


class _SyncResponseBody(httpx.SyncByteStream):
    """A response body fed, chunk by chunk, from the app task on the portal loop."""

    def __init__(
        self,
        events: queue.SimpleQueue[_Event],
        exchange: _HTTPExchange,
        portal: _Portal,
        raise_server_exceptions: bool,
    ) -> None:
        self._events = events
        self._exchange = exchange
        self._portal = portal
        self._reader = _BodyReader(raise_server_exceptions)
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        while not self._reader.body_ended:
            chunk = self._reader.chunk(self._events.get())
            if chunk:
                yield chunk

    def close(self) -> None:
        """Wait for the app to finish (raising a late error), or cancel it if the body is unread."""
        if self._closed:
            return
        self._closed = True
        if not self._reader.body_ended:
            if not self._portal.closed:  # a closed portal has cancelled the app already
                self._portal.call(self._exchange.abort())
            return
        while self._reader.outcome is None:
            self._reader.settle(self._events.get())


class _TestClientTransport(httpx.BaseTransport):
    """An httpx transport calling an ASGI app on a portal loop; lifespan runs on enter/close."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        client: tuple[str, int],
        root_path: str,
        raise_server_exceptions: bool,
    ) -> None:
        self.app = app
        self.client = client
        self.root_path = root_path
        self.raise_server_exceptions = raise_server_exceptions
        self.app_state: dict[str, Any] = {}
        self.portal = _Portal()
        self._lifespan: _Lifespan | None = None
        # A client dropped without close() must not leave its loop thread behind.
        self._finalizer = weakref.finalize(self, self.portal.stop)

    def __enter__(self) -> _TestClientTransport:
        lifespan = _Lifespan(self.app, self.app_state)
        try:
            self.portal.call(lifespan.startup())
        except BaseException:
            self.portal.stop()
            raise
        self._lifespan = lifespan
        return self

    def close(self) -> None:
        """Run the lifespan shutdown (if it started) and stop the loop thread."""
        lifespan, self._lifespan = self._lifespan, None
        try:
            if lifespan is not None:
                self.portal.call(lifespan.shutdown())
        finally:
            self.portal.stop()

    def check_thread(self) -> None:
        """Refuse a blocking call from the app's own loop, which would deadlock."""
        if self.portal.in_loop_thread():
            raise RuntimeError(
                "TestClient was called from inside the app's event loop; use AsyncTestClient."
            )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Run `request` through the app; return once it has started the response."""
        self.check_thread()
        assert isinstance(request.stream, httpx.SyncByteStream)
        body = [bytes(chunk) for chunk in request.stream]
        scope = _build_scope(
            request,
            scope_type="http",
            client=self.client,
            root_path=self.root_path,
            state=self.app_state,
        )
        events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        exchange = _HTTPExchange(self.app, scope, body, events.put)
        self.portal.submit(exchange.run())
        head = _response_head(events.get(), self.raise_server_exceptions)
        if head is None:
            return _error_response()
        stream = _SyncResponseBody(events, exchange, self.portal, self.raise_server_exceptions)
        return httpx.Response(head[0], headers=head[1], stream=stream)


class WebSocketTestSession:
    """A WebSocket connection to the app, opened and closed by `with`.

    Every `receive*` call waits at most `timeout` seconds, then raises TimeoutError. An error
    raised by the app is re-raised by the next `receive*` call or when the `with` block ends.
    """

    def __init__(self, transport: _TestClientTransport, scope: Scope, timeout: float) -> None:
        self._transport = transport
        self._portal = transport.portal
        self._scope = scope
        self._timeout = timeout
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self._future: concurrent.futures.Future[None] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._app_closed = False
        self._client_closed = False
        self._close_message: Message | None = None
        self._error: Exception | None = None
        self._error_reported = False
        self._outcome_seen = False
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] = []

    async def _run(self) -> None:
        self._task = asyncio.current_task()
        outcome: _Event = ("cancelled", None)
        try:
            await self._transport.app(self._scope, self._receive, self._send)
            outcome = ("returned", None)
        except _ClientDisconnectedError:
            outcome = ("returned", None)
        except Exception as error:  # noqa: BLE001 - whatever the app raises is re-raised in the test
            outcome = ("error", error)
        finally:
            self._from_app.put(outcome)

    async def _receive(self) -> Message:
        message = await self._to_app.get()
        if message["type"] == "websocket.disconnect":
            self._to_app.put_nowait(message)  # every later receive() sees the disconnect too
        return message

    async def _send(self, message: Message) -> None:
        if self._client_closed:
            raise _ClientDisconnectedError("The WebSocket client has disconnected.")
        if self._app_closed:
            raise RuntimeError(f"The app sent {message['type']!r} after websocket.close.")
        if message["type"] == "websocket.close":
            self._app_closed = True
        self._from_app.put(("message", dict(message)))

    def _put(self, message: Message) -> None:
        if self._future is None:
            raise RuntimeError("Open the session first: `with client.websocket_connect(url):`.")
        if self._client_closed:
            raise RuntimeError("The WebSocket is closed; it cannot send.")
        # Flag first: once the app sees the disconnect, its sends must fail.
        self._client_closed = message["type"] == "websocket.disconnect"
        self._portal.call_soon(self._to_app.put_nowait, message)

    def _next(self, timeout: float | None) -> _Event:
        wait = self._timeout if timeout is None else timeout
        try:
            event = self._from_app.get(timeout=wait)
        except queue.Empty:
            raise TimeoutError(f"No message from the app within {wait} seconds.") from None
        kind, value = event
        self._outcome_seen = kind in _OUTCOMES
        if kind == "error":
            self._error, self._error_reported = value, True
            raise value
        if kind == "cancelled":
            raise RuntimeError("The ASGI app was cancelled.")
        return event

    def __enter__(self) -> WebSocketTestSession:
        self._transport.check_thread()
        self._future = self._portal.submit(self._run())
        self._put({"type": "websocket.connect"})
        try:
            self._handshake()
        except BaseException:
            self._finish(raise_errors=False)
            raise
        return self

    def _handshake(self) -> None:
        kind, message = self._next(None)
        if kind == "returned":
            raise RuntimeError("The ASGI app returned without accepting or closing the WebSocket.")
        message_type = message["type"]
        if message_type == "websocket.accept":
            self.accepted_subprotocol = message.get("subprotocol")
            self.extra_headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
        elif message_type == "websocket.close":
            raise WebSocketRejected(message.get("code", 1000), message.get("reason") or "")
        elif message_type == "websocket.http.response.start":
            raise self._denial(message)
        else:
            raise RuntimeError(f"Unexpected ASGI message {message_type!r} before websocket.accept.")

    def _denial(self, start: Message) -> WebSocketDenialResponse:
        body = bytearray()
        while True:
            kind, message = self._next(None)
            if kind == "returned" or message["type"] != "websocket.http.response.body":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = httpx.Headers([(bytes(k), bytes(v)) for k, v in start.get("headers", ())])
        return WebSocketDenialResponse(int(start["status"]), headers, bytes(body))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._finish(raise_errors=exc_type is None)

    def _finish(self, *, raise_errors: bool) -> None:
        """Disconnect if still open, wait for the app (cancel it after a while), raise its error."""
        if self._portal.closed:
            return  # the client was closed under the session, which cancelled the app
        if not self._client_closed:
            self.close(1000)
        assert self._future is not None
        try:
            self._future.result(timeout=_EXIT_TIMEOUT)
        except concurrent.futures.TimeoutError:
            if self._task is not None:  # cancel, and wait until its frames are gone
                self._portal.call(_settle(self._task, 0))
        except concurrent.futures.CancelledError:
            pass  # the client was closed under the session, which cancelled the app
        error: Exception | None = None
        with contextlib.suppress(queue.Empty):
            while not self._outcome_seen:
                kind, value = self._from_app.get(timeout=_EXIT_TIMEOUT)
                self._outcome_seen = kind in _OUTCOMES
                if kind == "error" and not self._error_reported:
                    error = value
        if error is not None and raise_errors:
            self._error_reported = True
            raise error

    def send(self, message: Message) -> None:
        """Send a raw ASGI message to the app."""
        self._put(message)

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self._put({"type": "websocket.receive", "text": data})

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        self._put({"type": "websocket.receive", "bytes": data})

    def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send `data` encoded as JSON in a text (default) or binary message."""
        encoded = encode_json(data)
        if mode == "text":
            self.send_text(encoded.decode())
        else:
            self.send_bytes(encoded)

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Disconnect from the app with `code`; later sends raise."""
        if self._client_closed:
            return
        message = {"type": "websocket.disconnect", "code": code, "reason": reason}
        self._put(message)

    def receive(self, *, timeout: float | None = None) -> Message:
        """Return the app's next raw ASGI message (websocket.send, or websocket.close once).

        Raises:
            WebSocketClosed: the app had already closed the connection.
            TimeoutError: no message came within `timeout` seconds (default 10).
        """
        if self._error is not None:
            raise self._error
        if self._close_message is not None:
            code = self._close_message.get("code", 1000)
            raise WebSocketClosed(code, self._close_message.get("reason") or "")
        kind, value = self._next(timeout)
        # uvicorn closes with 1000 when the app returns without closing.
        message: Message = value if kind == "message" else {"type": "websocket.close", "code": 1000}
        if message["type"] == "websocket.close":
            self._close_message = message
        return message

    def _receive_data(self, timeout: float | None) -> Message:
        message = self.receive(timeout=timeout)
        if message["type"] == "websocket.close":
            raise WebSocketClosed(message.get("code", 1000), message.get("reason") or "")
        return message

    def receive_text(self, *, timeout: float | None = None) -> str:
        """Return the next message, which must be text.

        Raises:
            WebSocketClosed: the app closed the connection.
            TypeError: the message is binary.
        """
        message = self._receive_data(timeout)
        text = message.get("text")
        if text is None:
            raise TypeError(f"Expected a text message, got binary: {message.get('bytes')!r}")
        return str(text)

    def receive_bytes(self, *, timeout: float | None = None) -> bytes:
        """Return the next message, which must be binary.

        Raises:
            WebSocketClosed: the app closed the connection.
            TypeError: the message is text.
        """
        message = self._receive_data(timeout)
        data = message.get("bytes")
        if data is None:
            raise TypeError(f"Expected a binary message, got text: {message.get('text')!r}")
        return bytes(data)

    def receive_json(
        self, mode: Literal["text", "binary"] = "text", *, timeout: float | None = None
    ) -> Any:
        """Return the next message decoded from JSON; `mode` says which kind it must be."""
        if mode == "text":
            return decode_json(self.receive_text(timeout=timeout))
        return decode_json(self.receive_bytes(timeout=timeout))


class TestClient(httpx.Client):
    """An httpx.Client that calls an ASGI app in-process; `with` runs its lifespan.

    The app runs on an event loop in a background thread, started by `with` or by the first
    request and stopped by `close()`. Responses are streamed: `client.stream()` sees each chunk
    as the app sends it, and closing a response early cancels the app. An app that raises on
    the lifespan scope fails `with`; one that returns at once is served without lifespan.

    Args:
        app: any ASGI 3 application.
        base_url: scheme, host and port the requests (and the scope's "server") use.
        raise_server_exceptions: re-raise the app's exceptions in the test (the default);
            when off, a failed request is answered with a 500.
        root_path: the scope's "root_path"; request paths include it, as with a real server.
        headers: headers sent with every request (after the user-agent "testclient").
        cookies: cookies sent with every request; the app's Set-Cookie add to them.
        follow_redirects: follow redirect responses (on by default).
        client: the scope's "client" address.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        *,
        raise_server_exceptions: bool = True,
        root_path: str = "",
        headers: Mapping[str, str] | None = None,
        cookies: httpx.Cookies | dict[str, str] | None = None,
        follow_redirects: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
    ) -> None:
        self.app = app
        self._asgi = _TestClientTransport(
            app, client=client, root_path=root_path, raise_server_exceptions=raise_server_exceptions
        )
        super().__init__(
            base_url=base_url,
            headers={"user-agent": "testclient"},
            cookies=cookies,
            follow_redirects=follow_redirects,
            transport=self._asgi,
            trust_env=False,  # proxy variables must not divert requests away from the app
        )
        if headers:
            self.headers.update(headers)

    @property
    def app_state(self) -> dict[str, Any]:
        """The lifespan `state` dict; each request's scope gets a shallow copy."""
        return self._asgi.app_state

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = _RECEIVE_TIMEOUT,
    ) -> WebSocketTestSession:
        """Return a session to open with `with`; `timeout` is the default for each receive."""
        request = self.build_request("GET", url, headers=headers)
        scheme = {"http": "ws", "https": "wss"}.get(request.url.scheme, request.url.scheme)
        request.url = request.url.copy_with(scheme=scheme)
        request.headers["connection"] = "upgrade"
        request.headers["upgrade"] = "websocket"
        request.headers["sec-websocket-version"] = "13"
        request.headers["sec-websocket-key"] = base64.b64encode(os.urandom(16)).decode()
        if subprotocols:
            request.headers["sec-websocket-protocol"] = ", ".join(subprotocols)
        scope = _build_scope(
            request,
            scope_type="websocket",
            client=self._asgi.client,
            root_path=self._asgi.root_path,
            state=self._asgi.app_state,
        )
        scope["subprotocols"] = list(subprotocols or ())
        scope["extensions"] = {"websocket.http.response": {}}
        return WebSocketTestSession(self._asgi, scope, timeout)


class _AsyncResponseBody(httpx.AsyncByteStream):
    """A response body fed from the app task through an asyncio.Queue."""

    def __init__(
        self, events: asyncio.Queue[_Event], exchange: _HTTPExchange, raise_server_exceptions: bool
    ) -> None:
        self._events = events
        self._exchange = exchange
        self._reader = _BodyReader(raise_server_exceptions)
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._reader.body_ended:
            chunk = self._reader.chunk(await self._events.get())
            if chunk:
                yield chunk

    async def aclose(self) -> None:
        """Wait for the app to finish (raising a late error), or cancel it if the body is unread."""
        if self._closed:
            return
        self._closed = True
        if not self._reader.body_ended:
            await self._exchange.abort()
            return
        while self._reader.outcome is None:
            self._reader.settle(await self._events.get())


class _AsyncTestClientTransport(httpx.AsyncBaseTransport):
    """An httpx async transport calling an ASGI app on the caller's loop."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        client: tuple[str, int],
        root_path: str,
        raise_server_exceptions: bool,
    ) -> None:
        self.app = app
        self.client = client
        self.root_path = root_path
        self.raise_server_exceptions = raise_server_exceptions
        self.app_state: dict[str, Any] = {}
        self._lifespan: _Lifespan | None = None

    async def __aenter__(self) -> _AsyncTestClientTransport:
        lifespan = _Lifespan(self.app, self.app_state)
        await lifespan.startup()
        self._lifespan = lifespan
        return self

    async def aclose(self) -> None:
        """Run the lifespan shutdown, if it started."""
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.shutdown()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Run `request` through the app; return once it has started the response."""
        assert isinstance(request.stream, httpx.AsyncByteStream)
        body = [bytes(chunk) async for chunk in request.stream]
        scope = _build_scope(
            request,
            scope_type="http",
            client=self.client,
            root_path=self.root_path,
            state=self.app_state,
        )
        events: asyncio.Queue[_Event] = asyncio.Queue()
        exchange = _HTTPExchange(self.app, scope, body, events.put_nowait)
        task = asyncio.create_task(exchange.run())
        try:
            head = _response_head(await events.get(), self.raise_server_exceptions)
        except BaseException:
            task.cancel()
            raise
        if head is None:
            return _error_response()
        stream = _AsyncResponseBody(events, exchange, self.raise_server_exceptions)
        return httpx.Response(head[0], headers=head[1], stream=stream)


class AsyncTestClient(httpx.AsyncClient):
    """An httpx.AsyncClient that calls an ASGI app on the running loop; `async with` runs lifespan.

    It takes TestClient's arguments and streams responses the same way. It speaks HTTP only:
    for WebSockets, use TestClient.websocket_connect.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        *,
        raise_server_exceptions: bool = True,
        root_path: str = "",
        headers: Mapping[str, str] | None = None,
        cookies: httpx.Cookies | dict[str, str] | None = None,
        follow_redirects: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
    ) -> None:
        self.app = app
        self._asgi = _AsyncTestClientTransport(
            app, client=client, root_path=root_path, raise_server_exceptions=raise_server_exceptions
        )
        super().__init__(
            base_url=base_url,
            headers={"user-agent": "testclient"},
            cookies=cookies,
            follow_redirects=follow_redirects,
            transport=self._asgi,
            trust_env=False,  # proxy variables must not divert requests away from the app
        )
        if headers:
            self.headers.update(headers)

    @property
    def app_state(self) -> dict[str, Any]:
        """The lifespan `state` dict; each request's scope gets a shallow copy."""
        return self._asgi.app_state


def _free_port(host: str) -> int:
    """Return a port on `host` that nothing listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _cleanup(process: subprocess.Popen[bytes], log_path: str) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    with contextlib.suppress(OSError):
        os.unlink(log_path)


class LiveServer:
    """Serve an app under a real server in a subprocess on `host` and a free port.

    The server is stopped by pid with SIGTERM, then SIGKILL after `stop()`'s timeout; a
    server dropped without `stop()` is killed when the LiveServer is garbage-collected.

    Args:
        target: the app as an import string ("package.module:app"), served with uvicorn.
        host: the interface to listen on.
        port: the port; by default a free one is picked.
        env: environment variables set for the server, over the current environment.
        server: the server to run; only "uvicorn" is built in, pass `command` for others.
        cwd: the server's working directory, also put first on its PYTHONPATH (default: the
            current directory).
        extra_args: arguments appended to the command line.
        startup_timeout: seconds to wait for the port to accept connections.
        command: a command line replacing the uvicorn one; "{host}", "{port}" and "{target}"
            in it are substituted, as in `["ecko", "run", "app:app", "--port", "{port}"]`.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        server: Literal["uvicorn"] = "uvicorn",
        cwd: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
        command: Sequence[str] | None = None,
    ) -> None:
        if target is None and command is None:
            raise ValueError("LiveServer needs a target ('module:attr') or a command.")
        if server != "uvicorn":
            raise ValueError(f"Unsupported server {server!r}; pass `command` to run another one.")
        self.target = target
        self.host = host
        self.server = server
        self.env = dict(env or {})
        self.cwd = Path(cwd) if cwd is not None else None
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.command = list(command) if command is not None else None
        self._requested_port = port
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: str | None = None

    def argv(self, port: int) -> list[str]:
        """Return the command line that serves the app on `port`."""
        if self.command is None:
            assert self.target is not None
            return [
                sys.executable, "-m", "uvicorn", self.target,
                "--host", self.host, "--port", str(port),
                "--log-level", "info", "--lifespan", "on",
                *self.extra_args,
            ]  # fmt: skip
        values = {"{host}": self.host, "{port}": str(port), "{target}": self.target or ""}
        argv: list[str] = []
        for argument in [*self.command, *self.extra_args]:
            for placeholder, value in values.items():
                argument = argument.replace(placeholder, value)
            argv.append(argument)
        return argv

    def _environment(self, cwd: Path) -> dict[str, str]:
        environment = {**os.environ, **self.env}
        paths = [str(cwd), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
        environment["PYTHONPATH"] = os.pathsep.join(paths)
        environment.setdefault("PYTHONUNBUFFERED", "1")
        return environment

    def start(self) -> LiveServer:
        """Start the server and wait until its port accepts connections.

        Raises:
            RuntimeError: the server exited or did not listen within `startup_timeout`; the
                message ends with its log.
        """
        if self._process is not None:
            raise RuntimeError("This LiveServer was already started.")
        cwd = self.cwd or Path.cwd()
        port = self._requested_port or _free_port(self.host)
        descriptor, log_path = tempfile.mkstemp(prefix="ecko-live-server-", suffix=".log")
        with os.fdopen(descriptor, "wb") as log:
            process = subprocess.Popen(
                self.argv(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=self._environment(cwd),
            )
        self._port, self._process, self._log_path = port, process, log_path
        weakref.finalize(self, _cleanup, process, log_path)
        self._wait_until_listening()
        return self

    def _wait_until_listening(self) -> None:
        process, port = self.process, self.port
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"The server exited with code {process.returncode} before listening on "
                    f"{self.host}:{port}. Its log:\n{self._log_tail()}"
                )
            try:
                with socket.create_connection((self.host, port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"The server did not listen on {self.host}:{port} within "
                    f"{self.startup_timeout} seconds. Its log:\n{self._log_tail()}"
                )
            time.sleep(0.05)  # poll interval while the server starts

    def stop(self, timeout: float = 10.0) -> int:
        """Send SIGTERM to the server, SIGKILL after `timeout` seconds; return its exit code."""
        process = self.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return int(process.returncode)

    def logs(self) -> str:
        """Return what the server has written to stdout and stderr so far."""
        if self._log_path is None:
            return ""
        return Path(self._log_path).read_text(errors="replace")

    def _log_tail(self, lines: int = 50) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The server's process."""
        if self._process is None:
            raise RuntimeError("The LiveServer is not started; call start() or use `with`.")
        return self._process

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._port is None:
            raise RuntimeError("The LiveServer is not started; call start() or use `with`.")
        return self._port

    @property
    def url(self) -> str:
        """The server's base URL, like "http://127.0.0.1:54321"."""
        return f"http://{self._netloc()}"

    @property
    def ws_url(self) -> str:
        """The server's base WebSocket URL, like "ws://127.0.0.1:54321"."""
        return f"ws://{self._netloc()}"

    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
