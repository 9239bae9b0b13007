"""Tests for ecko.testing: TestClient, AsyncTestClient, WebSocket sessions and LiveServer."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ecko.testing import (
    AsyncTestClient,
    LiveServer,
    TestClient,
    WebSocketClosed,
    WebSocketDenialResponse,
    WebSocketRejected,
)
from ecko.types import ASGIApp, Message, Receive, Scope, Send


async def send_text(send: Send, text: str, status: int = 200, **headers: str) -> None:
    """Send a complete plain-text response."""
    raw = [(b"content-type", b"text/plain")] + [
        (name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": text.encode()})


async def send_json(send: Send, data: Any) -> None:
    """Send a complete JSON response."""
    body = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def http_only(app: ASGIApp) -> ASGIApp:
    """Wrap `app` so that it ignores the lifespan scope, as apps without lifespan support do."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)

    return wrapper


def loop_threads() -> list[threading.Thread]:
    """Return the TestClient event-loop threads alive now."""
    return [thread for thread in threading.enumerate() if thread.name == "ecko-test-loop"]


@pytest.fixture(autouse=True)
def no_leaked_loop_threads() -> Iterator[None]:
    """Fail a test that leaves a TestClient loop thread running."""
    before = set(loop_threads())
    yield
    gc.collect()
    # A client collected on its own loop thread stops that loop without joining it: join here.
    for thread in set(loop_threads()) - before:
        thread.join(timeout=10)
    assert set(loop_threads()) - before == set()


# --- lifespan -------------------------------------------------------------------------------


def lifespan_app(
    events: list[str], *, fail: str | None = None, fail_message: str = "no database"
) -> ASGIApp:
    """Build an app that records lifespan events and answers with its state."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                phase = message["type"].rpartition(".")[2]
                events.append(phase)
                if phase == fail:
                    await send({"type": f"lifespan.{phase}.failed", "message": fail_message})
                    return
                if phase == "startup":
                    scope["state"]["db"] = "connected"
                await send({"type": f"lifespan.{phase}.complete"})
                if phase == "shutdown":
                    return
        events.append("request")
        await send_json(send, {"state": scope["state"]})

    return app


def test_with_block_runs_startup_then_shutdown_and_shares_state() -> None:
    events: list[str] = []
    with TestClient(lifespan_app(events)) as client:
        assert events == ["startup"]
        assert client.get("/").json() == {"state": {"db": "connected"}}
        assert client.app_state == {"db": "connected"}
    assert events == ["startup", "request", "shutdown"]


def test_request_state_is_a_copy_of_the_lifespan_state() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["hits"] = 0
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        scope["state"]["hits"] += 1
        await send_json(send, scope["state"])

    with TestClient(app) as client:
        assert client.get("/").json() == {"hits": 1}
        assert client.get("/").json() == {"hits": 1}
        assert client.app_state == {"hits": 0}


def test_client_without_with_block_skips_lifespan() -> None:
    events: list[str] = []
    client = TestClient(lifespan_app(events))
    assert client.get("/").json() == {"state": {}}
    client.close()
    assert events == ["request"]


def test_startup_failure_raises_with_the_app_message() -> None:
    events: list[str] = []
    client = TestClient(lifespan_app(events, fail="startup"))
    with pytest.raises(RuntimeError, match="no database"), client:
        pytest.fail("the with block must not run")
    assert events == ["startup"]


def test_shutdown_failure_raises_with_the_app_message() -> None:
    events: list[str] = []
    with pytest.raises(RuntimeError, match="flush failed"):  # noqa: SIM117 - raised by exit
        with TestClient(lifespan_app(events, fail="shutdown", fail_message="flush failed")):
            pass
    assert events == ["startup", "shutdown"]


def test_exception_in_lifespan_propagates() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise LookupError("startup crashed")

    with pytest.raises(LookupError, match="startup crashed"), TestClient(app):
        pytest.fail("the with block must not run")


def test_app_returning_from_lifespan_is_served_without_it() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send_text(send, "ok")

    with TestClient(app) as client:
        assert client.get("/").text == "ok"


# --- HTTP requests ----------------------------------------------------------------------------


@http_only
async def scope_echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the JSON-able parts of the request scope."""
    assert scope["type"] == "http"
    await send_json(
        send,
        {
            "type": scope["type"],
            "asgi": scope["asgi"],
            "http_version": scope["http_version"],
            "method": scope["method"],
            "scheme": scope["scheme"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode(),
            "query_string": scope["query_string"].decode(),
            "root_path": scope["root_path"],
            "headers": [[name.decode(), value.decode()] for name, value in scope["headers"]],
            "client": list(scope["client"]),
            "server": list(scope["server"]),
        },
    )


def test_request_scope_has_raw_query_decoded_path_and_lowercase_headers() -> None:
    client = TestClient(scope_echo_app, root_path="/api", headers={"X-Default": "yes"})
    with client:
        scope = client.get("/api/a%20b/c", params=None, headers={"X-Token": "t"}).json()
        query = client.get("/search?q=a%20b&tag=1&tag=2").json()["query_string"]
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/api/a b/c"
    assert scope["raw_path"] == "/api/a%20b/c"
    assert scope["query_string"] == ""
    assert scope["root_path"] == "/api"
    assert scope["client"] == ["testclient", 50000]
    assert scope["server"] == ["testserver", 80]
    headers = dict(scope["headers"])
    assert headers["host"] == "testserver"
    assert headers["user-agent"] == "testclient"
    assert headers["x-token"] == "t"
    assert headers["x-default"] == "yes"
    assert all(name == name.lower() for name, _ in scope["headers"])
    assert query == "q=a%20b&tag=1&tag=2"


def test_base_url_sets_scheme_host_and_port() -> None:
    with TestClient(scope_echo_app, base_url="https://example.org:8443") as client:
        scope = client.get("/").json()
    assert scope["scheme"] == "https"
    assert scope["server"] == ["example.org", 8443]
    assert dict(scope["headers"])["host"] == "example.org:8443"


@http_only
async def body_echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with every http.request message received, as [body, more_body] pairs."""
    messages = []
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        messages.append([message["body"].decode(), message["more_body"]])
        if not message["more_body"]:
            break
    await send_json(send, messages)


def test_request_body_arrives_in_the_chunks_the_client_streams() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"ab"
        yield b"cd"

    with TestClient(body_echo_app) as client:
        assert client.post("/", content=chunks()).json() == [["ab", True], ["cd", False]]
        assert client.post("/", content=b"whole").json() == [["whole", False]]
        assert client.get("/").json() == [["", False]]


def test_receive_after_the_response_returns_disconnect() -> None:
    received: list[str] = []

    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send_text(send, "done")
        received.append((await receive())["type"])

    with TestClient(app) as client:
        assert client.get("/").text == "done"
        # The body is read and closed only once the app has returned.
        assert received == ["http.disconnect"]


def test_response_status_headers_and_redirects() -> None:
    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/old":
            await send_text(send, "", status=307, location="/new")
        else:
            await send_text(send, f"at {scope['path']}", status=201, x_trace="abc")

    with TestClient(app) as client:
        response = client.get("/old")
        assert response.status_code == 201
        assert response.text == "at /new"
        assert response.headers["x-trace"] == "abc"
        assert [r.status_code for r in response.history] == [307]
    with TestClient(app, follow_redirects=False) as client:
        assert client.get("/old").headers["location"] == "/new"


def test_cookies_persist_across_requests() -> None:
    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/login":
            await send_text(send, "in", set_cookie="session=s3cret; Path=/")
        else:
            cookie = dict(scope["headers"]).get(b"cookie", b"").decode()
            await send_text(send, cookie)

    with TestClient(app, cookies={"theme": "dark"}) as client:
        assert client.get("/me").text == "theme=dark"
        client.get("/login")
        assert sorted(client.get("/me").text.split("; ")) == ["session=s3cret", "theme=dark"]


def test_response_is_streamed_before_the_app_finishes() -> None:
    proceed = threading.Event()

    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": 200, "headers": []}
        await send(start)
        await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
        loop = asyncio.get_running_loop()
        released = await loop.run_in_executor(None, proceed.wait, 10.0)
        last = b"second\n" if released else b"timed out: the body was buffered\n"
        await send({"type": "http.response.body", "body": last})

    with TestClient(app) as client, client.stream("GET", "/events") as response:
        lines = response.iter_lines()
        assert next(lines) == "first"
        proceed.set()
        assert list(lines) == ["second"]


def test_closing_a_stream_early_cancels_the_app() -> None:
    cancelled = threading.Event()

    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with TestClient(app) as client:
        with client.stream("GET", "/") as response:
            assert next(response.iter_bytes()).startswith(b"tick")
        assert cancelled.is_set()


def test_app_exception_is_raised_in_the_test() -> None:
    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("handler broke")

    with TestClient(app) as client, pytest.raises(ValueError, match="handler broke"):
        client.get("/")


def test_app_exception_after_the_response_is_raised_in_the_test() -> None:
    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send_text(send, "sent")
        raise KeyError("background task broke")

    with TestClient(app) as client, pytest.raises(KeyError, match="background task broke"):
        client.get("/")


def test_app_exception_mid_body_is_raised_while_streaming() -> None:
    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise OSError("stream broke")

    with TestClient(app) as client, client.stream("GET", "/") as response:
        chunks = response.iter_bytes()
        assert next(chunks) == b"part"
        with pytest.raises(OSError, match="stream broke"):
            next(chunks)


def test_without_raise_server_exceptions_an_app_error_is_a_500() -> None:
    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("handler broke")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"


def test_app_returning_without_a_response_raises() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return

    with TestClient(app) as client, pytest.raises(RuntimeError, match="without sending"):
        client.get("/")


def test_body_before_start_is_a_protocol_error() -> None:
    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.body", "body": b"oops"})

    with TestClient(app) as client, pytest.raises(RuntimeError, match=r"before http\.response"):
        client.get("/")


def test_sync_work_in_the_default_executor_runs() -> None:
    @http_only
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        name = await asyncio.get_running_loop().run_in_executor(
            None, lambda: threading.current_thread().name
        )
        await send_text(send, name)

    with TestClient(app) as client:
        assert client.get("/").text.startswith("ecko-test")


def test_client_used_without_with_starts_and_stops_its_thread() -> None:
    client = TestClient(body_echo_app)
    assert client.get("/").status_code == 200
    assert len(loop_threads()) >= 1
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.get("/")


def test_dropped_client_stops_its_thread() -> None:
    before = set(loop_threads())
    client = TestClient(body_echo_app)
    client.get("/")
    assert set(loop_threads()) - before
    del client
    gc.collect()
    for thread in set(loop_threads()) - before:
        thread.join(timeout=10)
    assert set(loop_threads()) - before == set()


# --- WebSockets -------------------------------------------------------------------------------


def echo_ws_app(log: list[Message] | None = None) -> ASGIApp:
    """Build a WebSocket app that echoes messages and logs what it receives."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        accept: Message = {"type": "websocket.accept", "headers": [(b"x-server", b"echo")]}
        if scope["subprotocols"]:
            accept["subprotocol"] = scope["subprotocols"][-1]
        await send(accept)
        while True:
            message = await receive()
            if log is not None:
                log.append(dict(message))
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "scope":
                headers = {name.decode(): value.decode() for name, value in scope["headers"]}
                details = {
                    "type": scope["type"],
                    "scheme": scope["scheme"],
                    "path": scope["path"],
                    "query_string": scope["query_string"].decode(),
                    "subprotocols": scope["subprotocols"],
                    "extensions": scope["extensions"],
                    "headers": headers,
                }
                await send({"type": "websocket.send", "text": json.dumps(details)})
            elif message.get("text") is not None:
                await send({"type": "websocket.send", "text": "echo: " + message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})

    return app


def test_websocket_echoes_text_bytes_and_json() -> None:
    with TestClient(echo_ws_app()) as client, client.websocket_connect("/ws") as websocket:
        websocket.send_text("hi")
        assert websocket.receive_text() == "echo: hi"
        websocket.send_bytes(b"abc")
        assert websocket.receive_bytes() == b"cba"
        websocket.send_json({"n": 1})
        assert websocket.receive_text() == 'echo: {"n":1}'
        websocket.send_json([1, 2], mode="binary")
        assert websocket.receive_bytes() == b"]2,1["
        assert websocket.extra_headers == [(b"x-server", b"echo")]


def test_websocket_receive_json_decodes_text_and_binary() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": '{"a": [1, 2]}'})
        await send({"type": "websocket.send", "bytes": b'{"b": null}'})
        await receive()

    with TestClient(app).websocket_connect("/") as websocket:
        assert websocket.receive_json() == {"a": [1, 2]}
        assert websocket.receive_json(mode="binary") == {"b": None}


def test_websocket_scope_has_ws_scheme_query_headers_and_cookies() -> None:
    client = TestClient(echo_ws_app(), cookies={"sid": "42"})
    with client, client.websocket_connect("/ws/room?x=%20", headers={"X-Token": "t"}) as ws:
        ws.send_text("scope")
        scope = ws.receive_json()
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/ws/room"
    assert scope["query_string"] == "x=%20"
    assert scope["subprotocols"] == []
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert scope["headers"]["x-token"] == "t"
    assert scope["headers"]["cookie"] == "sid=42"
    assert scope["headers"]["upgrade"] == "websocket"
    assert scope["headers"]["sec-websocket-version"] == "13"


def test_websocket_subprotocol_is_negotiated() -> None:
    client = TestClient(echo_ws_app())
    with client, client.websocket_connect("/ws", subprotocols=["json", "chat"]) as websocket:
        assert websocket.accepted_subprotocol == "chat"
        websocket.send_text("scope")
        scope = websocket.receive_json()
    assert scope["subprotocols"] == ["json", "chat"]
    assert scope["headers"]["sec-websocket-protocol"] == "json, chat"


def test_leaving_the_block_disconnects_with_1000_and_close_sends_its_code() -> None:
    log: list[Message] = []
    client = TestClient(echo_ws_app(log))
    with client.websocket_connect("/ws"):
        pass
    with client.websocket_connect("/ws") as websocket:
        websocket.close(4000, "going away")
        with pytest.raises(RuntimeError, match="closed"):
            websocket.send_text("late")
    client.close()
    assert log == [
        {"type": "websocket.disconnect", "code": 1000, "reason": None},
        {"type": "websocket.disconnect", "code": 4000, "reason": "going away"},
    ]


def test_server_close_raises_websocket_closed_with_its_code() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "last words"})
        await send({"type": "websocket.close", "code": 4001, "reason": "bye"})

    with TestClient(app).websocket_connect("/") as websocket:
        assert websocket.receive_text() == "last words"
        with pytest.raises(WebSocketClosed) as closed:
            websocket.receive_text()
        assert (closed.value.code, closed.value.reason) == (4001, "bye")
        with pytest.raises(WebSocketClosed):
            websocket.receive()


def test_receive_returns_the_raw_close_message_once() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1001})

    with TestClient(app).websocket_connect("/") as websocket:
        assert websocket.receive() == {"type": "websocket.close", "code": 1001}
        with pytest.raises(WebSocketClosed) as closed:
            websocket.receive_bytes()
        assert closed.value.code == 1001


def test_app_returning_after_accept_closes_with_1000() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})

    with TestClient(app).websocket_connect("/") as websocket, pytest.raises(WebSocketClosed) as c:
        websocket.receive_text()
    assert c.value.code == 1000


def test_close_before_accept_raises_websocket_rejected() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 4003, "reason": "no token"})

    with pytest.raises(WebSocketRejected) as rejected:  # noqa: SIM117 - raised on enter
        with TestClient(app).websocket_connect("/"):
            pytest.fail("the with block must not run")
    assert (rejected.value.code, rejected.value.reason) == (4003, "no token")


def test_denial_response_carries_status_headers_and_body() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        headers = [(b"content-type", b"text/plain"), (b"x-reason", b"banned")]
        await send({"type": "websocket.http.response.start", "status": 403, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": b"go ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"away"})

    with pytest.raises(WebSocketDenialResponse) as denied:  # noqa: SIM117 - raised on enter
        with TestClient(app).websocket_connect("/"):
            pytest.fail("the with block must not run")
    assert denied.value.status_code == 403
    assert denied.value.headers["x-reason"] == "banned"
    assert denied.value.body == b"go away"


def test_receive_times_out_instead_of_hanging() -> None:
    with TestClient(echo_ws_app()).websocket_connect("/") as websocket:
        with pytest.raises(TimeoutError):
            websocket.receive_text(timeout=0.05)
        websocket.send_text("still open")
        assert websocket.receive_text() == "echo: still open"


def test_receive_text_on_a_binary_message_raises_a_clear_error() -> None:
    with TestClient(echo_ws_app()).websocket_connect("/") as websocket:
        websocket.send_bytes(b"xy")
        with pytest.raises(TypeError, match="Expected a text message, got binary: b'yx'"):
            websocket.receive_text()
        websocket.send_text("t")
        with pytest.raises(TypeError, match="Expected a binary message, got text"):
            websocket.receive_bytes()


def test_app_error_is_raised_on_the_next_receive() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise ValueError("ws handler broke")

    with TestClient(app).websocket_connect("/") as websocket:
        websocket.send_text("trigger")
        with pytest.raises(ValueError, match="ws handler broke"):
            websocket.receive_text()


def test_app_error_is_raised_when_leaving_the_block() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        raise ValueError(f"failed on {message['type']}")

    with pytest.raises(ValueError, match=r"failed on websocket\.disconnect"):  # noqa: SIM117
        with TestClient(app).websocket_connect("/"):
            pass


def test_app_error_before_accept_is_raised_on_connect() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise PermissionError("no entry")

    with pytest.raises(PermissionError, match="no entry"):  # noqa: SIM117 - raised on enter
        with TestClient(app).websocket_connect("/"):
            pytest.fail("the with block must not run")


def test_app_sending_after_the_client_left_gets_oserror_not_reported() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        seen.append((await receive())["type"])
        try:
            await send({"type": "websocket.send", "text": "too late"})
        except OSError as error:
            seen.append(str(error))
            raise

    with TestClient(app).websocket_connect("/"):
        pass
    assert seen == ["websocket.disconnect", "The WebSocket client has disconnected."]


def test_app_ignoring_the_disconnect_is_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ecko.testing.websocket._EXIT_TIMEOUT", 0.1)
    cancelled = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with TestClient(app).websocket_connect("/"):
        pass
    assert cancelled.is_set()


# --- AsyncTestClient --------------------------------------------------------------------------


def test_async_client_runs_lifespan_and_requests() -> None:
    events: list[str] = []

    async def main() -> Any:
        async with AsyncTestClient(lifespan_app(events)) as client:
            assert events == ["startup"]
            response = await client.get("/")
            return response.json()

    assert asyncio.run(main()) == {"state": {"db": "connected"}}
    assert events == ["startup", "request", "shutdown"]


def test_async_client_sends_body_chunks_and_keeps_the_scope() -> None:
    async def chunks() -> Any:
        yield b"ab"
        yield b"cd"

    async def main() -> tuple[Any, Any]:
        async with AsyncTestClient(body_echo_app) as client:
            body = (await client.post("/", content=chunks())).json()
        async with AsyncTestClient(scope_echo_app) as client:
            scope = (await client.get("/p%20q?x=%20")).json()
        return body, scope

    body, scope = asyncio.run(main())
    assert body == [["ab", True], ["cd", False]]
    assert (scope["path"], scope["query_string"]) == ("/p q", "x=%20")
    assert dict(scope["headers"])["user-agent"] == "testclient"


def test_async_client_streams_before_the_app_finishes() -> None:
    async def main() -> list[str]:
        proceed = asyncio.Event()

        @http_only
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
            await asyncio.wait_for(proceed.wait(), 10)
            await send({"type": "http.response.body", "body": b"second\n"})

        async with AsyncTestClient(app) as client, client.stream("GET", "/") as response:
            lines = response.aiter_lines()
            seen = [await anext(lines)]
            proceed.set()
            seen.extend([line async for line in lines])
        return seen

    assert asyncio.run(main()) == ["first", "second"]


def test_async_client_raises_app_errors_or_answers_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raise ValueError("async handler broke")

    async def main() -> int:
        async with AsyncTestClient(app) as client:
            with pytest.raises(ValueError, match="async handler broke"):
                await client.get("/")
        async with AsyncTestClient(app, raise_server_exceptions=False) as client:
            return (await client.get("/")).status_code

    assert asyncio.run(main()) == 500


def test_async_client_closing_a_stream_early_cancels_the_app() -> None:
    async def main() -> bool:
        cancelled = asyncio.Event()

        @http_only
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            try:
                while True:
                    await send({"type": "http.response.body", "body": b"x", "more_body": True})
                    await asyncio.sleep(0)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        async with AsyncTestClient(app) as client, client.stream("GET", "/") as response:
            await anext(response.aiter_bytes())
        return cancelled.is_set()

    assert asyncio.run(main())


# --- LiveServer -------------------------------------------------------------------------------

LIVE_APP = textwrap.dedent(
    '''
    """A raw ASGI app served by LiveServer in the tests."""
    import os

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    print("live app shut down", flush=True)
                    return
        elif scope["type"] == "http":
            body = f"hello from {os.getpid()} {os.environ.get('LIVE_GREETING', '')}".encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
        else:
            await receive()
            await send({"type": "websocket.accept"})
            message = await receive()
            await send({"type": "websocket.send", "text": "echo: " + message["text"]})
            await send({"type": "websocket.close", "code": 1000})
    '''
)


@pytest.fixture
def live_app_dir(tmp_path: Path) -> Path:
    """Write the live test app as `live_app.py` into a fresh directory."""
    (tmp_path / "live_app.py").write_text(LIVE_APP)
    return tmp_path


def process_exists(pid: int) -> bool:
    """Tell whether a process with `pid` still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_live_server_serves_http_and_websockets_then_stops(live_app_dir: Path) -> None:
    from websockets.sync.client import connect

    server = LiveServer("live_app:app", cwd=live_app_dir, env={"LIVE_GREETING": "hi"})
    with server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.ws_url == f"ws://127.0.0.1:{server.port}"
        response = httpx.get(server.url + "/")
        assert response.text == f"hello from {server.pid} hi"
        with connect(server.ws_url + "/ws") as websocket:
            websocket.send("ping")
            assert websocket.recv(timeout=10) == "echo: ping"
        assert "Application startup complete" in server.logs()
    # uvicorn re-raises the SIGTERM it handled, after a graceful shutdown.
    assert server.process.returncode in (0, -signal.SIGTERM)
    assert server.stop() == server.process.returncode
    assert not process_exists(server.pid)
    assert "live app shut down" in server.logs()


def test_live_server_runs_a_custom_command(live_app_dir: Path) -> None:
    command = [sys.executable, "-m", "uvicorn", "{target}", "--host", "{host}", "--port", "{port}"]
    server = LiveServer("live_app:app", cwd=live_app_dir, command=command).start()
    try:
        assert server.process.args == [
            sys.executable, "-m", "uvicorn", "live_app:app",
            "--host", "127.0.0.1", "--port", str(server.port),
        ]  # fmt: skip
        assert httpx.get(server.url).status_code == 200
    finally:
        assert server.stop(timeout=10) in (0, -signal.SIGTERM)
    assert not process_exists(server.pid)


def test_live_server_that_exits_raises_with_its_log(live_app_dir: Path) -> None:
    server = LiveServer("no_such_module:app", cwd=live_app_dir)
    with pytest.raises(RuntimeError, match="exited with code") as failed:
        server.start()
    assert "no_such_module" in str(failed.value)


def test_live_server_needs_a_target_or_command() -> None:
    with pytest.raises(ValueError, match="target"):
        LiveServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = LiveServer("live_app:app").url


def test_without_httpx_any_ecko_testing_import_names_the_extra() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["httpx"] = None  # what a missing package looks like to `import`
        from ecko.exceptions import MissingDependencyError
        try:
            import ecko.testing.client
        except MissingDependencyError as error:
            print(error)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert "pip install 'ecko[testing]'" in completed.stdout
