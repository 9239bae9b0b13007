"""Over-the-wire mode: each app under a real server, load from `wrk` on another CPU.

The server runs pinned to CPU 0 (`taskset -c 0`, one worker); `wrk` and the WebSocket client
run pinned to CPU 1. Every scenario is checked over HTTP before it is loaded. Also here:
memory of each idle server and per 1,000 open WebSocket connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios import WS_MESSAGE, Scenario

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SERVER_CPU = "0"
CLIENT_CPU = 1


@dataclass(frozen=True)
class Server:
    """How to start one app under one server."""

    server: str  # "uvicorn" or "granian"
    module: str
    attribute: str

    def command(self, port: int) -> list[str]:
        """The command line, pinned to the server CPU."""
        target = f"apps.{self.module}:{self.attribute}"
        if self.server == "uvicorn":
            serve = [
                str(BIN / "python"), "-m", "uvicorn", target,
                "--loop", "uvloop", "--http", "httptools", "--ws", "websockets",
                "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning", "--no-access-log",
            ]  # fmt: skip
        else:
            serve = [
                str(BIN / "granian"), target,
                "--interface", "asgi", "--loop", "uvloop", "--workers", "1",
                "--runtime-threads", "1", "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning", "--ws",
            ]  # fmt: skip
        return ["taskset", "-c", SERVER_CPU, *serve]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def running(server: Server, timeout: float = 30) -> Iterator[tuple[int, int]]:
    """Start `server`, wait until it accepts connections; yield `(port, pid)`; stop it."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE), "ECKO_DEBUG": "0"}
    process = subprocess.Popen(
        server.command(port),
        cwd=HERE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"{server} exited: {error[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server} did not start in {timeout}s")
            time.sleep(0.05)
        yield port, process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # the session holds only this server
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        if process.stderr:
            process.stderr.close()


def rss_kib(pid: int) -> int:
    """Resident memory of every process under `pid` (granian forks a worker), in KiB."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            for child in map(int, text):
                found += [child, *_children(child)]
    return found


def check_http(port: int, scenario: Scenario) -> None:
    """Send the scenario once over HTTP; raise AssertionError unless the answer is right."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {k.decode(): v.decode() for k, v in scenario.request_headers}
        connection.request(
            scenario.method, scenario.url_path, body=scenario.request_body or None, headers=headers
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != scenario.status:
        raise AssertionError(
            f"status {response.status}, expected {scenario.status}: {body[:200]!r}"
        )
    if scenario.body is not None and body != scenario.body:
        raise AssertionError(f"body {body[:120]!r}, expected {scenario.body[:120]!r}")
    if scenario.header is not None:
        name, value = scenario.header
        if response.getheader(name.decode()) != value.decode():
            raise AssertionError(f"header {name!r} missing: {response.getheaders()}")


_LUA_TEMPLATE = """wrk.method = "{method}"
wrk.body = '{body}'
{headers}
"""


def wrk(port: int, scenario: Scenario, seconds: float, connections: int) -> float:
    """Load the scenario with wrk (pinned to the client CPU); return requests per second."""
    headers = "\n".join(
        f'wrk.headers["{k.decode()}"] = "{v.decode()}"' for k, v in scenario.request_headers
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            _LUA_TEMPLATE.format(
                method=scenario.method, body=scenario.request_body.decode(), headers=headers
            )
        )
    try:
        output = subprocess.run(
            [
                "taskset",
                "-c",
                str(CLIENT_CPU),
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}{scenario.url_path}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"wrk printed no rate: {output}")
    errors = re.search(r"Socket errors: (.*)", output)
    if errors and "timeout" in errors.group(1) and not errors.group(1).endswith("timeout 0"):
        raise RuntimeError(f"wrk saw errors: {errors.group(1)}")
    return float(match.group(1))


async def _echo_rate(port: int, seconds: float, clients: int) -> float:
    """Echo round trips per second over `clients` connections for `seconds` (bounded)."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/ws"
    counts = [0] * clients
    deadline = time.perf_counter() + seconds

    async def one(index: int) -> None:
        async with connect(url, compression=None, max_size=2**20) as ws:
            await ws.send(WS_MESSAGE)
            if await ws.recv() != WS_MESSAGE:
                raise AssertionError("echo answered something else")
            while time.perf_counter() < deadline:
                await ws.send(WS_MESSAGE)
                await ws.recv()
                counts[index] += 1

    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(clients))), seconds + 30)
    return sum(counts) / (time.perf_counter() - start)


def echo_rate(port: int, seconds: float, clients: int = 8) -> float:
    """Scenario 11 over the wire: round trips per second (client pinned to the client CPU)."""
    return asyncio.run(_echo_rate(port, seconds, clients))


async def _hold_connections(port: int, pid: int, count: int) -> tuple[int, int]:
    """Open `count` WebSockets, echo once on each; return RSS before and with them open."""
    from websockets.asyncio.client import connect

    before = rss_kib(pid)
    sockets: list[Any] = []
    limit = asyncio.Semaphore(50)

    async def open_one() -> None:
        async with limit:
            ws = await connect(f"ws://127.0.0.1:{port}/ws", compression=None, open_timeout=30)
            await ws.send(WS_MESSAGE)
            await ws.recv()
            sockets.append(ws)

    try:
        await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(count))), 120)
        await asyncio.sleep(0.5)
        during = rss_kib(pid)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return before, during


def memory(port: int, pid: int, connections: int) -> dict[str, float]:
    """Idle RSS (MiB) and extra RSS per 1,000 open WebSocket connections (MiB)."""
    idle = rss_kib(pid)
    before, during = asyncio.run(_hold_connections(port, pid, connections))
    return {
        "idle_mib": idle / 1024,
        "per_1000_ws_mib": (during - before) / 1024 * 1000 / connections,
    }


def pin_client() -> None:
    """Keep this process (the WebSocket client) off the server's CPU."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {CLIENT_CPU})


def measure(
    frameworks: dict[str, str],
    servers: dict[str, list[str]],
    scenarios: list[Scenario],
    rounds: int,
    seconds: float,
    connections: int,
    memory_frameworks: list[str],
    ws_connections: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Load every (server, framework) on every scenario; then measure memory.

    Args:
        frameworks: display name -> app module.
        servers: server name -> the frameworks run under it.
        scenarios: the scenarios to load.
        rounds: how many times each server is started and loaded (best kept).
        seconds: wrk's duration per scenario.
        connections: wrk's open connections.
        memory_frameworks: the frameworks whose memory is measured.
        ws_connections: WebSockets held open for the memory figure.
        log: prints progress.

    Returns:
        `{"rps": {server: {framework: {scenario: req/s}}}, "memory": {...}, "errors": {...}}`.
    """
    pin_client()
    samples: dict[str, dict[str, dict[int, list[float]]]] = {}
    errors: dict[str, str] = {}
    for round_number in range(rounds):
        for server_name, names in servers.items():
            for name in names:
                by_target: dict[str, list[Scenario]] = {}
                for scenario in scenarios:
                    by_target.setdefault(scenario.target, []).append(scenario)
                for target, group in by_target.items():
                    server = Server(server_name, frameworks[name], target)
                    try:
                        with running(server) as (port, _pid):
                            for scenario in group:
                                key = f"{server_name}/{name}/{scenario.number}"
                                if key in errors:
                                    continue
                                try:
                                    if scenario.websocket:
                                        rate = echo_rate(port, seconds)
                                    else:
                                        check_http(port, scenario)
                                        if scenario.number == group[0].number:
                                            wrk(port, scenario, 1, connections)  # warm-up
                                        rate = wrk(port, scenario, seconds, connections)
                                except Exception as error:  # noqa: BLE001 - reported
                                    errors[key] = f"{type(error).__name__}: {error}"
                                    log(f"  ! {key}: {errors[key][:300]}")
                                    continue
                                samples.setdefault(server_name, {}).setdefault(name, {}).setdefault(
                                    scenario.number, []
                                ).append(rate)
                    except RuntimeError as error:
                        errors[f"{server_name}/{name}/{target}"] = str(error)
                        log(f"  ! {server_name} {name}: {str(error)[:300]}")
                log(f"  {server_name} {name} done (round {round_number + 1}/{rounds})")
    rps = {
        server: {
            name: {number: max(values) for number, values in by_number.items()}
            for name, by_number in by_name.items()
        }
        for server, by_name in samples.items()
    }
    usage: dict[str, dict[str, float]] = {}
    for name in memory_frameworks:
        try:
            with running(Server("uvicorn", frameworks[name], "app")) as (port, pid):
                for scenario in scenarios:  # idle after each route has run once
                    if not scenario.websocket and scenario.target == "app":
                        check_http(port, scenario)
                time.sleep(0.3)
                usage[name] = memory(port, pid, ws_connections)
        except Exception as error:  # noqa: BLE001 - reported
            errors[f"memory/{name}"] = f"{type(error).__name__}: {error}"
            log(f"  ! memory {name}: {error}")
        log(f"  memory {name} done")
    return {"rps": rps, "memory": usage, "errors": errors}
