"""Body size limits: 1 KiB app-wide, 4 KiB on one route."""

from __future__ import annotations

from typing import Any

from ecko import Ecko, Request

app = Ecko(max_body_size=1024)


@app.post("/upload")
async def upload(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


@app.post("/json")
def json_body(data: dict[str, Any]) -> dict[str, int]:
    return {"keys": len(data)}


@app.post("/bigger", max_body_size=4096)
async def bigger(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}
