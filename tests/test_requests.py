from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from ecko import BadRequest, Ecko, PayloadTooLarge, Request
from ecko.requests import ClientDisconnected, parse_cookies
from ecko.types import Message, Scope
from tests.conftest import ClientFactory


class RawExchange:
    """One HTTP request sent straight to an ASGI app, counting the app's receive() calls."""

    def __init__(
        self,
        app: Ecko[Any],
        method: str,
        path: str,
        *,
        query_string: bytes = b"",
        headers: Sequence[tuple[bytes, bytes]] = (),
        chunks: Sequence[bytes] = (b"",),
    ) -> None:
        self.receive_calls = 0
        self.sent: list[Message] = []
        self._messages: list[Message] = [
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            for index, chunk in enumerate(chunks)
        ]
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query_string,
            "root_path": "",
            "headers": [(b"host", b"testserver"), *headers],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
        }
        asyncio.run(app(scope, self._receive, self._send))

    async def _receive(self) -> Message:
        self.receive_calls += 1
        if self._messages:
            return self._messages.pop(0)
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        status: int = self.sent[0]["status"]
        return status

    @property
    def body(self) -> bytes:
        return b"".join(message.get("body", b"") for message in self.sent[1:])

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


def make_request(
    messages: Sequence[Message], headers: Sequence[tuple[bytes, bytes]] = (), **options: Any
) -> Request:
    """Build a Request over a fixed list of receive() messages."""
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": list(headers),
    }
    return Request(scope, receive, **options)


# --- the request view -------------------------------------------------------------------------


def test_request_exposes_method_url_headers_query_and_cookies(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/users/{user_id}")
    def inspect_request(request: Request) -> dict[str, Any]:
        return {
            "method": request.method,
            "path": request.path,
            "url": str(request.url),
            "accept": request.headers.get("ACCEPT"),
            "tags": request.query_params.getlist("tag"),
            "cookies": request.cookies,
            "client": request.client,
            "path_params": request.path_params,
            "app_is_app": request.app is app,
            "repr": repr(request),
        }

    response = client_for(app).get(
        "/users/7?tag=a&tag=b",
        headers={"Accept": "text/x-test", "Cookie": 'sid=abc; theme="dark mode"'},
    )

    assert response.json() == {
        "method": "GET",
        "path": "/users/7",
        "url": "http://testserver/users/7?tag=a&tag=b",
        "accept": "text/x-test",
        "tags": ["a", "b"],
        "cookies": {"sid": "abc", "theme": "dark mode"},
        "client": ["testclient", 50000],
        "path_params": {"user_id": "7"},
        "app_is_app": True,
        "repr": "<Request GET /users/7>",
    }


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/JSON; charset=utf-8", "application/json"),
        ("text/plain", "text/plain"),
        (None, ""),
    ],
)
def test_content_type_is_the_bare_lower_cased_media_type(
    client_for: ClientFactory, header: str | None, expected: str
) -> None:
    app = Ecko()

    @app.post("/echo")
    async def echo(request: Request) -> str:
        return request.content_type

    headers = {"content-type": header} if header else {}
    assert client_for(app).post("/echo", content=b"x", headers=headers).text == expected


def test_request_state_is_per_request(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.before_request
    def remember(request: Request) -> None:
        assert not hasattr(request.state, "seen")
        request.state.seen = request.path

    @app.get("/{name}")
    def show(request: Request) -> str:
        seen: str = request.state.seen
        return seen

    client = client_for(app)

    assert client.get("/a").text == "/a"
    assert client.get("/b").text == "/b"


def test_body_is_read_once_and_cached(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        first = await request.body()
        second = await request.body()
        return {"same": first is second, "text": await request.text(), "json": await request.json()}

    response = client_for(app).post("/echo", content=b'{"a": [1, 2]}')

    assert response.json() == {"same": True, "text": '{"a": [1, 2]}', "json": {"a": [1, 2]}}


@pytest.mark.parametrize(
    ("body", "reader"),
    [
        (b"{nope", "json"),
        (b'{"k": "\xff"}', "json"),
        (b"[" * 100_000, "json"),
        (b"caf\xe9", "text"),
    ],
)
def test_unreadable_body_is_400(client_for: ClientFactory, body: bytes, reader: str) -> None:
    app = Ecko()

    @app.post("/read")
    async def read(request: Request) -> Any:
        return await (request.json() if reader == "json" else request.text())

    response = client_for(app, raise_server_exceptions=False).post("/read", content=body)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_body_streamed_in_chunks_is_joined() -> None:
    request = make_request(
        [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.request", "body": b"cd", "more_body": False},
        ]
    )

    assert asyncio.run(request.body()) == b"abcd"


def test_disconnect_before_the_body_ends_raises_client_disconnected() -> None:
    request = make_request(
        [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"}]
    )

    with pytest.raises(ClientDisconnected):
        asyncio.run(request.body())


# --- body size limit ----------------------------------------------------------------------------


def test_body_over_the_app_limit_is_413(client_for: ClientFactory) -> None:
    app = Ecko(max_body_size=16)

    @app.post("/items")
    def create(items: list[int]) -> int:
        return len(items)

    client = client_for(app)
    fits = client.post("/items", json=[1, 2, 3])
    too_big = client.post("/items", json=list(range(20)))

    assert fits.json() == 3
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == "application/problem+json"
    assert too_big.json()["detail"] == "The request body exceeds the limit of 16 bytes"


def test_route_limit_overrides_the_app_limit(client_for: ClientFactory) -> None:
    app = Ecko(max_body_size=16)

    @app.post("/big", max_body_size=1000)
    def big(items: list[int]) -> int:
        return len(items)

    @app.post("/small", max_body_size=4)
    async def small(request: Request) -> int:
        return len(await request.body())

    @app.post("/unlimited", max_body_size=None)
    async def unlimited(request: Request) -> int:
        return len(await request.body())

    client = client_for(app)

    assert client.post("/big", json=list(range(100))).json() == 100
    assert client.post("/small", content=b"1234").json() == 4
    assert client.post("/small", content=b"12345").status_code == 413
    assert client.post("/unlimited", content=b"x" * 100_000).json() == 100_000


def test_no_app_limit_reads_any_size(client_for: ClientFactory) -> None:
    app = Ecko(max_body_size=None)

    @app.post("/upload")
    async def upload(request: Request) -> int:
        return len(await request.body())

    assert client_for(app).post("/upload", content=b"x" * 3_000_000).json() == 3_000_000


def test_declared_length_over_the_limit_is_refused_without_reading() -> None:
    app = Ecko(max_body_size=10)

    @app.post("/items")
    def create(items: list[int]) -> int:
        return len(items)

    exchange = RawExchange(
        app,
        "POST",
        "/items",
        headers=[(b"content-type", b"application/json"), (b"content-length", b"1000")],
        chunks=[b"x" * 100] * 10,
    )

    assert exchange.status == 413
    assert exchange.receive_calls == 0


def test_streamed_body_stops_being_read_once_over_the_limit() -> None:
    app = Ecko(max_body_size=10)

    @app.post("/upload")
    async def upload(request: Request) -> int:
        return len(await request.body())

    exchange = RawExchange(app, "POST", "/upload", chunks=[b"abcd"] * 10)

    assert exchange.status == 413
    assert exchange.receive_calls == 3  # 4, 8, then 12 bytes: over 10, the rest stays unread


@pytest.mark.parametrize("declared", [b"ten", b"-1", b"1e3", b"\xd9\xa3"])
def test_malformed_content_length_is_400(declared: bytes) -> None:
    app = Ecko()

    @app.post("/upload")
    async def upload(request: Request) -> int:
        return len(await request.body())

    exchange = RawExchange(app, "POST", "/upload", headers=[(b"content-length", declared)])

    assert exchange.status == 400
    assert exchange.json()["detail"] == "The Content-Length header is not a valid number"


def test_size_limits_apply_in_the_request_itself() -> None:
    unlimited = make_request(
        [{"type": "http.request", "body": b"x" * 50, "more_body": False}], max_body_size=None
    )
    limited = make_request(
        [{"type": "http.request", "body": b"x" * 50, "more_body": False}], max_body_size=49
    )
    declared = make_request([], headers=[(b"content-length", b"50")], max_body_size=49)

    assert len(asyncio.run(unlimited.body())) == 50
    with pytest.raises(PayloadTooLarge):
        asyncio.run(limited.body())
    with pytest.raises(PayloadTooLarge):
        asyncio.run(declared.body())


# --- query strings ------------------------------------------------------------------------------


@pytest.mark.parametrize("query_string", [b"q=%ff", b"q=\xff", b"%ff=1", b"q=ok&q=%c3%28"])
def test_non_utf8_query_string_is_a_clean_400(query_string: bytes) -> None:
    app = Ecko()

    @app.get("/search")
    def search(q: str = "") -> str:
        return q

    @app.get("/raw")
    def raw(request: Request) -> int:
        return len(request.query_params)

    for path in ("/search", "/raw"):
        exchange = RawExchange(app, "GET", path, query_string=query_string)
        assert exchange.status == 400
        assert exchange.json()["detail"] == "The query string is not valid UTF-8"


def test_utf8_query_string_is_decoded(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/search")
    def search(q: str) -> str:
        return q

    assert client_for(app).get("/search?q=caf%C3%A9+%26+cr%C3%A8me").text == "café & crème"
    raw = RawExchange(app, "GET", "/search", query_string="q=日本".encode())
    assert raw.body.decode() == "日本"


def test_query_params_raise_bad_request_for_invalid_utf8() -> None:
    request = Request({"type": "http", "query_string": b"a=%80", "headers": []}, _no_receive)

    with pytest.raises(BadRequest, match="not valid UTF-8"):
        request.query_params  # noqa: B018 - the property access is the behaviour under test


async def _no_receive() -> Message:
    raise AssertionError("the body was read")


# --- cookies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, {}),
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=2;c=3", {"a": "1", "b": "2", "c": "3"}),
        ("  spaced  =  value  ", {"spaced": "value"}),
        ('quoted="hello world"', {"quoted": "hello world"}),
        ('escaped="a\\054b"', {"escaped": "a,b"}),
        ("token=a=b=c", {"token": "a=b=c"}),
        ("empty=", {"empty": ""}),
        ("flag; =nameless; ok=1", {"ok": "1"}),
        ("dup=1; dup=2", {"dup": "2"}),
        ('odd="unterminated', {"odd": '"unterminated'}),
        ("b64=YWJj==", {"b64": "YWJj=="}),
    ],
)
def test_parse_cookies(header: str | None, expected: dict[str, str]) -> None:
    assert parse_cookies(header) == expected


def test_client_port_is_an_int_even_when_the_server_sends_a_string() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    request = Request({"type": "http", "headers": [], "client": ("10.0.0.1", "5123")}, receive)
    assert request.client == ("10.0.0.1", 5123)


def test_replace_headers_refreshes_the_cached_headers_and_cookies() -> None:
    scope: Scope = {"type": "http", "headers": [(b"host", b"a"), (b"cookie", b"x=1")]}
    request = Request(scope, _no_receive)
    assert request.headers["host"] == "a"
    assert request.cookies == {"x": "1"}

    request.replace_headers([(b"host", b"b"), (b"cookie", b"x=2")])

    assert scope["headers"] == [(b"host", b"b"), (b"cookie", b"x=2")]
    assert request.headers["host"] == "b"
    assert request.cookies == {"x": "2"}
