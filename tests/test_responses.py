"""Handler return values and response classes, through the app and the test client."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ecko import (
    Ecko,
    FileResponse,
    HTMLResponse,
    HTTPException,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
    context,
)
from tests.conftest import ClientFactory


class User(msgspec.Struct):
    name: str
    age: int


@dataclasses.dataclass
class Point:
    x: int
    y: int


# --- return values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"message": "hi"}, {"message": "hi"}),
        ([1, "two", None], [1, "two", None]),
        (User("ada", 36), {"name": "ada", "age": 36}),
        (Point(1, 2), {"x": 1, "y": 2}),
    ],
    ids=["dict", "list", "struct", "dataclass"],
)
def test_data_return_values_become_200_json(
    client_for: ClientFactory, value: object, expected: object
) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> object:
        return value

    response = client_for(app).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected


def test_str_return_value_is_utf8_plain_text(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> str:
        return "héllo"

    response = client_for(app).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.content == "héllo".encode()


def test_bytes_return_value_is_octet_stream(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> bytes:
        return b"\x00\x01binary"

    response = client_for(app).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\x01binary"


def test_none_return_value_is_empty_204(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.delete("/items/{item_id}")
    def delete(item_id: int) -> None:
        return None

    response = client_for(app).delete("/items/3")
    assert response.status_code == 204
    assert response.content == b""
    assert "content-length" not in response.headers


def test_body_status_tuple_sets_the_status(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/users")
    def create_user(data: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return {"created": data}, 201

    response = client_for(app).post("/users", json={"name": "ada"})
    assert response.status_code == 201
    assert response.json() == {"created": {"name": "ada"}}


def test_body_status_headers_tuple_sets_status_and_headers(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> tuple[dict[str, str], int, dict[str, str]]:
        return {"data": "value"}, 202, {"X-Custom": "header"}

    response = client_for(app).get("/")
    assert response.status_code == 202
    assert response.headers["x-custom"] == "header"
    assert response.json() == {"data": "value"}


def test_body_headers_tuple_keeps_the_default_status(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> tuple[str, dict[str, str]]:
        return "text", {"X-Custom": "yes"}

    response = client_for(app).get("/")
    assert response.status_code == 200
    assert response.headers["x-custom"] == "yes"
    assert response.text == "text"


def test_route_status_code_applies_to_plain_return_values(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/things", status_code=201)
    def create() -> dict[str, bool]:
        return {"ok": True}

    assert client_for(app).post("/things").status_code == 201


def test_tuple_of_another_shape_is_a_logged_500(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> tuple[str, str]:
        return "a", "b"

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert "(body, status)" in caplog.text


def test_response_object_is_sent_as_is(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> Response:
        return Response("raw", 418, {"X-Tea": "pot"}, media_type="text/x-tea")

    response = client_for(app).get("/")
    assert response.status_code == 418
    assert response.headers["content-type"] == "text/x-tea; charset=utf-8"
    assert response.headers["x-tea"] == "pot"
    assert response.text == "raw"


def test_response_classes_set_their_media_types(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/html")
    def html() -> HTMLResponse:
        return HTMLResponse("<h1>Hello</h1>")

    @app.get("/json")
    def json() -> JSONResponse:
        return JSONResponse({"a": [1, 2]}, 201)

    @app.get("/text")
    def text() -> PlainTextResponse:
        return PlainTextResponse("plain")

    client = client_for(app)
    html_response = client.get("/html")
    assert html_response.headers["content-type"] == "text/html; charset=utf-8"
    assert html_response.text == "<h1>Hello</h1>"
    json_response = client.get("/json")
    assert (json_response.status_code, json_response.json()) == (201, {"a": [1, 2]})
    assert client.get("/text").headers["content-type"] == "text/plain; charset=utf-8"


def test_response_with_status_tuple_overrides_its_status(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> tuple[HTMLResponse, int]:
        return HTMLResponse("<p>gone</p>"), 410

    response = client_for(app).get("/")
    assert response.status_code == 410
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_redirect_defaults_to_307(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/old")
    def old() -> RedirectResponse:
        return RedirectResponse("/login")

    @app.get("/moved")
    def moved() -> RedirectResponse:
        return RedirectResponse("/new?x=1", 301)

    client = client_for(app, follow_redirects=False)
    response = client.post("/old")
    assert response.status_code == 307
    assert response.headers["location"] == "/login"
    permanent = client.get("/moved")
    assert (permanent.status_code, permanent.headers["location"]) == (301, "/new?x=1")


def test_redirect_is_followed_by_the_client_with_method_kept(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/old")
    def old() -> RedirectResponse:
        return RedirectResponse("/new")

    @app.post("/new")
    def new(data: dict[str, Any]) -> dict[str, Any]:
        return {"got": data}

    response = client_for(app).post("/old", json={"a": 1})
    assert response.json() == {"got": {"a": 1}}


# --- headers and cookies --------------------------------------------------------------------


def test_headers_hold_several_values_for_one_name(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> Response:
        response = JSONResponse({"ok": True})
        response.headers.add("Set-Cookie", "a=1; Path=/")
        response.headers.add("Set-Cookie", "b=2; Path=/")
        response.headers["X-Single"] = "first"
        response.headers["X-Single"] = "second"
        return response

    response = client_for(app).get("/")
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.headers.get_list("x-single") == ["second"]


def test_after_request_hook_sets_headers_through_the_underscore_alias(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.after_request
    def add_headers(response: Response) -> Response:
        response._headers["X-Request-ID"] = "req-42"
        return response

    @app.get("/")
    def handler() -> dict[str, bool]:
        return {"ok": True}

    response = client_for(app).get("/")
    assert response.headers["x-request-id"] == "req-42"
    assert response.json() == {"ok": True}


def test_set_cookie_and_delete_cookie_send_set_cookie_headers(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/login")
    def login() -> Response:
        response = JSONResponse({"logged_in": True})
        response.set_cookie("session", "abc123", max_age=3600)
        response.set_cookie("theme", "dark", httponly=False, samesite="strict", secure=True)
        return response

    @app.post("/logout")
    def logout() -> Response:
        response = JSONResponse({"logged_out": True})
        response.delete_cookie("session")
        return response

    @app.get("/whoami")
    def whoami(session: str | None = None) -> dict[str, str | None]:
        return {"session": session}

    client = client_for(app)
    login_response = client.post("/login")
    cookies = login_response.headers.get_list("set-cookie")
    assert cookies == [
        "session=abc123; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax",
        "theme=dark; Path=/; Secure; SameSite=Strict",
    ]
    assert client.cookies["session"] == "abc123"
    logout_response = client.post("/logout")
    deleted = logout_response.headers["set-cookie"]
    assert deleted.startswith("session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    assert "session" not in client.cookies


@pytest.mark.parametrize(
    "value", ["a\r\nSet-Cookie: pwned=1", "a\nX-Injected: 1", "a\rb", "a\x00b"]
)
def test_control_characters_in_a_returned_header_value_give_a_500(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> tuple[str, dict[str, str]]:
        return "ok", {"X-Evil": value}

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "x-evil" not in response.headers
    assert "set-cookie" not in response.headers
    assert "x-injected" not in response.headers
    assert "contains CR, LF or NUL" in caplog.text


def test_control_characters_in_a_redirect_target_give_a_500(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    @app.get("/go")
    def go(to: str) -> RedirectResponse:
        return RedirectResponse(to)

    response = client_for(app, follow_redirects=False).get(
        "/go", params={"to": "/home\r\nSet-Cookie: pwned=1"}
    )
    assert response.status_code == 500
    assert response.json()["title"] == "Internal Server Error"
    assert "location" not in response.headers
    assert "set-cookie" not in response.headers
    assert "Redirect URL" in caplog.text


def test_control_characters_set_in_an_after_hook_give_a_500(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    @app.after_request
    def add_header(response: Response) -> Response:
        response.headers["X-Echo"] = "x\r\nSet-Cookie: pwned=1"
        return response

    @app.get("/")
    def handler() -> str:
        return "ok"

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert "after_request hook" in caplog.text


def test_non_latin1_header_value_gives_a_500_not_a_broken_response(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> tuple[str, dict[str, str]]:
        return "ok", {"X-Name": "日本"}

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert "x-name" not in response.headers
    assert "outside Latin-1" in caplog.text


def test_every_response_says_nosniff(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/ok")
    def ok() -> str:
        return "ok"

    @app.get("/empty")
    def empty() -> None:
        return None

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"a"]))

    client = client_for(app)
    for path, status in [("/ok", 200), ("/empty", 204), ("/boom", 500), ("/missing", 404)]:
        response = client.get(path)
        assert response.status_code == status
        assert response.headers["x-content-type-options"] == "nosniff", path
    assert client.get("/stream").headers["x-content-type-options"] == "nosniff"
    assert client.post("/ok").headers["x-content-type-options"] == "nosniff"  # 405


def test_a_handler_may_choose_its_own_nosniff_value_without_duplicates(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> tuple[str, dict[str, str]]:
        return "ok", {"X-Content-Type-Options": "nosniff"}

    response = client_for(app).get("/")
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]


# --- streaming ------------------------------------------------------------------------------


def test_sync_streaming_iterator_runs_in_the_threadpool(client_for: ClientFactory) -> None:
    app = Ecko()
    threads: list[str] = []

    @app.get("/")
    def handler() -> StreamingResponse:
        def chunks() -> Iterator[str]:
            for number in range(3):
                threads.append(threading.current_thread().name)
                yield f"{number},"

        return StreamingResponse(chunks(), media_type="text/csv")

    response = client_for(app).get("/")
    assert response.text == "0,1,2,"
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "content-length" not in response.headers
    assert len(threads) == 3
    assert all(name.startswith("ecko-sync") for name in threads)


def test_async_streaming_iterator_runs_on_the_event_loop(client_for: ClientFactory) -> None:
    app = Ecko()
    loop_threads: list[str] = []

    @app.get("/")
    async def handler() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for number in range(3):
                asyncio.get_running_loop()  # raises outside an event loop thread
                loop_threads.append(threading.current_thread().name)
                yield b"%d;" % number

        return StreamingResponse(chunks())

    response = client_for(app).get("/")
    assert response.content == b"0;1;2;"
    assert loop_threads == ["ecko-test-loop"] * 3


def test_streaming_chunks_reach_the_client_before_the_iterator_ends(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    release = threading.Event()

    @app.get("/")
    def handler() -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield b"first"
            assert release.wait(10), "the test never released the second chunk"
            yield b"second"

        return StreamingResponse(chunks())

    with client_for(app).stream("GET", "/") as response:
        parts = response.iter_bytes()
        assert next(parts) == b"first"
        release.set()
        assert b"".join(parts) == b"second"


def test_streaming_iterators_can_read_the_request_context(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/sync")
    def sync_stream() -> StreamingResponse:
        def chunks() -> Iterator[str]:
            yield context.request.path

        return StreamingResponse(chunks())

    @app.get("/async")
    async def async_stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[str]:
            yield context.request.path

        return StreamingResponse(chunks())

    client = client_for(app)
    assert client.get("/sync").text == "/sync"
    assert client.get("/async").text == "/async"


def test_streaming_failure_is_logged_and_cuts_the_response_short(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield b"partial"
            raise OSError("disk gone")

        return StreamingResponse(chunks())

    # The status line is already out: the only honest signal left is an incomplete body.
    with pytest.raises(RuntimeError, match="before completing the response body"):
        client_for(app).get("/")
    assert "Unhandled OSError in GET /" in caplog.text
    assert "disk gone" in caplog.text


def test_head_of_a_streaming_route_sends_headers_only(client_for: ClientFactory) -> None:
    app = Ecko()
    started = threading.Event()

    @app.get("/")
    def handler() -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            started.set()
            yield b"body"

        return StreamingResponse(chunks(), headers={"X-Kind": "stream"})

    response = client_for(app).head("/")
    assert response.status_code == 200
    assert response.headers["x-kind"] == "stream"
    assert response.content == b""
    assert not started.is_set()


# --- files ----------------------------------------------------------------------------------


def test_file_response_from_a_route(client_for: ClientFactory, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("hello file\n")
    app = Ecko()

    @app.get("/files/{name}")
    def download(name: str) -> FileResponse:
        return FileResponse(tmp_path / name, filename=name)

    client = client_for(app)
    response = client.get("/files/report.txt")
    assert response.status_code == 200
    assert response.content == b"hello file\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "11"
    assert response.headers["content-disposition"] == 'attachment; filename="report.txt"'
    assert response.headers["accept-ranges"] == "bytes"
    etag = response.headers["etag"]
    assert client.get("/files/report.txt", headers={"If-None-Match": etag}).status_code == 304
    partial = client.get("/files/report.txt", headers={"Range": "bytes=0-4"})
    assert (partial.status_code, partial.content) == (206, b"hello")
    missing = client.get("/files/nope.txt")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "File not found"


def test_logged_500_for_an_unencodable_return_value(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> object:
        return {"when": object()}

    with caplog.at_level(logging.ERROR, logger="ecko"):
        response = client_for(app).get("/")
    assert response.status_code == 500
    assert "object" not in response.json()["detail"]
    assert "TypeError" in caplog.text


def test_file_errors_go_through_the_apps_formatter_and_handlers(
    client_for: ClientFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"0123456789")
    app = Ecko()

    @app.error_formatter
    def shaped(exc: HTTPException, problem: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return {"error": problem["title"]}, exc.status_code

    @app.exception_handler(404)
    def not_found(exc: HTTPException) -> tuple[dict[str, str], int]:
        return {"missing": str(exc.detail)}, 404

    @app.get("/missing")
    def missing() -> FileResponse:
        return FileResponse(tmp_path / "nope.txt")

    @app.get("/data")
    def get_data() -> FileResponse:
        return FileResponse(data)

    client = client_for(app)
    assert client.get("/missing").json() == {"missing": "File not found"}
    unsatisfiable = client.get("/data", headers={"Range": "bytes=50-60"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.json() == {"error": "Range Not Satisfiable"}
    assert unsatisfiable.headers["content-range"] == "bytes */10"
    partial = client.get("/data", headers={"Range": "bytes=2-4"})
    assert (partial.status_code, partial.content) == (206, b"234")
