"""In-process mode: each app's ASGI callable driven directly, no server and no socket.

Every (framework, scenario) cell is first checked (status, exact body, required header),
then timed in interleaved rounds: each round visits every framework in turn, so machine
noise hits all of them alike. The figure reported is the median over rounds.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from scenarios import SCENARIOS, WS_MESSAGE, Scenario

App = Callable[..., Awaitable[None]]
Message = dict[str, Any]


class CheckError(AssertionError):
    """An app answered a scenario with the wrong status, body or headers."""


class Lifespan:
    """Run an app's lifespan startup, keep it alive, and shut it down at the end."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Send `lifespan.startup` and wait for the app to complete it."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        reply = await self.outbox.get()
        if reply["type"] != "lifespan.startup.complete":
            raise CheckError(f"lifespan startup failed: {reply}")

    async def stop(self) -> None:
        """Send `lifespan.shutdown` and wait for the app to finish."""
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        if self.task is not None:
            await self.task


def _scope(scenario: Scenario, state: dict[str, Any]) -> dict[str, Any]:
    """The scope uvicorn (httptools) would build for this request."""
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"bench"),
        (b"accept", b"*/*"),
        *scenario.request_headers,
    ]
    if scenario.request_body:
        headers.append((b"content-length", b"%d" % len(scenario.request_body)))
    scope: dict[str, Any] = {
        "type": "websocket" if scenario.websocket else "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "ws" if scenario.websocket else "http",
        "root_path": "",
        "path": scenario.path,
        "raw_path": scenario.path.encode(),
        "query_string": scenario.query,
        "headers": headers,
        "state": state,
    }
    if not scenario.websocket:
        scope["method"] = scenario.method
    else:
        headers += [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        ]
    return scope


class HTTPCall:
    """One scenario's request against one app, as a server would make it."""

    def __init__(self, app: App, scenario: Scenario, state: dict[str, Any]) -> None:
        self.app = app
        self.scenario = scenario
        self.template = _scope(scenario, state)
        self.state = state

    async def __call__(self) -> tuple[int, list[tuple[bytes, bytes]], list[bytes]]:
        """Send the request once; return the status, headers and body chunks."""
        scope = dict(self.template)
        scope["state"] = dict(self.state)  # uvicorn gives each request a copy
        request: Message | None = {
            "type": "http.request",
            "body": self.scenario.request_body,
            "more_body": False,
        }
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal request
            if request is not None:
                message, request = request, None
                return message
            # Like a server: nothing more arrives until the client goes away.
            await asyncio.get_running_loop().create_future()
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, headers, chunks

    async def check(self) -> None:
        """Raise CheckError unless the answer is the scenario's."""
        status, headers, chunks = await self()
        expected = self.scenario
        body = b"".join(chunks)
        if status != expected.status:
            raise CheckError(f"status {status}, expected {expected.status}: {body[:200]!r}")
        if expected.body is not None and body != expected.body:
            raise CheckError(f"body {body[:120]!r}, expected {expected.body[:120]!r}")
        if expected.header is not None:
            lowered = [(k.lower(), v) for k, v in headers]
            if expected.header not in lowered:
                raise CheckError(f"header {expected.header} missing from {headers}")

    async def time(self, count: int) -> float:
        """Return the seconds `count` requests take."""
        call = self.__call__
        start = time.perf_counter()
        for _ in range(count):
            await call()
        return time.perf_counter() - start


class WebSocketCall:
    """Scenario 11: echo round trips over one open in-process WebSocket connection."""

    def __init__(self, app: App, scenario: Scenario, state: dict[str, Any]) -> None:
        self.app = app
        self.scenario = scenario
        self.state = state

    async def _open(self) -> tuple[asyncio.Queue[Message], asyncio.Queue[Message], Any]:
        to_app: asyncio.Queue[Message] = asyncio.Queue()
        from_app: asyncio.Queue[Message] = asyncio.Queue()
        scope = _scope(self.scenario, dict(self.state))
        task = asyncio.create_task(self.app(scope, to_app.get, from_app.put))
        await to_app.put({"type": "websocket.connect"})
        accepted = await from_app.get()
        if accepted["type"] != "websocket.accept":
            raise CheckError(f"handshake answered {accepted}")
        return to_app, from_app, task

    async def _close(self, to_app: asyncio.Queue[Message], task: Any) -> None:
        await to_app.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(task, 5)

    async def check(self) -> None:
        """Raise CheckError unless a message comes back unchanged."""
        to_app, from_app, task = await self._open()
        await to_app.put({"type": "websocket.receive", "text": WS_MESSAGE})
        reply = await from_app.get()
        if reply.get("text") != WS_MESSAGE:
            raise CheckError(f"echo answered {reply}")
        await self._close(to_app, task)

    async def time(self, count: int) -> float:
        """Return the seconds `count` echo round trips take (connection set up untimed)."""
        to_app, from_app, task = await self._open()
        message = {"type": "websocket.receive", "text": WS_MESSAGE}
        start = time.perf_counter()
        for _ in range(count):
            await to_app.put(message)
            await from_app.get()
        elapsed = time.perf_counter() - start
        await self._close(to_app, task)
        return elapsed


async def _hop_cost(count: int, rounds: int) -> float:
    """Microseconds of one bare threadpool hop (`run_in_executor` of a no-op)."""
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=40)

    def noop() -> None:
        return None

    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            await loop.run_in_executor(pool, noop)
        samples.append((time.perf_counter() - start) / count * 1e6)
    pool.shutdown()
    return statistics.median(samples)


async def measure(
    frameworks: dict[str, str], rounds: int, cell_seconds: float, log: Callable[[str], None]
) -> dict[str, Any]:
    """Check then time every framework on every scenario.

    Returns:
        `{"us": {framework: {scenario number: µs}}, "errors": {...}, "hop_us": float}`.
    """
    cells: dict[tuple[str, int], HTTPCall | WebSocketCall] = {}
    lifespans: list[Lifespan] = []
    errors: dict[str, dict[int, str]] = {}
    for name, module_name in frameworks.items():
        module = importlib.import_module(f"apps.{module_name}")
        started: dict[str, Lifespan] = {}
        for scenario in SCENARIOS:
            app = getattr(module, scenario.target)
            if scenario.target not in started:
                started[scenario.target] = Lifespan(app)
                await started[scenario.target].start()
            state = started[scenario.target].state
            kind = WebSocketCall if scenario.websocket else HTTPCall
            cell = kind(app, scenario, state)
            try:
                await cell.check()
            except Exception as error:  # noqa: BLE001 - reported, the cell is skipped
                errors.setdefault(name, {})[scenario.number] = f"{type(error).__name__}: {error}"
                log(f"  ! {name} scenario {scenario.number}: {error}")
                continue
            cells[name, scenario.number] = cell
        lifespans.extend(started.values())

    # Calibrate: how many calls fill `cell_seconds` for each cell.
    counts: dict[tuple[str, int], int] = {}
    for key, cell in cells.items():
        await cell.time(20)  # warm-up
        sample = max(await cell.time(50), 1e-6)
        counts[key] = max(20, int(cell_seconds / (sample / 50)))

    samples: dict[tuple[str, int], list[float]] = {key: [] for key in cells}
    for round_number in range(rounds):
        for scenario in SCENARIOS:
            for name in frameworks:  # interleaved: each framework in turn, every round
                key = (name, scenario.number)
                if key not in cells:
                    continue
                gc.collect()
                elapsed = await cells[key].time(counts[key])
                samples[key].append(elapsed / counts[key] * 1e6)
        log(f"  round {round_number + 1}/{rounds} done")
    hop = await _hop_cost(2000, rounds)
    for lifespan in lifespans:
        await lifespan.stop()
    result: dict[str, dict[int, float]] = {name: {} for name in frameworks}
    for (name, number), values in samples.items():
        result[name][number] = statistics.median(values)
    return {"us": result, "errors": errors, "hop_us": hop, "counts": counts}
