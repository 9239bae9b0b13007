"""Background tasks that wait for a signal, to show the response leaves before they finish."""

from __future__ import annotations

import asyncio
import threading

from ecko import BackgroundTasks, Ecko, context

app = Ecko()

release = threading.Event()
state: dict[str, str] = {"sync": "idle", "async": "idle"}
async_release: asyncio.Event | None = None


def slow_report(label: str) -> None:
    state["sync"] = "running"
    # Bounded, so a failing test never leaves the server's threadpool stuck.
    released = release.wait(timeout=20)
    state["sync"] = f"done:{label}:{context.request.path}" if released else "timed out"


async def slow_report_async(label: str) -> None:
    global async_release
    async_release = asyncio.Event()
    state["async"] = "running"
    try:
        await asyncio.wait_for(async_release.wait(), timeout=20)
    except TimeoutError:
        state["async"] = "timed out"
    else:
        state["async"] = f"done:{label}:{context.request.path}"


@app.post("/report")
def report(tasks: BackgroundTasks) -> str:
    release.clear()
    state["sync"] = "queued"
    tasks.add(slow_report, "weekly")
    return "accepted"


@app.post("/report-async")
async def report_async(tasks: BackgroundTasks) -> str:
    state["async"] = "queued"
    tasks.add(slow_report_async, "daily")
    return "accepted"


@app.post("/release")
def release_tasks() -> str:
    release.set()
    if async_release is not None:
        async_release.set()
    return "released"


@app.get("/state")
def get_state() -> dict[str, str]:
    return state
