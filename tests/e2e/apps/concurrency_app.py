"""Sync handlers that sleep or block, and async ones that must stay responsive meanwhile."""

from __future__ import annotations

import threading
import time

from ecko import Ecko

app = Ecko()
lock = threading.Lock()
gate = threading.Event()
blocked = 0


@app.get("/sleep")
def sleep(seconds: float = 1.0) -> dict[str, str]:
    time.sleep(seconds)
    return {"thread": threading.current_thread().name}


@app.get("/block")
def block() -> dict[str, bool]:
    global blocked
    with lock:
        blocked += 1
    try:
        released = gate.wait(30)
    finally:
        with lock:
            blocked -= 1
    return {"released": released}


@app.get("/blocked")
async def how_many_blocked() -> dict[str, int]:
    return {"blocked": blocked}


@app.post("/release")
async def release() -> dict[str, bool]:
    gate.set()
    return {"released": True}


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"pong": True}
