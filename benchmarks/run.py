"""Run the benchmark suite and write a Markdown report to benchmarks/results/.

    python benchmarks/run.py            # everything, under 10 minutes
    python benchmarks/run.py --quick    # fewer rounds, scenarios 1, 2 and 11 on the wire: < 2 min

Any Python 3.11+ can start it: the first run creates benchmarks/.venv (the local Ecko checkout
installed editable, the peers pinned in requirements.txt) and re-runs itself there.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
import venv
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv"
VENV_PYTHON = VENV / "bin" / "python"

FRAMEWORKS = {
    "raw ASGI": "raw_asgi",
    "Ecko": "ecko_app",
    "Starlette": "starlette_app",
    "FastAPI": "fastapi_app",
    "Litestar": "litestar_app",
    "BlackSheep": "blacksheep_app",
    "Falcon": "falcon_app",
}


def ensure_venv() -> None:
    """Re-run this script inside benchmarks/.venv, creating and filling it first if needed."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VENV_PYTHON.exists():
        print(f"Creating {VENV} (local Ecko editable + peers from requirements.txt) ...")
        venv.create(VENV, with_pip=True)
        pip = [str(VENV_PYTHON), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", str(ROOT), "-r", str(HERE / "requirements.txt")], check=True)
    os.execv(VENV_PYTHON, [str(VENV_PYTHON), __file__, *sys.argv[1:]])


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (under 2 minutes)")
    parser.add_argument("--skip-wire", action="store_true", help="in-process and imports only")
    parser.add_argument(
        "--frameworks",
        default=",".join(FRAMEWORKS),
        help="comma-separated subset (raw ASGI and Ecko are always kept)",
    )
    parser.add_argument("--output", type=Path, help="report path (default: results/<date>.md)")
    return parser.parse_args()


def main() -> None:
    """Measure, then write the report."""
    ensure_venv()
    args = parse_args()
    sys.path.insert(0, str(HERE))
    logging.disable(logging.INFO)  # BlackSheep logs every 404 at INFO
    import footprint
    import inprocess
    import report
    import uvloop
    import wire
    from scenarios import BY_NUMBER, SCENARIOS

    chosen = {"raw ASGI", "Ecko", *args.frameworks.split(",")}
    frameworks = {name: module for name, module in FRAMEWORKS.items() if name in chosen}
    quick = args.quick
    config = {
        "mode": "quick" if quick else "full",
        "in-process rounds": 3 if quick else 7,
        "in-process seconds per cell per round": 0.02 if quick else 0.05,
        "wire rounds": 1 if quick else 3,
        "wire seconds per scenario": 1,
        "wrk connections": 64,
        "wire scenarios": [1, 2, 11] if quick else [s.number for s in SCENARIOS],
        "WebSocket connections for memory": 1000,
        "import repeats": 7 if quick else 15,
    }

    def log(message: str) -> None:
        print(message, flush=True)

    started = time.monotonic()
    log(f"In-process: {len(frameworks)} apps x {len(SCENARIOS)} scenarios ...")
    in_process = uvloop.run(
        inprocess.measure(
            frameworks,
            config["in-process rounds"],
            config["in-process seconds per cell per round"],
            log,
        )
    )
    log("Import time ...")
    imports = footprint.measure(config["import repeats"], log)
    over_wire = None
    if not args.skip_wire:
        log("Over the wire (uvicorn, then granian) and memory ...")
        over_wire = wire.measure(
            frameworks,
            {"uvicorn": list(frameworks), "granian": ["raw ASGI", "Ecko"]},
            [BY_NUMBER[n] for n in config["wire scenarios"]],
            config["wire rounds"],
            config["wire seconds per scenario"],
            config["wrk connections"],
            ["raw ASGI", "Ecko"] if quick else list(frameworks),
            config["WebSocket connections for memory"],
            log,
        )
    config["duration"] = f"{time.monotonic() - started:.0f} s"
    text = report.render(frameworks, config, in_process, over_wire, imports)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H%M")
    output = args.output or HERE / "results" / f"{stamp}{'-quick' if quick else ''}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print()
    print(report.targets_table(report.targets(in_process, over_wire, imports)))
    print(f"\nReport: {output} ({config['duration']})")


if __name__ == "__main__":
    main()
