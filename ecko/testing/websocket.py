"""WebSocket sessions of the in-process TestClient, and the events they raise."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
from types import TracebackType
from typing import Any, Literal

import httpx

from ecko.serialization import decode_json, encode_json
from ecko.testing._asgi import _EXIT_TIMEOUT, _OUTCOMES, _Event, _settle
from ecko.testing._transport import _TestClientTransport
from ecko.types import Message, Scope

__all__ = [
    "WebSocketClosed",
    "WebSocketDenialResponse",
    "WebSocketRejected",
    "WebSocketTestSession",
]


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
