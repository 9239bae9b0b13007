"""The WebSocket app that tests/e2e/test_websockets_e2e.py serves under uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import msgspec

from ecko import Ecko, PlainTextResponse, Query, WebSocket, WebSocketDisconnect
from ecko.websockets import Hub

app = Ecko()
hub = Hub()

active_handlers = 0
"""WebSocket handlers running right now; back to 0 once every client has gone."""
finished: list[str] = []
"""One line per handler that ended, saying how ("echo ended 1006", "client closed 4002 'bye'")."""


@asynccontextmanager
async def tracked(ws: WebSocket) -> AsyncIterator[None]:
    """Count a running handler and record the close code it ended with."""
    global active_handlers
    active_handlers += 1
    try:
        yield
    finally:
        active_handlers -= 1
        finished.append(f"{ws.path[1:]} ended {ws.close_code}")


class Move(msgspec.Struct):
    """A JSON message of the /json route."""

    x: int
    y: int


@app.get("/stats")
async def stats() -> dict[str, Any]:
    """Report running handlers, asyncio tasks and how handlers ended."""
    return {
        "active": active_handlers,
        "tasks": len(asyncio.all_tasks()),
        "finished": finished,
        "rooms": hub.rooms(),
    }


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    async with tracked(ws):
        await ws.accept()
        async for message in ws:
            await ws.send_text(f"echo:{message}")


@app.websocket("/bytes")
async def reverse_bytes(ws: WebSocket) -> None:
    await ws.accept()
    async for data in ws.iter_bytes():
        await ws.send_bytes(data[::-1])


@app.websocket("/json")
async def moves(ws: WebSocket) -> None:
    await ws.accept()
    async for move in ws.iter_json(Move):
        await ws.send_json({"x": move.x + 1, "y": move.y + 1, "kind": "moved"})


@app.websocket("/rooms/{room}")
async def room_chat(ws: WebSocket, room: str, name: Annotated[str, Query()]) -> None:
    await ws.accept()
    async with hub.join(room, ws):
        await ws.send_text(f"joined {room}")
        async for message in ws:
            await hub.broadcast_text(room, f"{name}: {message}", exclude=ws)


@app.websocket("/server-closes")
async def server_closes(ws: WebSocket) -> None:
    await ws.accept()
    reason = await ws.receive_text()
    await ws.close(4001, reason)


@app.websocket("/client-closes")
async def client_closes(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect as disconnect:
        finished.append(f"client closed {disconnect.code} {disconnect.reason!r}")


@app.websocket("/limited", max_message_size=1024)
async def limited(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws:
        await ws.send_text(str(len(message)))


@app.websocket("/boom")
async def boom(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive_text()
    raise RuntimeError("secret-detail-42")


@app.websocket("/typed/{number}")
async def typed(ws: WebSocket, number: int, token: Annotated[str, Query(min_length=3)]) -> None:
    await ws.accept()
    await ws.send_json({"number": number, "token": token, "path_param": ws.path_params["number"]})


@app.websocket("/deny")
async def deny(ws: WebSocket) -> None:
    await ws.send_denial_response(
        PlainTextResponse("no entry without a token", 401, {"x-denied-by": "ecko"})
    )
