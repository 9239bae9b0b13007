"""Streams whose second chunk waits for the test to call /release/{token}, behind a middleware."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ecko import Ecko, Request, Response, StreamingResponse

app = Ecko()
async_gates: dict[str, asyncio.Event] = {}
sync_gates: dict[str, threading.Event] = {}


async def tag(request: Request, call_next: Any) -> Response:
    """A function middleware the streams pass through."""
    response: Response = await call_next()
    response.headers["X-Middleware"] = "seen"
    return response


app.use(tag)


@app.get("/stream/async/{token}")
async def stream_async(token: str) -> StreamingResponse:
    gate = async_gates.setdefault(token, asyncio.Event())

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first\n"
        await asyncio.wait_for(gate.wait(), 10)
        yield b"second\n"

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/stream/sync/{token}")
def stream_sync(token: str) -> StreamingResponse:
    gate = sync_gates.setdefault(token, threading.Event())

    def chunks() -> Iterator[str]:
        yield "first\n"
        if not gate.wait(10):
            raise TimeoutError("the test never released the stream")
        yield "second\n"

    return StreamingResponse(chunks(), media_type="text/plain")


@app.post("/release/{token}")
async def release(token: str) -> dict[str, bool]:
    gates = [async_gates.get(token), sync_gates.get(token)]
    for gate in gates:
        if gate is not None:
            gate.set()
    return {"released": any(gate is not None for gate in gates)}
