"""Sync handlers run in the threadpool under a real server and never block async ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ecko.testing import LiveServer

APPS = Path(__file__).parent / "apps"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer("concurrency_app:app", cwd=APPS) as live:
        yield live


def _client(server: LiveServer) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    return httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits)


def test_two_sleeping_sync_requests_run_in_parallel(server: LiveServer) -> None:
    async def run() -> tuple[float, list[httpx.Response]]:
        async with _client(server) as client:
            await client.get("/ping")  # connect once, outside the timing
            started = time.monotonic()
            responses = await asyncio.gather(
                client.get("/sleep", params={"seconds": 1}),
                client.get("/sleep", params={"seconds": 1}),
            )
            return time.monotonic() - started, list(responses)

    elapsed, responses = asyncio.run(run())
    assert [response.status_code for response in responses] == [200, 200]
    threads = {response.json()["thread"] for response in responses}
    assert len(threads) == 2
    assert all(thread.startswith("ecko-sync") for thread in threads)
    assert 1.0 <= elapsed < 1.8


async def _wait_until_blocked(client: httpx.AsyncClient, count: int) -> None:
    deadline = time.monotonic() + 20
    while (await client.get("/blocked")).json()["blocked"] < count:
        assert time.monotonic() < deadline, f"{count} sync requests never got a thread"
        await asyncio.sleep(0.02)  # poll interval


def test_async_route_answers_while_40_sync_requests_block(server: LiveServer) -> None:
    async def run() -> tuple[float, list[httpx.Response]]:
        async with _client(server) as client:
            blocked = [asyncio.create_task(client.get("/block")) for _ in range(40)]
            await _wait_until_blocked(client, 40)
            started = time.monotonic()
            pong = await client.get("/ping")
            elapsed = time.monotonic() - started
            assert pong.json() == {"pong": True}
            await client.post("/release")
            return elapsed, list(await asyncio.gather(*blocked))

    elapsed, responses = asyncio.run(run())
    assert elapsed < 0.5
    assert [response.json() for response in responses] == [{"released": True}] * 40
