"""The view of one HTTP request: method, URL, headers, query, cookies and a size-limited body."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ecko.datastructures import URL, Headers, QueryParams, State
from ecko.exceptions import BadRequest, PayloadTooLarge
from ecko.forms import DEFAULT_FORM_LIMITS, FormData, FormLimits, parse_form
from ecko.serialization import decode_json
from ecko.types import Receive, Scope

logger = logging.getLogger("ecko")

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
"""Request bodies above this many bytes are refused with 413 (1 MiB)."""


def parse_cookies(header: str | None) -> dict[str, str]:
    """Parse a `Cookie` header into a dict; malformed pairs are skipped, never fatal."""
    if not header:
        return {}
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            # Quoted values may carry octal escapes; SimpleCookie knows the rules. Imported
            # here, for the rare quoted cookie (~1 ms of `import ecko`, benchmarks/).
            from http.cookies import SimpleCookie

            parsed: SimpleCookie = SimpleCookie()
            try:
                parsed.load(f"{name}={value}")
                value = parsed[name].value
            except Exception:  # noqa: BLE001 - an odd cookie must not fail the request
                value = value[1:-1]
        cookies[name] = value
    return cookies


class HTTPConnection:
    """What HTTP requests and WebSocket connections share: path, URL, headers, query, cookies."""

    __slots__ = ("_cookies", "_headers", "_query_params", "path_params", "scope")

    def __init__(self, scope: Scope, path_params: dict[str, str] | None = None) -> None:
        self.scope = scope
        self.path_params: dict[str, str] = path_params if path_params is not None else {}
        self._headers: Headers | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None

    @property
    def path(self) -> str:
        """The percent-decoded path, including any mount prefix (`root_path`)."""
        path: str = self.scope["path"]
        return path

    @property
    def url(self) -> URL:
        """The full URL the client asked for (`ws://` or `wss://` for WebSockets)."""
        return URL.from_scope(self.scope)

    def replace_headers(self, raw: list[tuple[bytes, bytes]]) -> None:
        """Replace the scope's raw headers (middleware rewriting Host); cached views follow."""
        self.scope["headers"] = raw
        self._headers = None
        self._cookies = None

    @property
    def headers(self) -> Headers:
        """Case-insensitive, multi-value request headers (the handshake's, for WebSockets)."""
        if self._headers is None:
            self._headers = Headers(self.scope["headers"])
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        """Multi-value query parameters.

        Raises:
            BadRequest: the query string is not valid UTF-8.
        """
        if self._query_params is None:
            self._query_params = QueryParams(self.scope.get("query_string", b""))
        return self._query_params

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies sent by the client, by name."""
        if self._cookies is None:
            self._cookies = parse_cookies(self.headers.get("cookie"))
        return self._cookies

    @property
    def client(self) -> tuple[str, int] | None:
        """The client's `(host, port)`, when the server knows it."""
        client = self.scope.get("client")
        # granian sends the port as a string; ASGI says int.
        return (str(client[0]), int(client[1])) if client else None

    @property
    def state(self) -> State:
        """Per-connection state for your own attributes, kept in `scope["ecko.state"]`."""
        state = self.scope.get("ecko.state")
        if state is None:
            state = self.scope["ecko.state"] = State()
        return state

    @property
    def app(self) -> Any:
        """The application serving this connection."""
        return self.scope.get("app")


class Request(HTTPConnection):
    """An incoming HTTP request, bound to the ASGI connection it came from."""

    __slots__ = (
        "_body",
        "_form",
        "_receive",
        "_received",
        "_streamed",
        "form_limits",
        "max_body_size",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        path_params: dict[str, str] | None = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        # HTTPConnection.__init__'s fields, set here: one call less per request (benchmarks/: 4%
        # of a hello-world request's instructions).
        self.scope = scope
        self.path_params = path_params if path_params is not None else {}
        self._headers = None
        self._query_params = None
        self._cookies = None
        self._receive = receive
        self.max_body_size = max_body_size
        self._body: bytes | None = None
        self._received = 0
        self._streamed = False
        self._form: FormData | None = None
        self.form_limits: FormLimits = DEFAULT_FORM_LIMITS

    @property
    def method(self) -> str:
        """The HTTP method in capitals, e.g. "GET"."""
        method: str = self.scope["method"]
        return method

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-cased, without parameters ("" if absent)."""
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    async def body(self) -> bytes:
        """Read the whole body once, refusing it past `max_body_size`.

        Raises:
            PayloadTooLarge: the declared or received size exceeds the limit (the rest
                is not read).
            BadRequest: the Content-Length header is not a number.
            RuntimeError: `stream()` or `form()` already consumed the body.
        """
        if self._body is not None:
            return self._body
        limit = self._check_declared_length()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            kind = message["type"]
            if kind == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise PayloadTooLarge(
                            f"The request body exceeds the limit of {limit} bytes"
                        )
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            elif kind == "http.disconnect":
                raise ClientDisconnected()
        self._received = size
        self._body = b"".join(chunks)
        return self._body

    def check_received_size(self) -> None:
        """Refuse a body already read (by middleware) that is over the current limit.

        Middleware may read the body before routing sets the route's own `max_body_size`
        (csrf reads a form token); the route's limit still holds for what was read.

        Raises:
            PayloadTooLarge: more than `max_body_size` bytes were already received.
        """
        limit = self.max_body_size
        if limit is not None and self._received > limit:
            raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes")

    def _check_declared_length(self) -> int | None:
        """Refuse a Content-Length over the limit before reading; return the limit."""
        if self._streamed:
            raise RuntimeError(
                "The request body was already consumed by request.stream() or request.form()"
            )
        limit = self.max_body_size
        if limit is not None:
            declared = self.headers.get("content-length")
            if declared is not None:
                if not declared.isascii() or not declared.isdigit():
                    raise BadRequest("The Content-Length header is not a valid number")
                if int(declared) > limit:
                    raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes")
        return limit

    async def stream(self) -> AsyncIterator[bytes]:
        """Yield the body in chunks as they arrive, refusing it past `max_body_size`.

        The body can be streamed once, and not after `body()` unless `body()` read it whole.

        Raises:
            PayloadTooLarge: the declared or received size exceeds the limit.
            BadRequest: the Content-Length header is not a number.
            RuntimeError: the body was already streamed.
        """
        if self._body is not None:
            if self._body:
                yield self._body
            return
        limit = self._check_declared_length()
        self._streamed = True
        size = 0
        while True:
            message = await self._receive()
            kind = message["type"]
            if kind == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise PayloadTooLarge(
                            f"The request body exceeds the limit of {limit} bytes"
                        )
                    self._received = size
                    yield chunk
                if not message.get("more_body", False):
                    return
            elif kind == "http.disconnect":
                raise ClientDisconnected()

    async def form(self, limits: FormLimits | None = None) -> FormData:
        """Parse the urlencoded or multipart body once into FormData (cached).

        Uploaded files are closed after the response has been sent.

        Args:
            limits: the limits to parse under; `request.form_limits` (the defaults) if omitted.

        Raises:
            UnsupportedMediaType: the body is not a form.
            BadRequest: the body is malformed.
            PayloadTooLarge: the body or a part is over a limit.
        """
        if self._form is None:
            content_type = self.headers.get("content-type", "")
            form = await parse_form(content_type, self.stream(), limits or self.form_limits)
            if form.files():
                after_response(self.scope).append(form.close)
            self._form = form
        return self._form

    async def json(self) -> Any:
        """Decode the body as JSON (any shape).

        Raises:
            BadRequest: the body is not valid JSON.
        """
        import msgspec

        try:
            return decode_json(await self.body())
        except (msgspec.DecodeError, RecursionError) as error:
            raise BadRequest(f"The request body is not valid JSON: {error}") from None
        except UnicodeDecodeError:
            raise BadRequest("The request body is not valid JSON: it is not valid UTF-8") from None

    async def text(self) -> str:
        """Decode the body as UTF-8 text.

        Raises:
            BadRequest: the body is not valid UTF-8.
        """
        try:
            return (await self.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("The request body is not valid UTF-8") from None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


AFTER_RESPONSE = "ecko.after_response"
"""The scope key of the request's `AfterResponse`, present only once work was added."""


class AfterResponse(list[Callable[[], Awaitable[None]]]):
    """Work to run once the response has been sent: background tasks, closing uploads.

    The app awaits it after sending, still inside the request context. Each callback runs
    in order; a failure is logged with its traceback and the next still runs.
    """

    async def __call__(self) -> None:
        """Run every callback in order, logging failures."""
        for callback in self:
            try:
                await callback()
            except Exception:
                logger.exception("Work after the response failed in %r", callback)


def after_response(scope: Scope) -> AfterResponse:
    """Return the request's `AfterResponse`, creating it on first use."""
    work: AfterResponse | None = scope.get(AFTER_RESPONSE)
    if work is None:
        work = scope[AFTER_RESPONSE] = AfterResponse()
    return work


class ClientDisconnected(Exception):  # noqa: N818 - a state, not an error of the client
    """The client went away before the request body was fully received."""
