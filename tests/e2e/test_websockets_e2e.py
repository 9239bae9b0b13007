"""WebSockets through a real server: uvicorn in a subprocess, the `websockets` client library."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ecko.serialization import decode_json
from ecko.testing import LiveServer

ROOT = Path(__file__).resolve().parents[2]

# uvicorn's default WebSocket implementation (websockets-sansio) logs this after every
# denial response although the response went out (Kludex/uvicorn#3138, open).
KNOWN_UVICORN_DENIAL_ERROR = "ERROR:    ASGI callable returned without completing handshake."


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer("tests.e2e.ws_app:app", cwd=ROOT) as live:
        yield live


def stats(server: LiveServer) -> dict[str, Any]:
    """Ask the app how many handlers run, how many tasks exist and how handlers ended."""
    result: dict[str, Any] = httpx.get(f"{server.url}/stats", timeout=5).json()
    return result


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)  # poll interval


def ended_abruptly(line: str) -> bool:
    """Tell whether a /stats `finished` line is an echo handler whose client vanished.

    uvicorn reports a TCP connection lost without a closing handshake as 1005 (its
    websockets-sansio protocol) or 1006 (wsproto, websockets legacy).
    """
    return line in ("echo ended 1005", "echo ended 1006")


def error_lines(log: str) -> list[str]:
    """Return the lines of a server log that report errors."""
    return [
        line
        for line in log.splitlines()
        if ("ERROR" in line or "Traceback" in line or "Unhandled" in line)
        and line != KNOWN_UVICORN_DENIAL_ERROR
    ]


async def closed_by_server(ws: ClientConnection) -> ConnectionClosed:
    """Wait for the server to close `ws` and return how it closed."""
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    return closed.value


async def refused(url: str) -> InvalidStatus:
    """Open a WebSocket the server must refuse, and return the refusal."""
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(url):
            pass
    return refusal.value


def test_echo_text_messages(server: LiveServer) -> None:
    async def scenario() -> None:
        async with connect(f"{server.ws_url}/echo") as ws:
            for text in ("hello", "héllo wörld", ""):
                await ws.send(text)
                assert await ws.recv() == f"echo:{text}"

    asyncio.run(scenario())


def test_binary_messages(server: LiveServer) -> None:
    async def scenario() -> None:
        async with connect(f"{server.ws_url}/bytes") as ws:
            await ws.send(bytes(range(256)))
            assert await ws.recv() == bytes(reversed(range(256)))

    asyncio.run(scenario())


def test_json_messages_are_validated_into_a_struct(server: LiveServer) -> None:
    async def scenario() -> None:
        async with connect(f"{server.ws_url}/json") as ws:
            await ws.send('{"x": 1, "y": 2}')
            assert decode_json(await ws.recv()) == {"x": 2, "y": 3, "kind": "moved"}
            await ws.send('{"x": "left", "y": 2}')
            closed = await closed_by_server(ws)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1007
        assert "Expected `int`, got `str`" in closed.rcvd.reason

    asyncio.run(scenario())


def test_rooms_deliver_to_the_other_members_only(server: LiveServer) -> None:
    async def scenario() -> None:
        base = f"{server.ws_url}/rooms"
        async with (
            connect(f"{base}/lobby?name=ada") as ada,
            connect(f"{base}/lobby?name=bob") as bob,
            connect(f"{base}/attic?name=cy") as cy,
        ):
            for ws, room in ((ada, "lobby"), (bob, "lobby"), (cy, "attic")):
                assert await ws.recv() == f"joined {room}"
            await ada.send("hi bob")
            assert await bob.recv() == "ada: hi bob"
            await bob.send("hi ada")
            assert await ada.recv() == "bob: hi ada"
            await cy.send("anyone?")
            await ada.send("still here")
            # Ordered per connection: bob's next message is ada's, never cy's from the attic.
            assert await bob.recv() == "ada: still here"

    asyncio.run(scenario())
    wait_until(lambda: stats(server)["rooms"] == [], "the rooms to empty")


def test_server_close_code_and_reason_reach_the_client(server: LiveServer) -> None:
    async def scenario() -> ConnectionClosed:
        async with connect(f"{server.ws_url}/server-closes") as ws:
            await ws.send("see you")
            return await closed_by_server(ws)

    closed = asyncio.run(scenario())
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (4001, "see you")


def test_client_close_code_and_reason_reach_the_handler(server: LiveServer) -> None:
    async def scenario() -> None:
        async with connect(f"{server.ws_url}/client-closes") as ws:
            await ws.send("ping")
            assert await ws.recv() == "ping"
            await ws.close(4002, "done for today")

    asyncio.run(scenario())
    line = "client closed 4002 'done for today'"
    wait_until(lambda: line in stats(server)["finished"], "the handler to see the close")


def test_abrupt_disconnects_end_handlers_without_errors_or_leaked_tasks(
    server: LiveServer,
) -> None:
    log_start = len(server.logs())
    baseline = stats(server)
    assert baseline["active"] == 0
    aborted_before = sum(map(ended_abruptly, baseline["finished"]))

    async def scenario() -> None:
        connections = [await connect(f"{server.ws_url}/echo") for _ in range(20)]
        for number, ws in enumerate(connections):
            await ws.send(f"message {number}")
            assert await ws.recv() == f"echo:message {number}"
        # Drop the TCP connections with no closing handshake, as a crashed client would.
        for ws in connections:
            ws.transport.abort()
        for ws in connections:
            await ws.wait_closed()

    asyncio.run(scenario())

    def settled() -> bool:
        now = stats(server)
        return (
            now["active"] == 0
            and sum(map(ended_abruptly, now["finished"])) == aborted_before + 20
            and now["tasks"] <= baseline["tasks"]
        )

    wait_until(settled, "every handler to end and its tasks to finish")
    assert error_lines(server.logs()[log_start:]) == []


def test_oversized_message_closes_with_1009(server: LiveServer) -> None:
    async def scenario() -> list[ConnectionClosed]:
        closes = []
        async with connect(f"{server.ws_url}/echo", max_size=None) as ws:
            await ws.send("x" * (1024 * 1024))  # the default limit, 1 MiB, is allowed
            assert await ws.recv() == "echo:" + "x" * (1024 * 1024)
            await ws.send("x" * (1024 * 1024 + 1))
            closes.append(await closed_by_server(ws))
        async with connect(f"{server.ws_url}/limited") as ws:
            await ws.send("x" * 1024)
            assert await ws.recv() == "1024"
            await ws.send(b"x" * 1025)
            closes.append(await closed_by_server(ws))
        return closes

    for closed in asyncio.run(scenario()):
        assert closed.rcvd is not None
        assert (closed.rcvd.code, closed.rcvd.reason) == (1009, "Message too big")


def test_200_concurrent_connections_each_exchange_50_messages(server: LiveServer) -> None:
    log_start = len(server.logs())

    async def client(number: int) -> int:
        async with connect(f"{server.ws_url}/echo", open_timeout=30) as ws:
            for sequence in range(50):
                message = f"client {number} message {sequence}"
                await ws.send(message)
                reply = await ws.recv()
                assert reply == f"echo:{message}", f"client {number} got {reply!r}"
        return number

    async def scenario() -> list[int]:
        return await asyncio.gather(*(client(number) for number in range(200)))

    assert asyncio.run(scenario()) == list(range(200))
    wait_until(lambda: stats(server)["active"] == 0, "every echo handler to end")
    assert error_lines(server.logs()[log_start:]) == []


def test_handshake_for_a_path_without_a_route_is_refused_with_403(server: LiveServer) -> None:
    refusal = asyncio.run(refused(f"{server.ws_url}/no-such-route"))
    assert refusal.response.status_code == 403
    # An HTTP route is not a WebSocket route.
    refusal = asyncio.run(refused(f"{server.ws_url}/stats"))
    assert refusal.response.status_code == 403


def test_handshake_failing_validation_is_refused_with_403_and_the_reason(
    server: LiveServer,
) -> None:
    async def scenario() -> None:
        async with connect(f"{server.ws_url}/typed/7?token=abcd") as ws:
            assert decode_json(await ws.recv()) == {"number": 7, "token": "abcd", "path_param": "7"}

    asyncio.run(scenario())
    for path, loc in (
        ("/typed/seven?token=abcd", ["path", "number"]),
        ("/typed/7?token=a", ["query", "token"]),
    ):
        refusal = asyncio.run(refused(f"{server.ws_url}{path}"))
        assert refusal.response.status_code == 403
        problem = decode_json(bytes(refusal.response.body or b""))
        assert [error["loc"] for error in problem["errors"]] == [loc]


def test_handler_exception_closes_with_1011_without_the_exception_text(
    server: LiveServer,
) -> None:
    log_start = len(server.logs())

    async def scenario() -> ConnectionClosed:
        async with connect(f"{server.ws_url}/boom") as ws:
            await ws.send("go")
            return await closed_by_server(ws)

    closed = asyncio.run(scenario())
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1011
    assert "secret-detail-42" not in closed.rcvd.reason
    # The server log has the whole story.
    wait_until(lambda: "secret-detail-42" in server.logs()[log_start:], "the error to be logged")
    log = server.logs()[log_start:]
    assert "Traceback" in log
    assert "WebSocket /boom" in log


def test_denial_response_reaches_the_client_through_uvicorn(server: LiveServer) -> None:
    refusal = asyncio.run(refused(f"{server.ws_url}/deny"))
    assert refusal.response.status_code == 401
    assert refusal.response.headers["x-denied-by"] == "ecko"
    assert refusal.response.body == b"no entry without a token"


def test_chat_example_over_a_real_server() -> None:
    async def scenario(url: str) -> None:
        async with connect(f"{url}/chat/e2e?name=ada") as ada:
            assert decode_json(await ada.recv()) == {"kind": "joined", "name": "ada", "members": 1}
            async with connect(f"{url}/chat/e2e?name=bob") as bob:
                joined = {"kind": "joined", "name": "bob", "members": 2}
                assert decode_json(await bob.recv()) == joined
                assert decode_json(await ada.recv()) == joined
                await bob.send("hello from bob")
                said = {"kind": "message", "name": "bob", "text": "hello from bob"}
                assert decode_json(await ada.recv()) == said
                assert decode_json(await bob.recv()) == said
            assert decode_json(await ada.recv()) == {"kind": "left", "name": "bob", "members": 1}

    with LiveServer("examples.chat:app", cwd=ROOT) as chat_server:
        page = httpx.get(f"{chat_server.url}/", timeout=5)
        assert page.status_code == 200
        assert "new WebSocket(" in page.text
        asyncio.run(scenario(chat_server.ws_url))
        assert error_lines(chat_server.logs()) == []
