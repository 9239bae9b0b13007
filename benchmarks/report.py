"""Turn the measurements into the Markdown report, with the machine and every version."""

# ruff: noqa: RUF001 - the report prints the multiplication sign on purpose

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scenarios import BY_NUMBER, SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "ecko", "msgspec", "uvicorn", "uvloop", "httptools", "granian", "websockets",
    "starlette", "fastapi", "pydantic", "litestar", "blacksheep", "falcon",
]  # fmt: skip
TARGET_SCENARIOS = [1, 2, 3, 4, 5, 6, 7, 9, 10]
RAW = "raw ASGI"
ECKO = "Ecko"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git() -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "ecko"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" + uncommitted changes in ecko/" if dirty else "")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def targets(
    in_process: dict[str, Any], over_wire: dict[str, Any] | None, imports: dict[str, Any]
) -> list[tuple[str, str, str, bool | None]]:
    """Each target as `(what, measured, target, met)`; met is None when not measured."""
    rows: list[tuple[str, str, str, bool | None]] = []
    us = in_process["us"]
    raw, ecko = us.get(RAW, {}), us.get(ECKO, {})
    for number in TARGET_SCENARIOS:
        label = BY_NUMBER[number].label
        if number not in raw or number not in ecko:
            rows.append((f"in-process {label}", "not measured", "", None))
            continue
        ratio = ecko[number] / raw[number]
        peers = {n: v[number] for n, v in us.items() if n not in (RAW, ECKO) and number in v}
        best = min(peers, key=lambda n: peers[n]) if peers else None
        fastest = ecko[number] < peers[best] if best else True
        peer_text = f"; fastest peer {best} {peers[best]:.1f} µs" if best else ""
        rows.append(
            (
                f"in-process {label}",
                f"{ecko[number]:.1f} µs = {ratio:.2f}× raw{peer_text}",
                "≤ 2.5× raw, faster than every peer",
                ratio <= 2.5 and fastest,
            )
        )
    if 8 in raw and 8 in ecko:
        extra = ecko[8] - raw[8]
        hop = in_process["hop_us"]
        rows.append(
            (
                "in-process 8. sync handler",
                f"{extra:+.1f} µs over raw doing the same hop (one hop: {hop:.1f} µs)",
                "≤ one threadpool hop over raw",
                extra <= hop,
            )
        )
    if over_wire is not None:
        rps = over_wire["rps"].get("uvicorn", {})
        if 1 in rps.get(RAW, {}) and 1 in rps.get(ECKO, {}):
            share = rps[ECKO][1] / rps[RAW][1]
            rows.append(
                (
                    "over the wire (uvicorn) 1. JSON hello",
                    f"{rps[ECKO][1]:,.0f} req/s = {share:.0%} of raw ({rps[RAW][1]:,.0f})",
                    "≥ 80% of raw",
                    share >= 0.8,
                )
            )
    added = imports["import ecko"]["wall_ms"] - imports["import asyncio, msgspec"]["wall_ms"]
    rows.append(
        (
            "import ecko over import asyncio, msgspec",
            f"{added:+.1f} ms",
            "≤ 15 ms",
            added <= 15,
        )
    )
    return rows


def targets_table(rows: list[tuple[str, str, str, bool | None]]) -> str:
    """The targets as a Markdown table."""
    lines = ["| Figure | Measured | Target | Met |", "| --- | --- | --- | --- |"]
    for what, measured, target, met in rows:
        mark = "—" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {what} | {measured} | {target} | {mark} |")
    return "\n".join(lines)


def _in_process_table(frameworks: dict[str, str], in_process: dict[str, Any]) -> str:
    us = in_process["us"]
    names = list(frameworks)
    lines = [
        "| Scenario | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---:" for _ in names) + " |",
    ]
    for scenario in SCENARIOS:
        cells = []
        raw = us.get(RAW, {}).get(scenario.number)
        for name in names:
            value = us.get(name, {}).get(scenario.number)
            if value is None:
                cells.append("failed check")
            elif name == RAW or raw is None:
                cells.append(f"{value:.1f}")
            else:
                cells.append(f"{value:.1f} ({value / raw:.2f}×)")
        lines.append(f"| {scenario.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _wire_table(rps: dict[str, dict[int, float]], numbers: list[int]) -> str:
    names = list(rps)
    lines = [
        "| Scenario | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---:" for _ in names) + " |",
    ]
    for number in numbers:
        raw = rps.get(RAW, {}).get(number)
        cells = []
        for name in names:
            value = rps[name].get(number)
            if value is None:
                cells.append("—")
            elif name == RAW or raw is None:
                cells.append(f"{value:,.0f}")
            else:
                cells.append(f"{value:,.0f} ({value / raw:.0%})")
        lines.append(f"| {BY_NUMBER[number].label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(
    frameworks: dict[str, str],
    config: dict[str, Any],
    in_process: dict[str, Any],
    over_wire: dict[str, Any] | None,
    imports: dict[str, Any],
) -> str:
    """The whole report."""
    rows = targets(in_process, over_wire, imports)
    parts = [
        "# Ecko benchmark report",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {_cpu()}, {os.cpu_count()} CPUs, {_memory_gib()}, "
        f"{platform.system()} {platform.release()}",
        f"- Python: {sys.version.split()[0]} ({platform.python_implementation()})",
        f"- Ecko checkout: {_git()}",
        "- Versions: " + ", ".join(f"{p} {_version(p)}" for p in PACKAGES),
        "- Configuration: " + "; ".join(f"{k}: {v}" for k, v in config.items()),
        "",
        "## Targets",
        "",
        targets_table(rows),
        "",
        "## In-process: µs per request (ratio to raw ASGI)",
        "",
        "Each app's ASGI callable driven directly on uvloop, with a scope like uvicorn's; "
        "every cell checked (status, exact body, required header) before timing; median "
        f"of {config['in-process rounds']} interleaved rounds. Scenario 11 is one echo round "
        "trip on an open connection.",
        "",
        _in_process_table(frameworks, in_process),
        "",
        f"One bare threadpool hop (`run_in_executor` of a no-op): {in_process['hop_us']:.1f} µs. "
        "BlackSheep runs `def` handlers on the event loop, so its scenario 8 has no hop.",
    ]
    if in_process["errors"]:
        parts += ["", "Failed checks (cell not timed):", ""]
        for name, by_number in in_process["errors"].items():
            for number, error in by_number.items():
                parts.append(f"- {name}, scenario {number}: {error}")
    if over_wire is not None:
        numbers = config["wire scenarios"]
        parts += [
            "",
            "## Over the wire: requests per second (share of raw ASGI)",
            "",
            "One server process pinned to CPU 0 (`taskset`); `wrk -t1 -c64` pinned to CPU 1; "
            "scenario 11 is echo round trips per second from 8 Python `websockets` clients "
            "pinned to CPU 1. Best of the rounds. Each response is checked first.",
        ]
        for server, rps in over_wire["rps"].items():
            flags = (
                "uvloop, httptools, one worker"
                if server == "uvicorn"
                else "uvloop, one worker, one runtime thread"
            )
            parts += ["", f"### {server} ({flags})", "", _wire_table(rps, numbers)]
        if over_wire["memory"]:
            parts += [
                "",
                "## Memory (uvicorn, resident set size)",
                "",
                "| App | idle, after one request per route | per 1,000 open WebSockets |",
                "| --- | ---: | ---: |",
            ]
            for name, usage in over_wire["memory"].items():
                parts.append(
                    f"| {name} | {usage['idle_mib']:.1f} MiB | {usage['per_1000_ws_mib']:.1f} MiB |"
                )
        if over_wire["errors"]:
            parts += ["", "Errors:", ""]
            parts += [f"- {key}: {error[:300]}" for key, error in over_wire["errors"].items()]
    parts += [
        "",
        "## Import time (fresh interpreter, median wall time)",
        "",
        "| Statement | wall | `-X importtime` total |",
        "| --- | ---: | ---: |",
    ]
    for name, value in imports.items():
        parts.append(f"| `{name}` | {value['wall_ms']:.1f} ms | {value['importtime_ms']:.1f} ms |")
    return "\n".join(parts) + "\n"
