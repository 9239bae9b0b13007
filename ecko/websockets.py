"""WebSocket connections (accept/receive/send/close, message size limit) and the rooms `Hub`."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, final, overload

import msgspec

from ecko.datastructures import MutableHeaders
from ecko.exceptions import ValidationError
from ecko.requests import HTTPConnection
from ecko.serialization import decode_json, encode_json
from ecko.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    from ecko.responses import Response

T = TypeVar("T")

logger = logging.getLogger("ecko.websockets")

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
"""Incoming messages above this many bytes close the connection with 1009 (1 MiB)."""


class WebSocketState(enum.Enum):
    """Where one side of a WebSocket connection stands."""

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3


class WebSocketDisconnect(Exception):  # noqa: N818 - the name users know from Starlette
    """The connection is over: the client left, or the server closed it.

    Args:
        code: the WebSocket close code (1000 normal, 1001 going away, 1009 too big...).
        reason: the close reason, possibly empty.
    """

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"WebSocketDisconnect(code={self.code}, reason={self.reason!r})"


class WebSocketError(RuntimeError):
    """A WebSocket was used out of order: wrong message kind, or used after it closed."""


class WebSocketMessageTypeError(WebSocketError):
    """The client sent a binary message where text was expected, or the reverse.

    Left uncaught, it closes the connection with 1003 (unsupported data).
    """

    def __init__(self, expected: str, received: str, use: str) -> None:
        super().__init__(f"Expected a {expected} message, got a {received} one; use {use}()")
        self.reason = f"Expected a {expected} message"


class WebSocket(HTTPConnection):
    """One WebSocket connection; handlers accept it, then exchange messages."""

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        path_params: dict[str, str] | None = None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        super().__init__(scope, path_params)
        self._receive = receive
        self._send = send
        self.max_message_size = max_message_size
        self.client_state = WebSocketState.CONNECTING
        self.application_state = WebSocketState.CONNECTING
        self.close_code: int | None = None
        self.close_reason: str = ""

    # -- connection details ------------------------------------------------------------

    @property
    def subprotocols(self) -> list[str]:
        """Subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols", ()))

    @property
    def session(self) -> dict[str, Any]:
        """The signed-cookie session of the handshake request.

        Raises:
            WebSocketError: sessions are not enabled on the app.
        """
        session = self.scope.get("session")
        if session is None:
            raise WebSocketError(
                "ws.session needs sessions enabled on the app: "
                "app.use(sessions(secret=...)) with `from ecko.middleware import sessions`"
            )
        return session  # type: ignore[no-any-return]

    # -- handshake -----------------------------------------------------------------------

    async def _expect_connect(self) -> None:
        if self.client_state is WebSocketState.CONNECTING:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self.client_state = WebSocketState.DISCONNECTED
                raise WebSocketDisconnect(message.get("code", 1000), message.get("reason") or "")
            if message["type"] != "websocket.connect":
                raise WebSocketError(f"Expected websocket.connect, got {message['type']!r}")
            self.client_state = WebSocketState.CONNECTED

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """Complete the handshake, optionally choosing a subprotocol and adding headers.

        Raises:
            WebSocketError: the connection was already accepted or closed.
        """
        if self.application_state is not WebSocketState.CONNECTING:
            raise WebSocketError("accept() was called twice or after close()")
        await self._expect_connect()
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise WebSocketError(
                f"Subprotocol {subprotocol!r} was not offered by the client "
                f"(it offered {self.subprotocols})"
            )
        message: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            message["headers"] = MutableHeaders(headers).raw()
        await self._send(message)
        self.application_state = WebSocketState.CONNECTED

    async def send_denial_response(self, response: Response) -> None:
        """Refuse the handshake with an HTTP response, where the server supports it.

        Servers without the `websocket.http.response` extension get a plain refusal
        (HTTP 403); the response body is then not sent.
        """
        if self.application_state is not WebSocketState.CONNECTING:
            raise WebSocketError("send_denial_response() must come before accept()")
        await self._expect_connect()
        if "websocket.http.response" not in self.scope.get("extensions", {}):
            await self.close(1008)
            return

        async def send(message: Message) -> None:
            message["type"] = "websocket." + message["type"]
            await self._send(message)

        await response(self.scope, self._receive, send)
        self.application_state = WebSocketState.RESPONSE

    # -- receiving -----------------------------------------------------------------------

    async def receive(self) -> Message:
        """Receive the next raw ASGI message (`websocket.receive` or `websocket.disconnect`).

        Raises:
            WebSocketError: the connection is not accepted yet, or already closed.
        """
        if self.application_state is WebSocketState.CONNECTING:
            raise WebSocketError("Call await ws.accept() before receiving messages")
        if self.client_state is WebSocketState.DISCONNECTED:
            raise WebSocketError(
                f"The client already disconnected (code {self.close_code}); stop receiving"
            )
        if self.application_state is not WebSocketState.CONNECTED:
            raise WebSocketError("The connection was closed by the server; stop receiving")
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.client_state = WebSocketState.DISCONNECTED
            self.close_code = message.get("code", 1005)
            self.close_reason = message.get("reason") or ""
        return message

    async def _receive_data(self) -> str | bytes:
        message = await self.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(self.close_code or 1005, self.close_reason)
        text = message.get("text")
        data: str | bytes = text if text is not None else message.get("bytes") or b""
        limit = self.max_message_size
        if limit is not None and len(data) > limit // 4:
            size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
            if size > limit:
                await self.close(1009, "Message too big")
                raise WebSocketDisconnect(1009, "Message too big")
        return data

    async def receive_text(self) -> str:
        """Receive a text message.

        Raises:
            WebSocketDisconnect: the client closed the connection.
            WebSocketError: the client sent a binary message.
        """
        data = await self._receive_data()
        if not isinstance(data, str):
            raise WebSocketMessageTypeError("text", "binary", "receive_bytes")
        return data

    async def receive_bytes(self) -> bytes:
        """Receive a binary message.

        Raises:
            WebSocketDisconnect: the client closed the connection.
            WebSocketError: the client sent a text message.
        """
        data = await self._receive_data()
        if not isinstance(data, bytes):
            raise WebSocketMessageTypeError("binary", "text", "receive_text")
        return data

    @overload
    async def receive_json(self) -> Any: ...
    @overload
    async def receive_json(self, type: type[T]) -> T: ...
    async def receive_json(self, type: Any = Any) -> Any:  # noqa: A002 - msgspec's own name
        """Receive a JSON message (text or binary), validated against `type` if given.

        Raises:
            WebSocketDisconnect: the client closed the connection.
            ValidationError: the message is not JSON or does not match `type`; left
                uncaught, it closes the connection with 1007 and the reason.
        """
        data = await self._receive_data()
        try:
            return decode_json(data, type)
        except msgspec.ValidationError as error:
            raise ValidationError(
                [{"loc": ["message"], "msg": str(error), "type": "type_error"}]
            ) from None
        except (msgspec.DecodeError, RecursionError) as error:
            raise ValidationError(
                [{"loc": ["message"], "msg": f"Invalid JSON: {error}", "type": "json_invalid"}]
            ) from None

    async def __aiter__(self) -> AsyncIterator[str]:
        """Yield text messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            return

    async def iter_text(self) -> AsyncIterator[str]:
        """Yield text messages until the client disconnects."""
        async for message in self:
            yield message

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Yield binary messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            return

    @overload
    def iter_json(self) -> AsyncIterator[Any]: ...
    @overload
    def iter_json(self, type: type[T]) -> AsyncIterator[T]: ...
    async def iter_json(self, type: Any = Any) -> AsyncIterator[Any]:  # noqa: A002
        """Yield JSON messages (validated against `type` if given) until the client disconnects."""
        try:
            while True:
                yield await self.receive_json(type)
        except WebSocketDisconnect:
            return

    # -- sending -------------------------------------------------------------------------

    async def _send_message(self, message: Message) -> None:
        if self.application_state is WebSocketState.CONNECTING:
            raise WebSocketError("Call await ws.accept() before sending messages")
        if self.application_state is not WebSocketState.CONNECTED:
            raise WebSocketError("The connection is closed; cannot send")
        if self.client_state is WebSocketState.DISCONNECTED:
            raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)
        try:
            await self._send(message)
        except OSError as error:
            # The server reports a vanished client as an OSError on send.
            self.client_state = WebSocketState.DISCONNECTED
            raise WebSocketDisconnect(1006, "") from error

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        await self._send_message({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self._send_message({"type": "websocket.send", "bytes": bytes(data)})

    async def send_json(self, data: Any, mode: Literal["text", "binary"] = "text") -> None:
        """Send `data` as JSON (msgspec-encoded), in a text or binary message."""
        encoded = encode_json(data)
        if mode == "binary":
            await self.send_bytes(encoded)
        else:
            await self.send_text(encoded.decode("utf-8"))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection, or refuse the handshake (HTTP 403) before accept.

        Closing a connection that is already closed does nothing, so `close()` is safe in
        a `finally:` block. The reason is cut to the 123 bytes a close frame can carry.
        """
        if self.application_state in (WebSocketState.DISCONNECTED, WebSocketState.RESPONSE):
            return
        if self.application_state is WebSocketState.CONNECTING:
            await self._expect_connect()
        self.application_state = WebSocketState.DISCONNECTED
        if self.client_state is WebSocketState.DISCONNECTED:
            return
        # RFC 6455 caps the close reason at 123 bytes.
        encoded = reason.encode("utf-8")[:123].decode("utf-8", "ignore")
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": encoded})
        except OSError:
            self.client_state = WebSocketState.DISCONNECTED

    def __repr__(self) -> str:
        return f"<WebSocket {self.path} {self.application_state.name}>"


class HubConnection(Protocol):
    """What a hub needs of a connection: sending text and bytes (a `WebSocket` has both)."""

    async def send_text(self, data: str) -> None:
        """Send a text message."""

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""


@final
class Membership:
    """A connection's place in a room: `await` it to join, or `async with` it to leave on exit.

    Args:
        join: adds the connection to the room.
        leave: removes it; called when the `async with` block ends, however it ends.
    """

    def __init__(
        self, join: Callable[[], Awaitable[None]], leave: Callable[[], Awaitable[None]]
    ) -> None:
        self._join = join
        self._leave = leave
        self._joined = False

    async def _enter(self) -> None:
        if not self._joined:
            await self._join()
            self._joined = True

    def __await__(self) -> Generator[Any, None, None]:
        return self._enter().__await__()

    async def __aenter__(self) -> None:
        await self._enter()

    async def __aexit__(self, *exc_info: object) -> None:
        self._joined = False
        await self._leave()


class HubBackend(Protocol):
    """Rooms of connections with broadcasts: `Hub` in-process, a Redis-backed hub later.

    Connections are always held by the process serving them, so membership queries
    (`rooms`, `members`) are local; a cross-process backend differs in `broadcast_*`,
    which also reach the members connected to other processes.
    """

    def join(self, room: str, connection: HubConnection) -> Membership:
        """Add `connection` to `room` (await the result, or use it with `async with`)."""
        ...

    async def leave(self, room: str, connection: HubConnection) -> None:
        """Remove `connection` from `room`; nothing happens if it is not there."""

    async def leave_all(self, connection: HubConnection) -> None:
        """Remove `connection` from every room."""

    def rooms(self) -> list[str]:
        """Return the rooms that have at least one connection in this process."""
        ...

    def members(self, room: str) -> list[HubConnection]:
        """Return the connections of `room` in this process, in joining order."""
        ...

    async def broadcast_text(
        self, room: str, data: str, *, exclude: HubConnection | None = None
    ) -> None:
        """Send a text message to every connection in `room` but `exclude`."""

    async def broadcast_bytes(
        self, room: str, data: bytes, *, exclude: HubConnection | None = None
    ) -> None:
        """Send a binary message to every connection in `room` but `exclude`."""

    async def broadcast_json(
        self, room: str, data: Any, *, exclude: HubConnection | None = None
    ) -> None:
        """Send `data` as JSON text to every connection in `room` but `exclude`."""


@final
class Hub:
    """Rooms of WebSocket connections in this process, and broadcasts to them.

    Sends to a room run concurrently, so a slow client delays no one else; a connection
    whose send fails (or exceeds `send_timeout`) is dropped from every room. A client that
    went away is noticed by its own handler at the next receive; one dropped for slowness
    stays connected but receives no more broadcasts. Use one hub per process and event loop.

    Args:
        send_timeout: seconds one send may take before its connection is dropped; None
            waits as long as the server lets it.
    """

    def __init__(self, *, send_timeout: float | None = 10.0) -> None:
        self.send_timeout = send_timeout
        # dict as an ordered set: members keep their joining order.
        self._rooms: dict[str, dict[HubConnection, None]] = {}

    def join(self, room: str, connection: HubConnection) -> Membership:
        """Add `connection` to `room`: `await hub.join(...)`, or `async with hub.join(...):`."""
        return Membership(lambda: self._add(room, connection), lambda: self.leave(room, connection))

    async def _add(self, room: str, connection: HubConnection) -> None:
        self._rooms.setdefault(room, {})[connection] = None

    async def leave(self, room: str, connection: HubConnection) -> None:
        """Remove `connection` from `room`; nothing happens if it is not there."""
        members = self._rooms.get(room)
        if members is not None:
            members.pop(connection, None)
            if not members:
                del self._rooms[room]

    async def leave_all(self, connection: HubConnection) -> None:
        """Remove `connection` from every room."""
        self._drop(connection)

    def rooms(self) -> list[str]:
        """Return the rooms that have at least one connection, in creation order."""
        return list(self._rooms)

    def members(self, room: str) -> list[HubConnection]:
        """Return the connections of `room`, in joining order."""
        return list(self._rooms.get(room, ()))

    async def broadcast_text(
        self, room: str, data: str, *, exclude: HubConnection | None = None
    ) -> None:
        """Send a text message to every connection in `room` but `exclude`."""
        await self._broadcast(room, exclude, lambda connection: connection.send_text(data))

    async def broadcast_bytes(
        self, room: str, data: bytes, *, exclude: HubConnection | None = None
    ) -> None:
        """Send a binary message to every connection in `room` but `exclude`."""
        await self._broadcast(room, exclude, lambda connection: connection.send_bytes(data))

    async def broadcast_json(
        self, room: str, data: Any, *, exclude: HubConnection | None = None
    ) -> None:
        """Send `data` as JSON text (encoded once, with msgspec) to `room` but `exclude`."""
        await self.broadcast_text(room, encode_json(data).decode("utf-8"), exclude=exclude)

    async def _broadcast(
        self,
        room: str,
        exclude: HubConnection | None,
        send: Callable[[HubConnection], Awaitable[None]],
    ) -> None:
        targets = [member for member in self._rooms.get(room, ()) if member is not exclude]
        if len(targets) == 1:
            await self._deliver(targets[0], send)
        elif targets:
            await asyncio.gather(*(self._deliver(member, send) for member in targets))

    async def _deliver(
        self, connection: HubConnection, send: Callable[[HubConnection], Awaitable[None]]
    ) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                await send(connection)
        except Exception as error:  # noqa: BLE001 - any failed send means the connection is gone
            logger.debug("Dropping %r from the hub: %r", connection, error)
            self._drop(connection)

    def _drop(self, connection: HubConnection) -> None:
        for room in [room for room, members in self._rooms.items() if connection in members]:
            members = self._rooms[room]
            del members[connection]
            if not members:
                del self._rooms[room]

    def __repr__(self) -> str:
        rooms = ", ".join(f"{room!r}: {len(members)}" for room, members in self._rooms.items())
        return f"<Hub {{{rooms}}}>"
