"""Serves files from the FILES_DIR folder with FileResponse."""

from __future__ import annotations

import os
from pathlib import Path

from ecko import Ecko, FileResponse, NotFound

app = Ecko()
root = Path(os.environ["FILES_DIR"])


@app.get("/files/{name}")
def download(name: str) -> FileResponse:
    path = root / name
    if path.parent != root:
        raise NotFound()
    return FileResponse(path)
