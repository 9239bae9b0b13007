"""A live clock: server-sent events shown by a small page through the browser's EventSource.

Run it with `ecko run examples/sse_clock.py:app` and open http://127.0.0.1:8000/. The page
updates every second; stop and restart the server and it reconnects by itself, asking for
the ticks it missed with `Last-Event-ID` (kept by a replay buffer while the server ran).
`curl -N http://127.0.0.1:8000/clock` shows the raw stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from ecko import Ecko, HTMLResponse, Query, ServerSentEvent
from ecko.sse import MemoryReplayBuffer

app = Ecko(shutdown_drain_timeout=1.0)
history = MemoryReplayBuffer(max_events=120)


@app.get("/")
def index() -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.sse("/clock", replay=history, retry=1000, ping=15.0)
async def clock(
    interval: Annotated[float, Query(ge=0.01, le=60)] = 1.0,
) -> AsyncIterator[ServerSentEvent]:
    """Tick every `interval` seconds; ids count intervals, so every client shares them."""
    while not app.shutdown_signal.is_set():
        now = time.time()
        tick = int(now // interval)
        stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
        yield ServerSentEvent({"time": stamp, "tick": tick}, event="tick", id=str(tick))
        await asyncio.sleep((tick + 1) * interval - time.time())
    # The server is stopping: the browser reconnects after `retry` milliseconds.
    yield ServerSentEvent("the server is restarting", event="bye")


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Ecko clock</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 3rem auto; max-width: 32rem; }
  #time { font-size: 3rem; font-variant-numeric: tabular-nums; }
  #status { color: #666; }
  #log { font-family: ui-monospace, monospace; font-size: .8rem; color: #444; }
</style>
</head>
<body>
<h1>Ecko clock</h1>
<p id="time">--:--:--</p>
<p id="status">connecting…</p>
<ol id="log" reversed></ol>
<script>
  const time = document.getElementById("time");
  const status = document.getElementById("status");
  const log = document.getElementById("log");
  const source = new EventSource("/clock");

  source.onopen = () => { status.textContent = "live"; };
  source.onerror = () => { status.textContent = "reconnecting…"; };
  source.addEventListener("tick", (event) => {
    const tick = JSON.parse(event.data);
    time.textContent = new Date(tick.time).toLocaleTimeString();
    const item = document.createElement("li");
    item.textContent = `#${event.lastEventId} ${tick.time}`;
    log.prepend(item);
    while (log.children.length > 10) log.lastChild.remove();
  });
  source.addEventListener("bye", (event) => { status.textContent = event.data; });
</script>
</body>
</html>
"""
