"""TestClient and AsyncTestClient: httpx clients calling an ASGI app in-process."""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from ecko.testing._asgi import _build_scope
from ecko.testing._transport import _AsyncTestClientTransport, _TestClientTransport
from ecko.testing.sse import EventStream, stream_events
from ecko.testing.websocket import WebSocketTestSession
from ecko.types import ASGIApp

__all__ = ["AsyncTestClient", "TestClient"]

_RECEIVE_TIMEOUT = 10.0


def _httpx_options(
    base_url: str,
    cookies: httpx.Cookies | dict[str, str] | None,
    follow_redirects: bool,
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport,
) -> dict[str, Any]:
    """The httpx client settings both test clients share."""
    return {
        "base_url": base_url,
        "headers": {"user-agent": "testclient"},
        "cookies": cookies,
        "follow_redirects": follow_redirects,
        "transport": transport,
        "trust_env": False,  # proxy variables must not divert requests away from the app
    }


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
        super().__init__(**_httpx_options(base_url, cookies, follow_redirects, self._asgi))
        if headers:
            self.headers.update(headers)

    @property
    def app_state(self) -> dict[str, Any]:
        """The lifespan `state` dict; each request's scope gets a shallow copy."""
        return self._asgi.app_state

    @contextlib.contextmanager
    def stream_events(
        self, method: str, url: str, *, comments: bool = False, **kwargs: Any
    ) -> Iterator[EventStream]:
        """Open a server-sent event stream and read its events one by one as they are sent.

        `with client.stream_events("GET", "/clock") as events: first = next(events)`;
        leaving the block disconnects. `comments=True` also yields comments (pings).
        Other keyword arguments go to `stream()`.
        """
        with stream_events(self, method, url, comments=comments, **kwargs) as events:
            yield events

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
        super().__init__(**_httpx_options(base_url, cookies, follow_redirects, self._asgi))
        if headers:
            self.headers.update(headers)

    @property
    def app_state(self) -> dict[str, Any]:
        """The lifespan `state` dict; each request's scope gets a shallow copy."""
        return self._asgi.app_state
