"""Import time: `import ecko` against `import asyncio, msgspec`, in fresh interpreters."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

# As installed code runs: from cached bytecode. The warm-up run writes the .pyc files, which
# PYTHONDONTWRITEBYTECODE (set on some machines) would prevent, timing the compiler instead.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

STATEMENTS = {
    "python -c pass": "pass",
    "import asyncio, msgspec": "import asyncio, msgspec",
    "import ecko": "import ecko",
}


def _wall_ms(statement: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, env=ENV)
    return (time.perf_counter() - start) * 1000


def _importtime_ms(statement: str) -> float:
    """Sum of top-level cumulative import times from `python -X importtime` (µs → ms)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        check=True,
        env=ENV,
        capture_output=True,
        text=True,
    )
    total = 0
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if match and not match.group(2).startswith(" "):  # top level: no indentation
            total += int(match.group(1))
    return total / 1000


def measure(repeats: int, log: Callable[[str], None]) -> dict[str, dict[str, float]]:
    """Median wall time and `-X importtime` total of each statement, runs interleaved."""
    wall: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    imports: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for statement in STATEMENTS.values():  # warm the file cache and write the .pyc files
        _wall_ms(statement)
    for _ in range(repeats):
        for name, statement in STATEMENTS.items():
            wall[name].append(_wall_ms(statement))
            imports[name].append(_importtime_ms(statement))
    log(f"  {repeats} interleaved runs of each statement done")
    return {
        name: {
            "wall_ms": statistics.median(wall[name]),
            "importtime_ms": statistics.median(imports[name]),
        }
        for name in STATEMENTS
    }
