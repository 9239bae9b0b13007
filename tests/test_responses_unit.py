"""Direct tests of ecko.responses through a minimal fake ASGI server."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ecko.datastructures import MutableHeaders
from ecko.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
    to_response,
)
from ecko.types import Message

# --- a tiny ASGI harness --------------------------------------------------------------------


class Sent:
    """The messages a response sent, with helpers to read them."""

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        start = messages[0]
        assert start["type"] == "http.response.start"
        self.status: int = start["status"]
        self.raw_headers: list[tuple[bytes, bytes]] = start["headers"]
        self.body_messages = messages[1:]
        assert all(message["type"] == "http.response.body" for message in self.body_messages)

    @property
    def body(self) -> bytes:
        return b"".join(message.get("body", b"") for message in self.body_messages)

    @property
    def finished(self) -> bool:
        return bool(self.body_messages) and not self.body_messages[-1].get("more_body", False)

    def headers(self, name: str) -> list[str]:
        key = name.lower().encode("latin-1")
        return [value.decode("latin-1") for raw, value in self.raw_headers if raw == key]

    def header(self, name: str) -> str | None:
        values = self.headers(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


def make_scope(method: str = "GET", headers: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    }


async def call(
    response: Response, method: str = "GET", headers: Iterable[tuple[str, str]] = ()
) -> Sent:
    """Send `response` to a client that stays connected until the response ends."""
    messages: list[Message] = []
    request_read = False
    never = asyncio.Event()

    async def receive() -> Message:
        nonlocal request_read
        if not request_read:
            request_read = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        messages.append(message)

    await response(make_scope(method, headers), receive, send)
    return Sent(messages)


def run(response: Response, method: str = "GET", headers: Iterable[tuple[str, str]] = ()) -> Sent:
    return asyncio.run(call(response, method, headers))


# --- Response ------------------------------------------------------------------------------


def test_response_sends_body_with_content_length_and_nosniff() -> None:
    sent = run(Response("héllo", media_type="text/plain"))

    assert sent.status == 200
    assert sent.body == "héllo".encode()
    assert sent.header("content-length") == str(len("héllo".encode()))
    assert sent.header("content-type") == "text/plain; charset=utf-8"
    assert sent.header("x-content-type-options") == "nosniff"
    assert sent.finished
    assert len(sent.body_messages) == 1


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "make",
    [
        lambda: JSONResponse({"a": 1}),
        lambda: PlainTextResponse("hi", 201),
        lambda: Response(b"raw"),
        lambda: Response(None, 204),
    ],
)
def test_a_response_without_headers_sends_what_the_header_map_would(make: Any, method: str) -> None:
    # Without headers, sending skips building `headers`; touching them must change nothing.
    untouched, touched = make(), make()
    assert touched.headers.get("content-length") is None
    assert run(untouched, method).messages == run(touched, method).messages


def test_headers_of_a_response_made_without_them_are_editable() -> None:
    response = JSONResponse([1])
    response.headers["x-extra"] = "1"
    sent = run(response)

    assert sent.header("content-type") == "application/json"
    assert sent.header("x-extra") == "1"
    replaced = JSONResponse([1])
    replaced.headers = MutableHeaders({"x-only": "yes"})
    assert run(replaced).header("content-type") is None
    assert run(replaced).header("x-only") == "yes"


def test_header_names_are_lowercase_latin1_bytes() -> None:
    sent = run(Response(b"x", headers={"X-Custom": "Välue"}))

    assert (b"x-custom", "Välue".encode("latin-1")) in sent.raw_headers


def test_existing_nosniff_is_not_duplicated() -> None:
    response = Response(b"x", headers={"X-Content-Type-Options": "nosniff"})

    assert run(response).headers("x-content-type-options") == ["nosniff"]


def test_content_length_is_computed_from_the_body_at_send_time() -> None:
    response = Response(b"abc", headers={"Content-Length": "999"})
    response.body = b"abcdef"

    sent = run(response)

    assert sent.header("content-length") == "6"
    assert sent.body == b"abcdef"


def test_no_media_type_means_no_content_type() -> None:
    assert run(Response(b"raw")).header("content-type") is None


def test_explicit_content_type_header_wins_over_media_type() -> None:
    response = HTMLResponse("<p>", headers={"Content-Type": "text/x-custom"})

    assert run(response).header("content-type") == "text/x-custom"


def test_media_type_with_charset_is_left_alone() -> None:
    response = Response("x", media_type="text/csv; charset=latin-1")

    assert response.headers["content-type"] == "text/csv; charset=latin-1"


def test_html_and_plain_text_have_utf8_charset() -> None:
    assert HTMLResponse("<h1>Hi</h1>").headers["content-type"] == "text/html; charset=utf-8"
    assert PlainTextResponse("hi").headers["content-type"] == "text/plain; charset=utf-8"
    assert HTMLResponse("<h1>Hi</h1>").body == b"<h1>Hi</h1>"


def test_response_content_must_be_text_or_bytes() -> None:
    with pytest.raises(TypeError, match="JSONResponse"):
        Response({"a": 1})


def test_bytearray_and_memoryview_content_become_bytes() -> None:
    assert Response(bytearray(b"ab")).body == b"ab"
    assert Response(memoryview(b"cd")).body == b"cd"


def test_headers_are_case_insensitive_and_multi_valued() -> None:
    response = Response(headers=[("X-A", "1"), ("x-a", "2")])

    assert response.headers["X-A"] == "2"
    assert response.headers.getlist("x-a") == ["1", "2"]
    response.headers.add("X-a", "3")
    response.headers["Vary"] = "Accept"

    sent = run(response)

    assert sent.headers("x-a") == ["1", "2", "3"]
    assert sent.header("vary") == "Accept"


def test_underscore_headers_is_the_same_object_as_headers() -> None:
    response = Response()
    response._headers["X-Request-ID"] = "abc"

    assert response._headers is response.headers
    assert run(response).header("x-request-id") == "abc"


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: evil=1", "a\nb", "a\x00b"])
def test_header_injection_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Response(headers={"X-A": value})
    response = Response()
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        response.headers["X-A"] = value
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        response.headers.add(value, "ok")


def test_media_type_with_newline_is_refused() -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        Response("x", media_type="text/html\r\nX-Evil: 1")


def test_header_value_outside_latin1_is_refused_when_set() -> None:
    with pytest.raises(ValueError, match=r"X-Name.*outside Latin-1"):
        Response(headers={"X-Name": "日本"})


def test_head_sends_headers_and_full_length_without_body() -> None:
    sent = run(JSONResponse({"a": 1}), method="HEAD")

    assert sent.header("content-length") == str(len(b'{"a":1}'))
    assert sent.body == b""
    assert sent.finished


@pytest.mark.parametrize("status", [101, 204, 304])
def test_no_body_statuses_send_no_body_and_no_content_length(status: int) -> None:
    sent = run(Response(b"ignored", status_code=status, headers={"Content-Length": "7"}))

    assert sent.status == status
    assert sent.body == b""
    assert sent.header("content-length") is None
    assert sent.header("x-content-type-options") == "nosniff"


def test_repr_names_class_and_status() -> None:
    assert repr(JSONResponse([], status_code=201)) == "<JSONResponse 201>"


# --- cookies -------------------------------------------------------------------------------


def test_set_cookie_defaults_are_httponly_samesite_lax_path_root() -> None:
    response = Response()
    response.set_cookie("sid", "abc123")

    assert response.headers.getlist("set-cookie") == ["sid=abc123; Path=/; HttpOnly; SameSite=Lax"]


def test_set_cookie_with_every_attribute() -> None:
    response = Response()
    response.set_cookie(
        "sid",
        "v",
        max_age=3600,
        expires=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        path="/app",
        domain="example.com",
        secure=True,
        httponly=False,
        samesite="strict",
        partitioned=True,
    )

    assert response.headers["set-cookie"] == (
        "sid=v; Max-Age=3600; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/app; "
        "Domain=example.com; Secure; SameSite=Strict; Partitioned"
    )


def test_set_cookie_expires_accepts_seconds_naive_datetime_and_string() -> None:
    response = Response()
    before = datetime.now(UTC).replace(microsecond=0)
    response.set_cookie("a", "1", expires=60)
    response.set_cookie("b", "2", expires=datetime(2030, 1, 2, 3, 4, 5))
    response.set_cookie("c", "3", expires="Thu, 01 Jan 2099 00:00:00 GMT")

    first, second, third = response.headers.getlist("set-cookie")
    expires = parsedate_to_datetime(first.split("Expires=")[1].split(";")[0])
    assert before + timedelta(seconds=59) <= expires <= before + timedelta(seconds=62)
    assert "Expires=Wed, 02 Jan 2030 03:04:05 GMT" in second
    assert "Expires=Thu, 01 Jan 2099 00:00:00 GMT" in third


def test_set_cookie_path_none_omits_the_attribute() -> None:
    response = Response()
    response.set_cookie("a", "1", path=None)

    assert response.headers["set-cookie"] == "a=1; HttpOnly; SameSite=Lax"


def test_samesite_none_is_omitted_and_case_insensitive() -> None:
    response = Response()
    response.set_cookie("a", "1", samesite=None)
    response.set_cookie("b", "2", samesite="NONE", secure=True)

    first, second = response.headers.getlist("set-cookie")
    assert "SameSite" not in first
    assert second.endswith("Secure; HttpOnly; SameSite=None")


def test_several_cookies_become_several_set_cookie_headers() -> None:
    response = Response()
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")

    assert [value.split(";")[0] for value in run(response).headers("set-cookie")] == [
        "a=1",
        "b=2",
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sid", "a;b"),
        ("sid", "a\r\nSet-Cookie: x=y"),
        ("sid", "a\x00"),
        ("sid", "café"),
        ("s id", "v"),
        ("s;id", "v"),
        ("", "v"),
        ("s\nid", "v"),
    ],
)
def test_set_cookie_refuses_unsafe_names_and_values(key: str, value: str) -> None:
    with pytest.raises(ValueError, match="Cookie"):
        Response().set_cookie(key, value)


def test_set_cookie_refuses_unsafe_attributes() -> None:
    response = Response()
    with pytest.raises(ValueError, match="Cookie path"):
        response.set_cookie("a", "1", path="/; Domain=evil.com")
    with pytest.raises(ValueError, match="Cookie domain"):
        response.set_cookie("a", "1", domain="x\r\ny")
    with pytest.raises(ValueError, match="Cookie expires"):
        response.set_cookie("a", "1", expires="now; Secure")
    assert "set-cookie" not in response.headers


def test_set_cookie_refuses_combinations_browsers_drop() -> None:
    response = Response()
    with pytest.raises(ValueError, match="partitioned=True requires secure=True"):
        response.set_cookie("a", "1", partitioned=True)
    with pytest.raises(ValueError, match="samesite='none' requires secure=True"):
        response.set_cookie("a", "1", samesite="none")
    with pytest.raises(ValueError, match="samesite must be"):
        response.set_cookie("a", "1", samesite="sometimes")


def test_delete_cookie_expires_it_with_matching_path_and_domain() -> None:
    response = Response()
    response.delete_cookie("sid", path="/app", domain="example.com")

    assert response.headers["set-cookie"] == (
        "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/app; "
        "Domain=example.com; HttpOnly; SameSite=Lax"
    )


# --- JSON ----------------------------------------------------------------------------------


class User(msgspec.Struct):
    name: str
    age: int


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_json_response_encodes_structs_and_dataclasses() -> None:
    sent = run(JSONResponse({"user": User("ada", 36), "point": Point(1, 2)}, status_code=201))

    assert sent.status == 201
    assert msgspec.json.decode(sent.body) == {
        "user": {"name": "ada", "age": 36},
        "point": {"x": 1, "y": 2},
    }
    assert sent.header("content-type") == "application/json"


def test_json_response_of_unencodable_value_raises_type_error() -> None:
    with pytest.raises(TypeError, match="object"):
        JSONResponse(object())


# --- redirects -----------------------------------------------------------------------------


def test_redirect_defaults_to_307_with_location_and_empty_body() -> None:
    sent = run(RedirectResponse("/login?next=/a&b=1#top"))

    assert sent.status == 307
    assert sent.header("location") == "/login?next=/a&b=1#top"
    assert sent.body == b""
    assert sent.header("content-length") == "0"


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
def test_redirect_accepts_any_3xx(status: int) -> None:
    assert RedirectResponse("/x", status_code=status).status_code == status


@pytest.mark.parametrize("status", [200, 299, 400, 404, 500])
def test_redirect_refuses_non_3xx(status: int) -> None:
    with pytest.raises(ValueError, match="3xx"):
        RedirectResponse("/x", status_code=status)


@pytest.mark.parametrize("url", ["/a\r\nSet-Cookie: x=1", "/a\nb", "/a\x00"])
def test_redirect_refuses_header_injection(url: str) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        RedirectResponse(url)


def test_redirect_percent_encodes_unsafe_characters_only() -> None:
    response = RedirectResponse("https://example.com/caf\u00e9 menu/%41?q=a b&x=[1]")

    assert response.headers["location"] == (
        "https://example.com/caf%C3%A9%20menu/%41?q=a%20b&x=[1]"
    )


def test_redirect_keeps_extra_headers() -> None:
    response = RedirectResponse("/x", headers={"Cache-Control": "no-store"})

    assert response.headers["cache-control"] == "no-store"


# --- streaming -----------------------------------------------------------------------------


def test_streaming_sync_iterable_sends_each_chunk_with_more_body() -> None:
    def chunks() -> Iterator[str | bytes]:
        yield "hé"
        yield b""
        yield b"llo"

    sent = run(StreamingResponse(chunks(), media_type="text/plain"))

    assert [m["body"] for m in sent.body_messages] == ["hé".encode(), b"llo", b""]
    assert [m["more_body"] for m in sent.body_messages] == [True, True, False]
    assert sent.header("content-length") is None
    assert sent.header("content-type") == "text/plain; charset=utf-8"
    assert sent.header("x-content-type-options") == "nosniff"


def test_streaming_runs_sync_iterators_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def chunks() -> Iterator[bytes]:
        threads.append(threading.get_ident())
        yield b"x"

    run(StreamingResponse(chunks()))

    assert threads
    assert loop_thread not in threads


def test_streaming_async_iterable() -> None:
    async def chunks() -> AsyncIterator[str]:
        for part in ("a", "b", "c"):
            await asyncio.sleep(0)
            yield part

    sent = run(StreamingResponse(chunks(), status_code=201))

    assert sent.status == 201
    assert sent.body == b"abc"
    assert sent.finished


def test_streaming_a_list_works() -> None:
    assert run(StreamingResponse([b"a", "b"])).body == b"ab"


def test_streaming_accepts_bytearray_and_memoryview_chunks() -> None:
    chunks: list[Any] = [bytearray(b"a"), memoryview(b"b")]

    assert run(StreamingResponse(chunks)).body == b"ab"


def test_streaming_head_sends_no_body_and_does_not_iterate() -> None:
    started = False

    def chunks() -> Iterator[bytes]:
        nonlocal started
        started = True
        yield b"x"

    sent = run(StreamingResponse(chunks()), method="HEAD")

    assert sent.body == b""
    assert sent.finished
    assert started is False


def test_streaming_chunk_of_wrong_type_raises() -> None:
    with pytest.raises(TypeError, match="bytes or str"):
        run(StreamingResponse([b"a", 3]))  # type: ignore[list-item]


async def stream_until_client_leaves(response: Response, chunks_before_leaving: int) -> Sent:
    """Play a client that disconnects after receiving `chunks_before_leaving` chunks."""
    messages: list[Message] = []
    gone = asyncio.Event()

    async def receive() -> Message:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        messages.append(message)
        if len(messages) > chunks_before_leaving:
            gone.set()
        await asyncio.sleep(0)  # a real server yields to the loop while writing

    await response(make_scope(), receive, send)
    return Sent(messages)


def test_disconnect_stops_and_closes_an_infinite_async_generator() -> None:
    closed = False

    async def forever() -> AsyncIterator[bytes]:
        nonlocal closed
        try:
            while True:
                yield b"tick"
        finally:
            closed = True

    sent = asyncio.run(stream_until_client_leaves(StreamingResponse(forever()), 3))

    assert closed
    assert len(sent.body_messages) >= 3
    assert not sent.finished


def test_disconnect_stops_and_closes_an_infinite_sync_generator() -> None:
    closed = threading.Event()

    def forever() -> Iterator[bytes]:
        try:
            while True:
                yield b"tick"
        finally:
            closed.set()

    sent = asyncio.run(stream_until_client_leaves(StreamingResponse(forever()), 3))

    assert closed.is_set()
    assert len(sent.body_messages) >= 3


def test_disconnect_while_async_generator_waits_cancels_it() -> None:
    cancelled = False

    async def scenario() -> Sent:
        messages: list[Message] = []
        waiting = asyncio.Event()

        async def waits_forever() -> AsyncIterator[bytes]:
            nonlocal cancelled
            yield b"first"
            try:
                waiting.set()
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled = True
                raise
            yield b"never"

        async def receive() -> Message:
            await waiting.wait()  # the client leaves while the generator waits for data
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            messages.append(message)

        await StreamingResponse(waits_forever())(make_scope(), receive, send)
        return Sent(messages)

    sent = asyncio.run(scenario())

    assert cancelled
    assert sent.body == b"first"
    assert not sent.finished


def test_send_raising_oserror_stops_streaming_cleanly() -> None:
    closed = False

    async def forever() -> AsyncIterator[bytes]:
        nonlocal closed
        try:
            while True:
                yield b"tick"
        finally:
            closed = True

    async def scenario() -> int:
        count = 0
        never = asyncio.Event()

        async def receive() -> Message:
            await never.wait()
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            nonlocal count
            count += 1
            if count > 2:
                raise ConnectionResetError("client gone")

        await StreamingResponse(forever())(make_scope(), receive, send)
        return count

    assert asyncio.run(scenario()) == 3
    assert closed


def test_client_gone_before_headers_stops_without_iterating() -> None:
    started = False

    def chunks() -> Iterator[bytes]:
        nonlocal started
        started = True
        yield b"x"

    async def scenario() -> None:
        async def receive() -> Message:
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            raise BrokenPipeError

        await StreamingResponse(chunks())(make_scope(), receive, send)

    asyncio.run(scenario())

    assert started is False


def test_oserror_from_the_iterator_itself_propagates() -> None:
    def broken() -> Iterator[bytes]:
        yield b"a"
        raise OSError("disk failed")

    with pytest.raises(OSError, match="disk failed"):
        run(StreamingResponse(broken()))


# --- files ---------------------------------------------------------------------------------

CONTENT = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    return path


def test_file_response_sends_whole_file_with_validators(data_file: Path) -> None:
    sent = run(FileResponse(data_file))

    assert sent.status == 200
    assert sent.body == CONTENT
    assert sent.header("content-length") == str(len(CONTENT))
    assert sent.header("content-type") == "application/octet-stream"
    assert sent.header("accept-ranges") == "bytes"
    assert sent.header("last-modified") == formatdate(1_700_000_000, usegmt=True)
    etag = sent.header("etag")
    assert etag is not None
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert sent.header("x-content-type-options") == "nosniff"
    assert sent.finished


def test_file_etag_changes_when_the_file_changes(data_file: Path) -> None:
    before = run(FileResponse(data_file)).header("etag")
    data_file.write_bytes(CONTENT + b"!")

    assert run(FileResponse(data_file)).header("etag") != before


def test_file_larger_than_chunk_size_arrives_in_several_messages(data_file: Path) -> None:
    sent = run(FileResponse(data_file, chunk_size=4096))

    assert [len(m["body"]) for m in sent.body_messages] == [4096, 4096, 2048]
    assert [m["more_body"] for m in sent.body_messages] == [True, True, False]
    assert sent.body == CONTENT


def test_file_over_a_mebibyte_is_read_in_several_hops_and_sent_by_chunk_size(
    tmp_path: Path,
) -> None:
    big = tmp_path / "big.bin"
    content = os.urandom(2 * 1024 * 1024 + 5)
    big.write_bytes(content)

    sent = run(FileResponse(big))

    assert {len(m["body"]) for m in sent.body_messages[:-1]} == {64 * 1024}
    assert len(sent.body_messages[-1]["body"]) == 5
    assert [m["more_body"] for m in sent.body_messages][-2:] == [True, False]
    assert sent.body == content


def test_file_media_type_is_guessed_with_charset_for_text(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    archive = tmp_path / "site.tar.gz"
    archive.write_bytes(b"\x1f\x8b")

    assert run(FileResponse(text)).header("content-type") == "text/plain; charset=utf-8"
    assert run(FileResponse(archive)).header("content-type") == "application/gzip"
    assert run(FileResponse(text, filename="x.json")).header("content-type") == "application/json"
    assert run(FileResponse(text, media_type="text/csv")).header("content-type") == (
        "text/csv; charset=utf-8"
    )


def test_file_filename_sets_content_disposition(data_file: Path) -> None:
    plain = run(FileResponse(data_file, filename='report "q1".pdf'))
    accented = run(FileResponse(data_file, filename="résumé 1.pdf"))
    inline = run(FileResponse(data_file, filename="a.txt", content_disposition_type="inline"))

    assert plain.header("content-disposition") == 'attachment; filename="report \\"q1\\".pdf"'
    assert accented.header("content-disposition") == (
        "attachment; filename*=utf-8''r%C3%A9sum%C3%A9%201.pdf"
    )
    assert inline.header("content-disposition") == 'inline; filename="a.txt"'
    assert plain.header("content-type") == "application/pdf"


def test_file_filename_with_newline_is_refused(data_file: Path) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        FileResponse(data_file, filename="a\r\nb.txt")


def test_missing_file_sends_404_problem(tmp_path: Path) -> None:
    sent = run(FileResponse(tmp_path / "nope.txt"))

    assert sent.status == 404
    assert sent.header("content-type") == "application/problem+json"
    assert msgspec.json.decode(sent.body) == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "File not found",
    }


def test_directory_sends_404_problem(tmp_path: Path) -> None:
    assert run(FileResponse(tmp_path)).status == 404
    assert run(FileResponse(tmp_path / "x" / "y")).status == 404


def test_given_stat_result_is_used(data_file: Path) -> None:
    stat_result = data_file.stat()

    sent = run(FileResponse(data_file, stat_result=stat_result))

    assert sent.body == CONTENT
    assert sent.header("last-modified") == formatdate(stat_result.st_mtime, usegmt=True)


def test_given_stat_result_but_file_gone_sends_404(data_file: Path) -> None:
    stat_result = data_file.stat()
    data_file.unlink()

    assert run(FileResponse(data_file, stat_result=stat_result)).status == 404


def test_file_that_shrank_after_stat_ends_the_body(data_file: Path) -> None:
    stat_result = data_file.stat()
    data_file.write_bytes(CONTENT[:100])

    sent = run(FileResponse(data_file, stat_result=stat_result))

    assert sent.body == CONTENT[:100]
    assert sent.finished


def test_file_head_sends_headers_only(data_file: Path) -> None:
    sent = run(FileResponse(data_file), method="HEAD", headers=[("Range", "bytes=0-1")])

    assert sent.status == 200
    assert sent.body == b""
    assert sent.header("content-length") == str(len(CONTENT))
    assert sent.finished


def test_user_etag_header_is_kept(data_file: Path) -> None:
    response = FileResponse(data_file, headers={"ETag": '"v1"'})

    sent = run(response, headers=[("If-None-Match", '"v1"')])

    assert sent.status == 304
    assert sent.header("etag") == '"v1"'


def etag_of(path: Path) -> str:
    etag = run(FileResponse(path), method="HEAD").header("etag")
    assert etag is not None
    return etag


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"other", {etag}', '"a,b" ,W/{etag}', "sloppy, {etag}", "*"],
)
def test_if_none_match_sends_304(data_file: Path, if_none_match: str) -> None:
    etag = etag_of(data_file)

    sent = run(
        FileResponse(data_file), headers=[("If-None-Match", if_none_match.format(etag=etag))]
    )

    assert sent.status == 304
    assert sent.body == b""
    assert sent.header("content-length") is None
    assert sent.header("content-type") is None
    assert sent.header("etag") == etag
    assert sent.finished


def test_if_none_match_mismatch_sends_full_file_and_overrides_date(data_file: Path) -> None:
    sent = run(
        FileResponse(data_file),
        headers=[
            ("If-None-Match", '"something-else"'),
            ("If-Modified-Since", formatdate(1_800_000_000, usegmt=True)),
        ],
    )

    assert sent.status == 200
    assert sent.body == CONTENT


@pytest.mark.parametrize(
    ("since", "status"),
    [(1_700_000_000, 304), (1_800_000_000, 304), (1_600_000_000, 200)],
)
def test_if_modified_since(data_file: Path, since: int, status: int) -> None:
    sent = run(
        FileResponse(data_file), headers=[("If-Modified-Since", formatdate(since, usegmt=True))]
    )

    assert sent.status == status


@pytest.mark.parametrize(
    "since",
    [
        "Tue, 14 Nov 2023 22:13:20 GMT",  # IMF-fixdate: exactly the file's mtime
        "Tuesday, 14-Nov-23 22:13:20 GMT",  # obsolete RFC 850 format
        "Tue Nov 14 22:13:20 2023",  # asctime
    ],
)
def test_if_modified_since_accepts_every_http_date_format(data_file: Path, since: str) -> None:
    assert run(FileResponse(data_file), headers=[("If-Modified-Since", since)]).status == 304


@pytest.mark.parametrize(
    "since",
    [
        "yesterday",
        "Tue, 14 Nov 2023 22:13:20 +0100",
        "Tue, 14 Foo 2023 22:13:20 GMT",
        "Tue, 32 Nov 2023 22:13:20 GMT",
        "Tue, 14 Nov 2023 22:13 GMT",
        "Tue Nov 14 25:13:20 2023",
        "Sun, 06 Nov 99999999999 08:49:37 GMT",  # a year datetime cannot hold
        "Sun Nov  6 08:49:99999999999999999999 1994",
    ],
)
def test_invalid_if_modified_since_is_ignored(data_file: Path, since: str) -> None:
    assert run(FileResponse(data_file), headers=[("If-Modified-Since", since)]).status == 200


def test_conditionals_do_not_apply_to_non_200_file_responses(data_file: Path) -> None:
    sent = run(
        FileResponse(data_file, status_code=404),
        headers=[("If-None-Match", "*"), ("Range", "bytes=0-1")],
    )

    assert sent.status == 404
    assert sent.body == CONTENT


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-", 100, len(CONTENT) - 1),
        ("bytes=-500", len(CONTENT) - 500, len(CONTENT) - 1),
        ("bytes=-99999", 0, len(CONTENT) - 1),
        ("bytes=10000-99999", 10000, len(CONTENT) - 1),
        ("BYTES=5-5", 5, 5),
        ("bytes=0-10, 5-15", 0, 15),
        ("bytes=20-29,30-39", 20, 39),
        ("bytes=0-9,99999-", 0, 9),
        ("bytes=0-4,,5-9", 0, 9),
    ],
)
def test_single_range_sends_206(data_file: Path, range_header: str, start: int, end: int) -> None:
    sent = run(FileResponse(data_file), headers=[("Accept", "*/*"), ("Range", range_header)])

    assert sent.status == 206
    assert sent.header("content-range") == f"bytes {start}-{end}/{len(CONTENT)}"
    assert sent.header("content-length") == str(end - start + 1)
    assert sent.body == CONTENT[start : end + 1]
    assert sent.header("content-type") == "application/octet-stream"
    assert sent.finished


def test_range_is_read_in_chunks(data_file: Path) -> None:
    sent = run(FileResponse(data_file, chunk_size=1000), headers=[("Range", "bytes=100-2599")])

    assert [len(m["body"]) for m in sent.body_messages] == [1000, 1000, 500]
    assert sent.body == CONTENT[100:2600]


def parse_byteranges(sent: Sent) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart/byteranges body into (part headers, part data)."""
    content_type = sent.header("content-type")
    assert content_type is not None
    media_type, _, parameter = content_type.partition("; ")
    assert media_type == "multipart/byteranges"
    boundary = parameter.removeprefix("boundary=").encode()
    body = sent.body
    assert sent.header("content-length") == str(len(body))
    assert body.startswith(b"--" + boundary + b"\r\n")
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n")
    pieces = (b"\r\n" + body).split(b"\r\n--" + boundary)
    assert pieces[0] == b""
    assert pieces[-1] == b"--\r\n"
    parts = []
    for piece in pieces[1:-1]:
        head, _, data = piece.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = dict(line.decode().split(": ", 1) for line in head.split(b"\r\n"))
        parts.append((headers, data))
    return parts


def test_multiple_ranges_send_multipart_byteranges(data_file: Path) -> None:
    sent = run(
        FileResponse(data_file, chunk_size=300),
        headers=[("Range", "bytes=5000-5999, 0-9, -10, 3-12")],
    )

    assert sent.status == 206
    assert sent.header("content-range") is None
    size = len(CONTENT)
    assert parse_byteranges(sent) == [
        (
            {"Content-Type": "application/octet-stream", "Content-Range": f"bytes 0-12/{size}"},
            CONTENT[0:13],
        ),
        (
            {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"bytes 5000-5999/{size}",
            },
            CONTENT[5000:6000],
        ),
        (
            {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"bytes {size - 10}-{size - 1}/{size}",
            },
            CONTENT[-10:],
        ),
    ]
    assert sent.finished


def test_multipart_parts_carry_the_file_media_type(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text("<html>" + "x" * 100 + "</html>")

    sent = run(FileResponse(path), headers=[("Range", "bytes=0-5,-7")])

    assert [headers["Content-Type"] for headers, _ in parse_byteranges(sent)] == [
        "text/html; charset=utf-8",
        "text/html; charset=utf-8",
    ]
    assert [data for _, data in parse_byteranges(sent)] == [b"<html>", b"</html>"]


@pytest.mark.parametrize(
    "range_header",
    [
        "bytes=10240-",
        "bytes=99999-100000",
        "bytes=-0",
        "bytes=abc",
        "bytes=5-1",
        "bytes=1",
        "bytes=-x",
        "bytes=x-5",
        "bytes=0-1,zz",
    ],
)
def test_unsatisfiable_or_invalid_range_sends_416(data_file: Path, range_header: str) -> None:
    sent = run(FileResponse(data_file), headers=[("Range", range_header)])

    assert sent.status == 416
    assert sent.header("content-range") == f"bytes */{len(CONTENT)}"
    assert sent.header("content-type") == "application/problem+json"
    assert msgspec.json.decode(sent.body)["status"] == 416


@pytest.mark.parametrize("range_header", ["items=0-5", "0-5", "bytes 0-5"])
def test_range_in_another_unit_is_ignored(data_file: Path, range_header: str) -> None:
    sent = run(FileResponse(data_file), headers=[("Range", range_header)])

    assert sent.status == 200
    assert sent.body == CONTENT


def test_too_many_ranges_send_the_whole_file(data_file: Path) -> None:
    many = ",".join(f"{n}-{n}" for n in range(0, 400, 2))

    assert run(FileResponse(data_file), headers=[("Range", f"bytes={many}")]).status == 200


def test_range_on_empty_file_sends_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")

    sent = run(FileResponse(path), headers=[("Range", "bytes=0-5")])

    assert sent.status == 200
    assert sent.body == b""
    assert sent.header("content-length") == "0"
    assert sent.finished


def test_if_range_with_matching_etag_sends_range(data_file: Path) -> None:
    etag = etag_of(data_file)

    sent = run(FileResponse(data_file), headers=[("Range", "bytes=0-1"), ("If-Range", etag)])

    assert sent.status == 206
    assert sent.body == CONTENT[:2]


@pytest.mark.parametrize(
    "if_range",
    ['"stale"', "W/{etag}", "{date_before}", "not a date", "Sun, 06 Nov 99999999999 08:49:37 GMT"],
)
def test_if_range_mismatch_sends_whole_file(data_file: Path, if_range: str) -> None:
    value = if_range.format(
        etag=etag_of(data_file), date_before=formatdate(1_600_000_000, usegmt=True)
    )

    sent = run(FileResponse(data_file), headers=[("Range", "bytes=0-1"), ("If-Range", value)])

    assert sent.status == 200
    assert sent.body == CONTENT


def test_if_range_with_matching_date_sends_range(data_file: Path) -> None:
    date = formatdate(1_700_000_000, usegmt=True)

    sent = run(FileResponse(data_file), headers=[("Range", "bytes=2-3"), ("If-Range", date)])

    assert sent.status == 206
    assert sent.body == CONTENT[2:4]


def test_file_response_refuses_zero_chunk_size(data_file: Path) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        FileResponse(data_file, chunk_size=0)


# --- to_response ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1}, {"a": 1}),
        ([1, 2], [1, 2]),
        (User("ada", 36), {"name": "ada", "age": 36}),
        (Point(1, 2), {"x": 1, "y": 2}),
        (42, 42),
        (True, True),
        (1.5, 1.5),
    ],
)
def test_to_response_encodes_data_as_json(value: object, expected: object) -> None:
    response = to_response(value)

    assert type(response) is JSONResponse
    assert response.status_code == 200
    assert msgspec.json.decode(response.body) == expected


def test_to_response_uses_the_given_status() -> None:
    assert to_response({"a": 1}, 201).status_code == 201
    assert to_response("made", 201).status_code == 201


def test_to_response_str_is_plain_text() -> None:
    response = to_response("héllo")

    assert type(response) is PlainTextResponse
    assert response.body == "héllo".encode()
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_to_response_str_subclass_is_plain_text() -> None:
    class Name(str):
        pass

    assert type(to_response(Name("ada"))) is PlainTextResponse


@pytest.mark.parametrize("value", [b"\x00\x01", bytearray(b"\x00\x01"), memoryview(b"\x00\x01")])
def test_to_response_bytes_are_octet_stream(value: bytes | bytearray | memoryview) -> None:
    response = to_response(value)

    assert response.body == b"\x00\x01"
    assert response.headers["content-type"] == "application/octet-stream"


def test_to_response_none_is_204_or_the_given_status() -> None:
    empty = run(to_response(None))
    created = run(to_response(None, 201))

    assert (empty.status, empty.body, empty.header("content-length")) == (204, b"", None)
    assert (created.status, created.body, created.header("content-length")) == (201, b"", "0")


def test_to_response_returns_a_response_as_is() -> None:
    response = HTMLResponse("<p>", status_code=202)

    assert to_response(response) is response
    assert to_response(response, 201) is response
    assert response.status_code == 202


def test_to_response_tuple_with_status() -> None:
    response = to_response(({"created": True}, 201))

    assert type(response) is JSONResponse
    assert response.status_code == 201
    assert response.body == b'{"created":true}'


def test_to_response_tuple_with_status_and_headers() -> None:
    response = to_response(({"data": "value"}, 200, {"X-Custom": "header"}))

    assert response.status_code == 200
    assert response.headers["x-custom"] == "header"
    assert response.headers["content-type"] == "application/json"


def test_to_response_tuple_with_headers_keeps_default_status() -> None:
    response = to_response(("text", {"X-A": "1"}), 201)

    assert type(response) is PlainTextResponse
    assert response.status_code == 201
    assert response.headers["x-a"] == "1"


def test_to_response_tuple_headers_replace_existing_ones() -> None:
    response = to_response(({"a": 1}, {"Content-Type": "application/vnd.api+json"}))

    assert response.headers.getlist("content-type") == ["application/vnd.api+json"]


def test_to_response_tuple_accepts_mutable_headers_with_several_values() -> None:
    headers = MutableHeaders([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])

    response = to_response(("ok", 200, headers))

    assert response.headers.getlist("set-cookie") == ["a=1", "b=2"]


def test_to_response_tuple_applies_status_and_headers_to_a_response() -> None:
    inner = HTMLResponse("<p>", headers={"X-A": "old"})

    response = to_response((inner, 202, {"X-A": "new"}))

    assert response is inner
    assert response.status_code == 202
    assert response.headers.getlist("x-a") == ["new"]


def test_to_response_tuple_with_none_body() -> None:
    assert to_response((None, {"X-A": "1"})).status_code == 204
    assert to_response((None, 200)).status_code == 200
    assert to_response((None, 201)).status_code == 201


def test_to_response_tuple_body_inside_a_tuple_is_a_json_array() -> None:
    response = to_response(((1, 2), 201))

    assert response.body == b"[1,2]"
    assert response.status_code == 201


def test_to_response_of_a_coroutine_says_to_await_it() -> None:
    async def compute() -> int:
        return 1

    coroutine = compute()
    try:
        with pytest.raises(TypeError, match="returned a coroutine: await it"):
            to_response(coroutine)
    finally:
        coroutine.close()


def test_to_response_of_an_unencodable_value_raises_type_error() -> None:
    with pytest.raises(TypeError, match="object"):
        to_response(object())


@pytest.mark.parametrize(
    "value",
    [
        (),
        ("a",),
        ("a", "b"),
        ("a", True),
        ("a", 42),
        ("a", {"X": "1"}, 200),
        ("a", 200, {"X": "1"}, "extra"),
        (1, 2),
    ],
)
def test_to_response_other_tuples_raise_naming_the_allowed_shapes(value: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError, match=r"\(body, status\), \(body, status, headers\)"):
        to_response(value)
