"""What every benchmark app shares: the data it serves and the file it sends.

Each app module (`raw_asgi`, `ecko_app`, ...) exposes `app`, serving scenarios 1-8 and
10-12, and `guarded_app`, serving scenario 9 (`GET /guarded` behind one user middleware and
one before-request hook). Scenario 9 has an app of its own so that the middleware does not
sit in front of the other scenarios.
"""

import os
import tempfile
from pathlib import Path

ITEMS = [{"id": i, "name": f"item {i}", "in_stock": i % 2 == 0} for i in range(100)]
"""Scenario 10's body: a JSON list of 100 objects."""

API_KEY = "secret"
"""Scenario 9's before-request hook answers 401 unless `x-api-key` carries this."""

FILE_SIZE = 1024 * 1024


def bench_file() -> Path:
    """Return scenario 12's 1 MiB file, creating it (same bytes every time) if needed."""
    path = Path(tempfile.gettempdir()) / f"ecko-bench-{FILE_SIZE}.bin"
    if not path.exists() or path.stat().st_size != FILE_SIZE:
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(bytes(range(256)) * (FILE_SIZE // 256))
        partial.replace(path)
    return path


FILE = bench_file()
