"""Event streams, JSON Lines and an idle WebSocket, to watch over the wire and on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from ecko import Ecko, WebSocket
from ecko.sse import JSONLinesResponse, ServerSentEvent

app = Ecko(shutdown_drain_timeout=float(os.environ.get("SSE_APP_DRAIN", "1.0")))
gates: dict[str, asyncio.Event] = {}


@app.sse("/gated/{token}")
async def gated(token: str) -> AsyncIterator[ServerSentEvent]:
    gate = gates.setdefault(token, asyncio.Event())
    yield ServerSentEvent({"n": 1}, event="first", id="1")
    await asyncio.wait_for(gate.wait(), 10)
    yield ServerSentEvent({"n": 2}, event="second", id="2")


@app.post("/release/{token}")
def release(token: str) -> dict[str, bool]:
    gates.setdefault(token, asyncio.Event()).set()
    return {"released": True}


@app.sse("/forever", ping=0.2)
async def forever() -> AsyncIterator[str]:
    yield "hello"
    await asyncio.Event().wait()  # only the drain ends this stream
    yield "never"


@app.sse("/forever-sync", ping=0.2)
def forever_sync() -> Iterator[str]:
    while True:  # stops at a yield once the client or the drain closes it
        yield "tick"
        time.sleep(0.05)


@app.get("/lines")
async def lines() -> JSONLinesResponse:
    async def generate() -> AsyncIterator[dict[str, int]]:
        for number in range(3):
            yield {"n": number}

    return JSONLinesResponse(generate())


@app.websocket("/idle")
async def idle(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await asyncio.Event().wait()  # never touches the socket again: only the drain ends it


@app.on_shutdown
def mark_stopped() -> None:
    marker = os.environ.get("SSE_APP_STOPPED_FILE")
    if marker:
        Path(marker).write_text("stopped")
