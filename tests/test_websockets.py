"""WebSocket routes, the connection API, limits, errors and the rooms Hub, in-process."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import msgspec
import pytest

from ecko import (
    BadRequest,
    Cookie,
    Ecko,
    Header,
    PlainTextResponse,
    Query,
    RouteDefinitionError,
    Router,
    Unauthorized,
    ValidationError,
    WebSocket,
    WebSocketDisconnect,
    WebSocketError,
    context,
)
from ecko.testing import (
    TestClient,
    WebSocketClosed,
    WebSocketDenialResponse,
    WebSocketRejected,
)
from ecko.types import ASGIApp, Message, Receive, Scope, Send
from ecko.websockets import DEFAULT_MAX_MESSAGE_SIZE, Hub, HubBackend, WebSocketState
from examples import chat
from tests.conftest import ClientFactory


class Move(msgspec.Struct):
    x: int
    y: int


def echo_app(**options: Any) -> Ecko[Any]:
    """An app whose /echo route answers each text message with its length in bytes."""
    app = Ecko(**options)

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            await ws.send_text(str(len(message.encode())))

    return app


# --- routes and parameters ------------------------------------------------------------------


def test_spec_echo_example_echoes_every_message(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/ws")
    async def websocket_handler(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            await ws.send_text(f"Echo: {message}")

    with client_for(app).websocket_connect("/ws") as ws:
        ws.send_text("one")
        assert ws.receive_text() == "Echo: one"
        ws.send_text("two")
        assert ws.receive_text() == "Echo: two"


def test_path_param_is_a_typed_argument_and_a_string_in_path_params(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.websocket("/chat/{room_id}")
    async def chat_room(ws: WebSocket, room_id: int) -> None:
        await ws.accept()
        await ws.send_json({"typed": room_id, "raw": ws.path_params["room_id"]})

    with client_for(app).websocket_connect("/chat/42") as ws:
        assert ws.receive_json() == {"typed": 42, "raw": "42"}


def test_undeclared_path_param_stays_readable_in_path_params(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/chat/{room_id}")
    async def chat_room(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(ws.path_params["room_id"])

    with client_for(app).websocket_connect("/chat/lobby") as ws:
        assert ws.receive_text() == "lobby"


def test_router_websocket_routes_are_served_under_its_prefix(client_for: ClientFactory) -> None:
    router = Router("/live")

    @router.websocket("/feed/{name}")
    async def feed(ws: WebSocket, name: str) -> None:
        await ws.accept()
        await ws.send_text(f"feed {name}")

    async def status(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("status")

    router.add_websocket_route("/status", status)
    app = Ecko()
    app.include(router)
    client = client_for(app)
    with client.websocket_connect("/live/feed/news") as ws:
        assert ws.receive_text() == "feed news"
    with client.websocket_connect("/live/status") as ws:
        assert ws.receive_text() == "status"


def test_query_header_and_cookie_params_follow_the_http_rules(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/params")
    async def params(
        ws: WebSocket,
        token: Annotated[str, Query()],
        user_agent: Annotated[str, Header()],
        page: Annotated[int, Query(ge=1)] = 1,
        tags: list[str] = [],  # noqa: B006 - a declaration, copied per connection
        theme: Annotated[str, Cookie()] = "light",
    ) -> None:
        await ws.accept()
        await ws.send_json(
            {"token": token, "page": page, "tags": tags, "agent": user_agent, "theme": theme}
        )

    client = client_for(app)
    client.cookies.set("theme", "dark")
    with client.websocket_connect(
        "/params?token=abc&page=3&tags=a&tags=b", headers={"User-Agent": "bot/1"}
    ) as ws:
        assert ws.receive_json() == {
            "token": "abc",
            "page": 3,
            "tags": ["a", "b"],
            "agent": "bot/1",
            "theme": "dark",
        }


def test_missing_query_param_refuses_the_handshake_with_403_naming_it(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    ran: list[str] = []

    @app.websocket("/feed")
    async def feed(ws: WebSocket, token: Annotated[str, Query()]) -> None:
        ran.append(token)
        await ws.accept()

    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client_for(app).websocket_connect("/feed"),
    ):
        pass
    assert denied.value.status_code == 403
    problem = msgspec.json.decode(denied.value.body)
    assert problem["status"] == 403
    assert problem["errors"] == [
        {"loc": ["query", "token"], "msg": "Field required", "type": "missing"}
    ]
    assert ran == []


def test_validation_denial_title_matches_its_403_status(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/feed")
    async def feed(ws: WebSocket, token: Annotated[str, Query()]) -> None:
        await ws.accept()

    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client_for(app).websocket_connect("/feed"),
    ):
        pass
    assert msgspec.json.decode(denied.value.body)["title"] == "Forbidden"


def test_invalid_path_param_refuses_the_handshake_with_403(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/rooms/{room_id}")
    async def room(ws: WebSocket, room_id: int) -> None:
        await ws.accept()

    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client_for(app).websocket_connect("/rooms/abc"),
    ):
        pass
    assert denied.value.status_code == 403
    [error] = msgspec.json.decode(denied.value.body)["errors"]
    assert error["loc"] == ["path", "room_id"]


def test_http_exception_after_accept_closes_with_1008_and_its_detail(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.websocket("/rooms/{name}")
    async def room(ws: WebSocket, name: str) -> None:
        await ws.accept()
        raise BadRequest(f"No room called {name}")

    with (
        client_for(app).websocket_connect("/rooms/attic") as ws,
        pytest.raises(WebSocketClosed) as closed,
    ):
        ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1008, "No room called attic")


def test_validation_error_after_accept_closes_with_1008_and_the_fields(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        raise ValidationError(
            [{"loc": ["query", "since"], "msg": "too old", "type": "value_error"}]
        )

    with client_for(app).websocket_connect("/ws") as ws, pytest.raises(WebSocketClosed) as closed:
        ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1008, "query.since: too old")


def test_invalid_json_message_closes_with_1007_naming_the_problem(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.websocket("/moves")
    async def moves(ws: WebSocket) -> None:
        await ws.accept()
        move = await ws.receive_json(type=Move)
        await ws.send_text(f"{move.x},{move.y}")

    client = client_for(app)
    with client.websocket_connect("/moves") as ws:
        ws.send_json({"x": 1, "y": 2})
        assert ws.receive_text() == "1,2"
    with client.websocket_connect("/moves") as ws:
        ws.send_json({"x": "left", "y": 2})
        with pytest.raises(WebSocketClosed) as closed:
            ws.receive_text()
    assert closed.value.code == 1007
    assert "Expected `int`, got `str`" in closed.value.reason
    assert "$.x" in closed.value.reason
    with client.websocket_connect("/moves") as ws:
        ws.send_text("{not json")
        with pytest.raises(WebSocketClosed) as closed:
            ws.receive_text()
    assert closed.value.code == 1007
    assert "Invalid JSON" in closed.value.reason


def test_sync_websocket_handler_is_refused_at_registration() -> None:
    app = Ecko()

    def handler(ws: WebSocket) -> None:
        """Not async."""

    with pytest.raises(RouteDefinitionError, match="must be 'async def'"):
        app.websocket("/ws")(handler)


def test_websocket_handler_cannot_take_a_body_parameter() -> None:
    app = Ecko()

    async def handler(ws: WebSocket, move: Move) -> None:
        """Declares a body."""

    with pytest.raises(RouteDefinitionError, match=r"receive_json\(type=...\)"):
        app.websocket("/ws")(handler)


def test_no_route_for_the_path_refuses_the_handshake(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/page")
    def page() -> str:
        return "an HTTP page"

    client = client_for(app)
    for path in ("/nowhere", "/page"):
        with pytest.raises(WebSocketRejected) as rejected, client.websocket_connect(path):
            pass
        assert rejected.value.code == 1008


# --- the connection API ---------------------------------------------------------------------


def test_accept_chooses_a_subprotocol_and_adds_headers(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept(subprotocol=ws.subprotocols[-1], headers={"x-server": "ecko"})
        await ws.send_json(ws.subprotocols)

    with client_for(app).websocket_connect("/ws", subprotocols=["v1", "v2"]) as ws:
        assert ws.accepted_subprotocol == "v2"
        assert (b"x-server", b"ecko") in ws.extra_headers
        assert ws.receive_json() == ["v1", "v2"]


def test_accepting_a_subprotocol_not_offered_refuses_and_logs(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept(subprotocol="v9")

    with (
        pytest.raises(WebSocketRejected) as rejected,
        client_for(app).websocket_connect("/ws", subprotocols=["v1"]),
    ):
        pass
    assert rejected.value.code == 1011
    assert "'v9' was not offered by the client" in caplog.text


def test_accept_twice_raises_websocket_error(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.accept()
        except WebSocketError as error:
            await ws.send_text(str(error))

    with client_for(app).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "accept() was called twice or after close()"


def test_text_binary_and_json_messages_round_trip(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text((await ws.receive_text()).upper())
        await ws.send_bytes((await ws.receive_bytes())[::-1])
        data = await ws.receive_json()
        await ws.send_json({"got": data})
        data = await ws.receive_json()  # a JSON document in a binary frame
        await ws.send_json({"binary": data}, mode="binary")

    with client_for(app).websocket_connect("/ws") as ws:
        ws.send_text("héllo")
        assert ws.receive_text() == "HÉLLO"
        ws.send_bytes(b"\x00\x01\x02")
        assert ws.receive_bytes() == b"\x02\x01\x00"
        ws.send_json({"n": [1, 2]})
        assert ws.receive_json() == {"got": {"n": [1, 2]}}
        ws.send_json(["b"], mode="binary")
        assert ws.receive_json(mode="binary") == {"binary": ["b"]}


def test_receive_json_and_iter_json_validate_into_a_type(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        first = await ws.receive_json(type=Move)
        await ws.send_json(first)
        async for move in ws.iter_json(Move):
            await ws.send_json({"sum": move.x + move.y})

    with client_for(app).websocket_connect("/ws") as ws:
        ws.send_json({"x": 1, "y": 2})
        assert ws.receive_json() == {"x": 1, "y": 2}
        ws.send_json({"x": 3, "y": 4})
        assert ws.receive_json() == {"sum": 7}


def test_connection_details_describe_the_handshake(client_for: ClientFactory) -> None:
    app = Ecko()
    seen: dict[str, Any] = {}

    @app.websocket("/info")
    async def info(ws: WebSocket) -> None:
        ws.state.user = "ada"
        seen.update(
            url=str(ws.url),
            path=ws.path,
            client=ws.client,
            agent=ws.headers["user-agent"],
            query=ws.query_params.getlist("x"),
            cookies=ws.cookies,
            user=ws.state.user,
            app=ws.app,
            state=ws.application_state,
        )
        await ws.accept()
        seen["accepted"] = ws.application_state

    client = client_for(app)
    client.cookies.set("sid", "s1")
    with client.websocket_connect("/info?x=1&x=2"):
        pass
    assert seen == {
        "url": "ws://testserver/info?x=1&x=2",
        "path": "/info",
        "client": ("testclient", 50000),
        "agent": "testclient",
        "query": ["1", "2"],
        "cookies": {"sid": "s1"},
        "user": "ada",
        "app": app,
        "state": WebSocketState.CONNECTING,
        "accepted": WebSocketState.CONNECTED,
    }


def with_session(app: ASGIApp, session: dict[str, Any]) -> ASGIApp:
    """Wrap `app` the way a session middleware would: `scope["session"]` holds the session."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            scope["session"] = session
        await app(scope, receive, send)

    return wrapper


def session_app() -> Ecko[Any]:
    app = Ecko()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            session = ws.session
        except WebSocketError as error:
            await ws.send_text(f"error: {error}")
            return
        session["visits"] = session.get("visits", 0) + 1
        await ws.send_json(session)

    return app


def test_session_reads_the_session_a_middleware_put_in_the_scope() -> None:
    session: dict[str, Any] = {"user_id": 7}
    with (
        TestClient(with_session(session_app(), session)) as client,
        client.websocket_connect("/ws") as ws,
    ):
        assert ws.receive_json() == {"user_id": 7, "visits": 1}
    assert session == {"user_id": 7, "visits": 1}


def test_session_without_sessions_enabled_raises_a_clear_error(client_for: ClientFactory) -> None:
    with client_for(session_app()).websocket_connect("/ws") as ws:
        message = ws.receive_text()
    assert message.startswith("error: ws.session needs sessions enabled")
    assert "app.use(sessions(secret=...))" in message


def test_context_websocket_is_the_connection_during_the_handler(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    async def reply() -> None:
        # Code far from the handler reaches the connection through the context.
        await context.websocket.send_text(f"hello {context.websocket.path_params['name']}")

    @app.websocket("/hello/{name}")
    async def hello(ws: WebSocket) -> None:
        await ws.accept()
        assert context.websocket is ws
        await reply()

    with client_for(app).websocket_connect("/hello/ada") as ws:
        assert ws.receive_text() == "hello ada"


def test_before_request_hooks_skip_websockets_and_before_websocket_hooks_run(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    calls: list[str] = []

    @app.before_request
    def http_only() -> None:
        calls.append("before_request")

    @app.before_websocket
    async def websocket_only(ws: WebSocket) -> None:
        calls.append(f"before_websocket {ws.path}")
        ws.state.greeting = "hi"

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(ws.state.greeting)

    with client_for(app).websocket_connect("/ws") as ws:
        assert ws.receive_text() == "hi"
    assert calls == ["before_websocket /ws"]


def test_before_websocket_hook_raising_http_exception_denies_with_its_status(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.before_websocket
    def require_token(ws: WebSocket) -> None:
        if ws.query_params.get("token") != "secret":
            raise Unauthorized("A valid token is required")

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("in")

    client = client_for(app)
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws"):
        pass
    assert denied.value.status_code == 401
    assert msgspec.json.decode(denied.value.body)["detail"] == "A valid token is required"
    with client.websocket_connect("/ws?token=secret") as ws:
        assert ws.receive_text() == "in"


def test_router_before_websocket_hook_runs_only_for_its_routes(client_for: ClientFactory) -> None:
    calls: list[str] = []
    router = Router("/admin")

    @router.before_websocket
    def admin_hook() -> None:
        calls.append("admin")

    @router.websocket("/ws")
    async def admin(ws: WebSocket) -> None:
        await ws.accept()

    app = Ecko()

    @app.websocket("/ws")
    async def public(ws: WebSocket) -> None:
        await ws.accept()

    app.include(router)
    client = client_for(app)
    with client.websocket_connect("/ws"):
        pass
    assert calls == []
    with client.websocket_connect("/admin/ws"):
        pass
    assert calls == ["admin"]


# --- iteration, disconnects and misuse ------------------------------------------------------


def test_async_for_ends_cleanly_when_the_client_disconnects(client_for: ClientFactory) -> None:
    app = Ecko()
    received: list[str] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            received.append(message)
        received.append("loop ended")

    with client_for(app).websocket_connect("/ws") as ws:
        ws.send_text("a")
        ws.send_text("b")
    assert received == ["a", "b", "loop ended"]


def test_iter_bytes_and_iter_json_end_cleanly_on_disconnect(client_for: ClientFactory) -> None:
    app = Ecko()
    received: list[object] = []

    @app.websocket("/bytes")
    async def binary(ws: WebSocket) -> None:
        await ws.accept()
        async for data in ws.iter_bytes():
            received.append(data)
        received.append("bytes ended")

    @app.websocket("/json")
    async def documents(ws: WebSocket) -> None:
        await ws.accept()
        async for document in ws.iter_json():
            received.append(document)
        received.append("json ended")

    client = client_for(app)
    with client.websocket_connect("/bytes") as ws:
        ws.send_bytes(b"\xff")
    with client.websocket_connect("/json") as ws:
        ws.send_json({"a": 1})
    assert received == [b"\xff", "bytes ended", {"a": 1}, "json ended"]


def test_receive_loop_gets_websocket_disconnect_with_code_and_reason(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    disconnects: list[WebSocketDisconnect] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(f"Got: {await ws.receive_text()}")
        except WebSocketDisconnect as disconnect:
            disconnects.append(disconnect)

    with client_for(app).websocket_connect("/ws") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "Got: hi"
        ws.close(4002, "done for today")
    [disconnect] = disconnects
    assert (disconnect.code, disconnect.reason) == (4002, "done for today")
    assert repr(disconnect) == "WebSocketDisconnect(code=4002, reason='done for today')"


def test_receiving_again_after_a_disconnect_raises_instead_of_hanging(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    errors: list[str] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        with pytest.raises(WebSocketDisconnect):
            await ws.receive_text()
        with pytest.raises(WebSocketError) as error:
            await ws.receive_text()
        errors.append(str(error.value))

    with client_for(app).websocket_connect("/ws") as ws:
        ws.close(1001)
    assert errors == ["The client already disconnected (code 1001); stop receiving"]


def test_wrong_message_kind_raises_a_clear_error(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        for receive in (ws.receive_text, ws.receive_bytes):
            try:
                await receive()
            except WebSocketError as error:
                await ws.send_text(str(error))

    with client_for(app).websocket_connect("/ws") as ws:
        ws.send_bytes(b"")
        assert ws.receive_text() == "Expected a text message, got a binary one; use receive_bytes()"
        ws.send_text("")
        assert ws.receive_text() == "Expected a binary message, got a text one; use receive_text()"


def test_uncaught_wrong_message_kind_closes_with_1003_unsupported_data(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with client_for(echo_app()).websocket_connect("/echo") as ws:
        ws.send_bytes(b"binary where text was expected")
        with pytest.raises(WebSocketClosed) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1003, "Expected a text message")
    assert "Unhandled" not in caplog.text


def test_sending_or_receiving_after_close_raises_and_closing_again_is_harmless(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    errors: list[str] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close()
        for attempt in (ws.send_text("late"), ws.receive_text()):
            try:
                await attempt
            except WebSocketError as error:
                errors.append(str(error))
        await ws.close(4000, "closing twice does nothing")

    with client_for(app).websocket_connect("/ws") as ws, pytest.raises(WebSocketClosed) as closed:
        ws.receive_text()
    assert closed.value.code == 1000
    assert errors == [
        "The connection is closed; cannot send",
        "The connection was closed by the server; stop receiving",
    ]


def test_using_the_connection_before_accept_raises(client_for: ClientFactory) -> None:
    app = Ecko()
    errors: list[str] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        for attempt in (ws.send_text("early"), ws.receive_text()):
            try:
                await attempt
            except WebSocketError as error:
                errors.append(str(error))
        await ws.accept()

    with client_for(app).websocket_connect("/ws"):
        pass
    assert errors == [
        "Call await ws.accept() before sending messages",
        "Call await ws.accept() before receiving messages",
    ]


def test_server_close_code_and_reason_reach_the_client(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(code=4001, reason=await ws.receive_text())

    client = client_for(app)
    with client.websocket_connect("/ws") as ws:
        ws.send_text("Goodbye")
        with pytest.raises(WebSocketClosed) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (4001, "Goodbye")
    # RFC 6455 caps a close reason at 123 bytes; a longer one is cut, never refused.
    with client.websocket_connect("/ws") as ws:
        ws.send_text("é" * 100)
        with pytest.raises(WebSocketClosed) as closed:
            ws.receive_text()
    assert closed.value.reason == "é" * 61


def test_handler_returning_closes_with_1000_or_refuses_if_never_accepted(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.websocket("/accepts")
    async def accepts(ws: WebSocket) -> None:
        await ws.accept()

    @app.websocket("/never-accepts")
    async def never_accepts(ws: WebSocket) -> None:
        """Returns without a word."""

    client = client_for(app)
    with client.websocket_connect("/accepts") as ws:
        assert ws.receive() == {"type": "websocket.close", "code": 1000, "reason": ""}
    with pytest.raises(WebSocketRejected), client.websocket_connect("/never-accepts"):
        pass


def test_state_machine_reports_a_vanished_client_as_a_disconnect() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            raise OSError("the client went away")  # what uvicorn's ClientDisconnected is
        sent.append(message)

    async def scenario() -> None:
        ws = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
        await ws.accept()
        with pytest.raises(WebSocketDisconnect) as disconnect:
            await ws.send_text("anyone there?")
        assert disconnect.value.code == 1006
        assert ws.client_state is WebSocketState.DISCONNECTED
        with pytest.raises(WebSocketDisconnect):
            await ws.send_bytes(b"still sending")
        with pytest.raises(WebSocketError, match="already disconnected"):
            await ws.receive_text()
        await ws.close()  # nobody to tell; closing a gone client is quiet
        assert ws.application_state is WebSocketState.DISCONNECTED

    asyncio.run(scenario())
    assert [message["type"] for message in sent] == ["websocket.accept"]


# --- limits ---------------------------------------------------------------------------------


def test_message_over_the_default_1_mib_limit_closes_with_1009(client_for: ClientFactory) -> None:
    assert DEFAULT_MAX_MESSAGE_SIZE == 1024 * 1024
    client = client_for(echo_app())
    with client.websocket_connect("/echo") as ws:
        ws.send_text("x" * DEFAULT_MAX_MESSAGE_SIZE)
        assert ws.receive_text() == str(DEFAULT_MAX_MESSAGE_SIZE)
        ws.send_text("x" * (DEFAULT_MAX_MESSAGE_SIZE + 1))
        with pytest.raises(WebSocketClosed) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1009, "Message too big")


def test_message_size_counts_utf8_bytes_and_binary_messages(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.websocket("/text", max_message_size=10)
    async def text(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            await ws.send_text(message)

    @app.websocket("/binary", max_message_size=10)
    async def binary(ws: WebSocket) -> None:
        await ws.accept()
        async for data in ws.iter_bytes():
            await ws.send_bytes(data)

    client = client_for(app)
    with client.websocket_connect("/text") as ws:
        ws.send_text("é" * 5)  # 10 bytes
        assert ws.receive_text() == "é" * 5
        ws.send_text("é" * 6)  # 6 characters, 12 bytes
        with pytest.raises(WebSocketClosed) as closed:
            ws.receive_text()
    assert closed.value.code == 1009
    with client.websocket_connect("/binary") as ws:
        ws.send_bytes(b"0123456789")
        assert ws.receive_bytes() == b"0123456789"
        ws.send_bytes(b"0123456789a")
        with pytest.raises(WebSocketClosed) as closed:
            ws.receive_bytes()
    assert closed.value.code == 1009


def test_app_limit_applies_to_every_route_and_a_route_limit_overrides_it(
    client_for: ClientFactory,
) -> None:
    app = echo_app(max_websocket_message_size=100)

    @app.websocket("/roomy", max_message_size=None)
    async def roomy(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws:
            await ws.send_text(str(len(message)))

    client = client_for(app)
    with client.websocket_connect("/echo") as ws:
        ws.send_text("x" * 100)
        assert ws.receive_text() == "100"
        ws.send_text("x" * 101)
        with pytest.raises(WebSocketClosed) as closed:
            ws.receive_text()
    assert closed.value.code == 1009
    with client.websocket_connect("/roomy") as ws:
        ws.send_text("x" * (2 * DEFAULT_MAX_MESSAGE_SIZE))
        assert ws.receive_text() == str(2 * DEFAULT_MAX_MESSAGE_SIZE)


# --- handler errors -------------------------------------------------------------------------


def failing_app(**options: Any) -> Ecko[Any]:
    app = Ecko(**options)

    @app.websocket("/after-accept")
    async def after_accept(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()
        raise RuntimeError("database password is hunter2")

    @app.websocket("/before-accept")
    async def before_accept(ws: WebSocket) -> None:
        raise RuntimeError("database password is hunter2")

    return app


def test_handler_exception_closes_with_1011_without_its_text_and_logs_it(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with client_for(failing_app(debug=False)).websocket_connect("/after-accept") as ws:
        ws.send_text("go")
        with pytest.raises(WebSocketClosed) as closed:
            ws.receive_text()
    assert closed.value.code == 1011
    assert "hunter2" not in closed.value.reason
    assert "RuntimeError" not in closed.value.reason
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "/after-accept" in record.getMessage()
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])


def test_handler_exception_in_debug_mode_names_the_error_in_the_reason(
    client_for: ClientFactory,
) -> None:
    with client_for(failing_app(debug=True)).websocket_connect("/after-accept") as ws:
        ws.send_text("go")
        with pytest.raises(WebSocketClosed) as closed:
            ws.receive_text()
    assert closed.value.code == 1011
    assert closed.value.reason == "RuntimeError: database password is hunter2"


def test_handler_exception_before_accept_refuses_the_handshake_and_logs_it(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(failing_app(debug=False))
    with pytest.raises(WebSocketRejected) as rejected, client.websocket_connect("/before-accept"):
        pass
    assert rejected.value.code == 1011
    assert "hunter2" not in rejected.value.reason
    assert "/before-accept" in caplog.text


# --- denial responses -----------------------------------------------------------------------


def denying_app() -> Ecko[Any]:
    app = Ecko()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.send_denial_response(
            PlainTextResponse("Come back with a token", 401, {"www-authenticate": "Bearer"})
        )

    @app.websocket("/late")
    async def late(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.send_denial_response(PlainTextResponse("too late", 401))
        except WebSocketError as error:
            await ws.send_text(str(error))

    return app


def test_send_denial_response_answers_the_handshake_with_http(client_for: ClientFactory) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client_for(denying_app()).websocket_connect("/ws"),
    ):
        pass
    assert denied.value.status_code == 401
    assert denied.value.headers["www-authenticate"] == "Bearer"
    assert denied.value.body == b"Come back with a token"


def test_send_denial_response_without_server_support_refuses_with_a_close() -> None:
    inner = denying_app()

    async def no_extensions(scope: Scope, receive: Receive, send: Send) -> None:
        scope.pop("extensions", None)
        await inner(scope, receive, send)

    with (
        TestClient(no_extensions) as client,
        pytest.raises(WebSocketRejected) as rejected,
        client.websocket_connect("/ws"),
    ):
        pass
    assert rejected.value.code == 1008


def test_send_denial_response_after_accept_raises(client_for: ClientFactory) -> None:
    with client_for(denying_app()).websocket_connect("/late") as ws:
        assert ws.receive_text() == "send_denial_response() must come before accept()"


# --- the Hub --------------------------------------------------------------------------------


class FakeConnection:
    """A connection that records what it is sent; `fail` makes every send raise."""

    def __init__(self, name: str, *, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.received: list[str | bytes] = []

    async def send_text(self, data: str) -> None:
        if self.fail:
            raise WebSocketDisconnect(1006)
        self.received.append(data)

    async def send_bytes(self, data: bytes) -> None:
        if self.fail:
            raise OSError("connection reset")
        self.received.append(data)

    def __repr__(self) -> str:
        return f"<FakeConnection {self.name}>"


class GatedConnection(FakeConnection):
    """A slow client: each send waits until the test opens the gate."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def send_text(self, data: str) -> None:
        self.waiting.set()
        await self.gate.wait()
        await super().send_text(data)


def test_hub_broadcasts_to_a_room_and_forgets_who_left() -> None:
    async def scenario() -> None:
        hub = Hub()
        ada, bob, cy = FakeConnection("ada"), FakeConnection("bob"), FakeConnection("cy")
        await hub.join("lobby", ada)
        await hub.join("lobby", bob)
        await hub.join("attic", cy)
        assert hub.rooms() == ["lobby", "attic"]
        assert hub.members("lobby") == [ada, bob]
        await hub.broadcast_text("lobby", "hello")
        await hub.broadcast_bytes("attic", b"\x01")
        await hub.broadcast_json("lobby", {"n": 1, "move": Move(1, 2)})
        await hub.leave("lobby", ada)
        await hub.leave("lobby", ada)  # leaving twice is harmless
        await hub.broadcast_text("lobby", "after ada left")
        await hub.broadcast_text("nowhere", "nobody hears this")
        assert ada.received == ["hello", '{"n":1,"move":{"x":1,"y":2}}']
        assert bob.received == [*ada.received, "after ada left"]
        assert cy.received == [b"\x01"]
        await hub.leave("lobby", bob)
        assert hub.rooms() == ["attic"]
        assert hub.members("lobby") == []

    asyncio.run(scenario())


def test_hub_broadcast_can_exclude_the_sender() -> None:
    async def scenario() -> None:
        hub = Hub()
        ada, bob = FakeConnection("ada"), FakeConnection("bob")
        await hub.join("lobby", ada)
        await hub.join("lobby", bob)
        await hub.broadcast_text("lobby", "from ada", exclude=ada)
        await hub.broadcast_json("lobby", ["from bob"], exclude=bob)
        await hub.broadcast_bytes("lobby", b"to all")
        assert ada.received == ['["from bob"]', b"to all"]
        assert bob.received == ["from ada", b"to all"]

    asyncio.run(scenario())


def test_hub_join_as_async_context_manager_leaves_on_exit_even_after_an_error() -> None:
    async def scenario() -> None:
        hub = Hub()
        ada = FakeConnection("ada")
        async with hub.join("lobby", ada):
            assert hub.members("lobby") == [ada]
        assert hub.rooms() == []
        try:
            async with hub.join("lobby", ada):
                assert hub.members("lobby") == [ada]
                raise LookupError("the handler failed")
        except LookupError:
            pass
        assert hub.rooms() == []

    asyncio.run(scenario())


def test_hub_drops_a_connection_that_fails_on_send_from_every_room() -> None:
    async def scenario() -> None:
        hub = Hub()
        ada, gone, bob = (
            FakeConnection("ada"),
            FakeConnection("gone", fail=True),
            FakeConnection("bob"),
        )
        for connection in (ada, gone, bob):
            await hub.join("lobby", connection)
        await hub.join("attic", gone)
        await hub.broadcast_text("lobby", "still here?")
        assert hub.members("lobby") == [ada, bob]
        assert hub.rooms() == ["lobby"]
        assert ada.received == bob.received == ["still here?"]
        other = FakeConnection("other", fail=True)
        await hub.join("attic", other)
        await hub.broadcast_bytes("attic", b"x")  # a lone failing member is dropped too
        assert hub.rooms() == ["lobby"]

    asyncio.run(scenario())


def test_hub_slow_client_does_not_hold_up_the_others() -> None:
    async def scenario() -> None:
        hub = Hub()
        slow, fast = GatedConnection("slow"), FakeConnection("fast")
        await hub.join("lobby", slow)
        await hub.join("lobby", fast)
        broadcast = asyncio.create_task(hub.broadcast_text("lobby", "news"))
        await slow.waiting.wait()
        assert fast.received == ["news"]  # delivered while the slow send is still pending
        assert not broadcast.done()
        slow.gate.set()
        await broadcast
        assert slow.received == ["news"]

    asyncio.run(scenario())


def test_hub_drops_a_connection_whose_send_exceeds_the_timeout() -> None:
    async def scenario() -> None:
        hub = Hub(send_timeout=0.05)
        stuck, fine = GatedConnection("stuck"), FakeConnection("fine")
        await hub.join("lobby", stuck)
        await hub.join("lobby", fine)
        await hub.broadcast_text("lobby", "news")
        assert hub.members("lobby") == [fine]
        assert stuck.received == []

    asyncio.run(scenario())


def test_hub_satisfies_the_backend_protocol_with_real_websockets(
    client_for: ClientFactory,
) -> None:
    backend: HubBackend = Hub()
    app = Ecko()

    @app.websocket("/rooms/{room}")
    async def room(ws: WebSocket, room: str, name: Annotated[str, Query()]) -> None:
        await ws.accept()
        async with backend.join(room, ws):
            await ws.send_text(f"{len(backend.members(room))} here")
            async for message in ws:
                await backend.broadcast_text(room, f"{name}: {message}", exclude=ws)

    client = client_for(app)
    with (
        client.websocket_connect("/rooms/lobby?name=ada") as ada,
        client.websocket_connect("/rooms/lobby?name=bob") as bob,
        client.websocket_connect("/rooms/attic?name=cy") as cy,
    ):
        assert ada.receive_text() == "1 here"
        assert bob.receive_text() == "2 here"
        assert cy.receive_text() == "1 here"
        assert sorted(backend.rooms()) == ["attic", "lobby"]
        ada.send_text("hi bob")
        assert bob.receive_text() == "ada: hi bob"
        bob.send_text("hi ada")
        assert ada.receive_text() == "bob: hi ada"
        cy.send_text("anyone?")  # alone in the attic: nobody else hears it
        with pytest.raises(TimeoutError):
            ada.receive_text(timeout=0.05)
    assert backend.rooms() == []


# --- the chat example -----------------------------------------------------------------------


def test_chat_example_serves_its_page(client_for: ClientFactory) -> None:
    response = client_for(chat.app).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "new WebSocket(" in response.text
    assert "/chat/" in response.text


def test_chat_example_clients_in_one_room_see_each_others_messages(
    client_for: ClientFactory,
) -> None:
    client = client_for(chat.app)
    with client.websocket_connect("/chat/test-room?name=ada") as ada:
        assert ada.receive_json() == {"kind": "joined", "name": "ada", "members": 1}
        with client.websocket_connect("/chat/test-room?name=bob") as bob:
            assert bob.receive_json() == {"kind": "joined", "name": "bob", "members": 2}
            assert ada.receive_json() == {"kind": "joined", "name": "bob", "members": 2}
            assert client.get("/rooms").json() == {"test-room": 2}
            ada.send_text("hi bob")
            expected = {"kind": "message", "name": "ada", "text": "hi bob"}
            assert bob.receive_json() == expected
            assert ada.receive_json() == expected
            bob.send_text("hi ada")
            expected = {"kind": "message", "name": "bob", "text": "hi ada"}
            assert ada.receive_json() == expected
            assert bob.receive_json() == expected
        assert ada.receive_json() == {"kind": "left", "name": "bob", "members": 1}
    assert "test-room" not in client.get("/rooms").json()


def test_chat_example_refuses_a_name_that_is_too_long(client_for: ClientFactory) -> None:
    client = client_for(chat.app)
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect(f"/chat/lobby?name={'x' * 40}"),
    ):
        pass
    assert denied.value.status_code == 403


def test_before_websocket_hook_answer_refuses_the_handshake(client_for: ClientFactory) -> None:
    app = Ecko()
    reached: list[str] = []

    @app.before_request
    @app.before_websocket
    def require_login() -> tuple[dict[str, str], int] | None:
        if "user" not in context.get("request", context.get("websocket")).cookies:
            return {"error": "login"}, 401
        return None

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        reached.append("handler")
        await ws.accept()
        await ws.send_text("hi")

    client = client_for(app)
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws"):
        pass
    assert denied.value.status_code == 401
    assert msgspec.json.decode(denied.value.body) == {"error": "login"}
    assert reached == []
    client.cookies.set("user", "ada")
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "hi"


def test_no_route_and_a_client_gone_before_connect_ends_quietly() -> None:
    app = Ecko()
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.disconnect", "code": 1001}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "websocket", "path": "/missing", "headers": [], "query_string": b""}
    asyncio.run(app(scope, receive, send))
    assert sent == []


def test_a_membership_can_be_entered_again_after_leaving() -> None:
    hub = Hub()

    class Connection:
        def __init__(self) -> None:
            self.texts: list[str] = []

        async def send_text(self, data: str) -> None:
            self.texts.append(data)

        async def send_bytes(self, data: bytes) -> None:
            raise AssertionError("unused")

    async def scenario() -> list[str]:
        connection = Connection()
        membership = hub.join("room", connection)
        async with membership:
            await hub.broadcast_text("room", "one")
        async with membership:
            await hub.broadcast_text("room", "two")
        await hub.broadcast_text("room", "three")
        return connection.texts

    assert asyncio.run(scenario()) == ["one", "two"]
