"""Form parsing over a real connection: typed fields, uploads spooled to disk, the limits."""

from __future__ import annotations

import hashlib
from typing import Any

from ecko import Ecko, File, Form, Request, UploadFile

app = Ecko(max_body_size=64 * 1024)

CHUNK = 256 * 1024


@app.post("/profile")
async def profile(
    name: str = Form(), age: int = Form(), avatar: UploadFile | None = File(None)
) -> dict[str, Any]:
    content = await avatar.read() if avatar else b""
    return {
        "name": name,
        "age": age,
        "avatar": avatar.filename if avatar else None,
        "bytes": len(content),
    }


@app.post("/upload", max_body_size=64 * 1024 * 1024)
async def upload(file: UploadFile) -> dict[str, Any]:
    digest = hashlib.sha256()
    while chunk := await file.read(CHUNK):
        digest.update(chunk)
    return {"size": file.size, "sha256": digest.hexdigest(), "in_memory": file.in_memory}


@app.post("/raw", max_body_size=1024 * 1024)
async def raw(request: Request) -> int:
    return len(await request.form())
