"""The app tests/e2e/test_granian_e2e.py serves with `ecko run --server granian`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from ecko import Ecko, PlainTextResponse, Query, StreamingResponse, WebSocket

STARTED_FILE = "GRANIAN_APP_STARTED_FILE"
"""The environment variable naming the file the startup hook writes."""
STOPPED_FILE = "GRANIAN_APP_STOPPED_FILE"
"""The environment variable naming the file the shutdown hook writes."""

app = Ecko()
gates: dict[str, asyncio.Event] = {}


@app.on_startup
def write_started_marker() -> None:
    Path(os.environ[STARTED_FILE]).write_text(f"started {os.getpid()}")


@app.on_shutdown
def write_stopped_marker() -> None:
    Path(os.environ[STOPPED_FILE]).write_text(f"stopped {os.getpid()}")


@app.get("/items/{item_id}")
def get_item(
    item_id: int, limit: Annotated[int, Query(ge=1)] = 10, tag: str | None = None
) -> dict[str, object]:
    return {"item_id": item_id, "limit": limit, "tag": tag, "debug": app.debug}


@app.get("/stream/{token}")
async def stream(token: str) -> StreamingResponse:
    gate = gates.setdefault(token, asyncio.Event())

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        await asyncio.wait_for(gate.wait(), 10)
        yield b"second\n"

    return StreamingResponse(chunks(), media_type="text/plain")


@app.post("/release/{token}")
async def release(token: str) -> dict[str, bool]:
    gate = gates.get(token)
    if gate is not None:
        gate.set()
    return {"released": gate is not None}


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws:
        await ws.send_text(f"echo:{message}")


@app.websocket("/deny")
async def deny(ws: WebSocket) -> None:
    await ws.send_denial_response(
        PlainTextResponse("no entry without a token", 401, {"x-denied-by": "ecko"})
    )
