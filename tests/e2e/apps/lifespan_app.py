"""Records its lifespan into MARKER_DIR: each hook appends to events.log, start/stop markers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ecko import Ecko

markers = Path(os.environ["MARKER_DIR"])


def record(event: str) -> None:
    """Append `event` to the log the test reads."""
    with (markers / "events.log").open("a") as log:
        log.write(event + "\n")


@contextlib.asynccontextmanager
async def lifespan(app: Ecko[Any]) -> AsyncIterator[None]:
    record("context enter")
    yield
    record("context exit")


app = Ecko(lifespan=lifespan)


@app.on_startup
def write_started_marker() -> None:
    record("startup sync")
    (markers / "started").write_text(str(os.getpid()))


@app.on_startup
async def async_startup() -> None:
    record("startup async")


@app.on_shutdown
async def async_shutdown() -> None:
    record("shutdown async")


@app.on_shutdown
def write_stopped_marker() -> None:
    record("shutdown sync")
    (markers / "stopped").write_text(str(os.getpid()))


@app.get("/events")
def events() -> list[str]:
    return (markers / "events.log").read_text().splitlines()
