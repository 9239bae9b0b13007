"""Drive an ASGI app on the running loop for the test clients: scopes, lifespan, HTTP exchanges."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeAlias

import httpx

from ecko.types import ASGIApp, Message, Scope

_Event: TypeAlias = tuple[str, Any]
"""What an app task reports: ("start" | "body" | "end" | "message", data) while it runs, then
exactly one outcome: ("returned", None), ("error", exception) or ("cancelled", None)."""

_OUTCOMES = frozenset({"returned", "error", "cancelled"})
_ASGI_VERSION = {"version": "3.0", "spec_version": "2.4"}
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_EXIT_TIMEOUT = 5.0
"""Seconds an app gets to finish after a WebSocket or lifespan ends before it is cancelled."""


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
