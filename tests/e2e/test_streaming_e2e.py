"""Streaming responses arrive chunk by chunk over a real connection, through middleware."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ecko.testing import LiveServer

APPS = Path(__file__).parent / "apps"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer("streaming_app:app", cwd=APPS) as live:
        yield live


def _read_until(chunks: Iterator[bytes], expected: bytes) -> bytes:
    """Read from `chunks` until `expected` has arrived; return it."""
    received = b""
    while len(received) < len(expected):
        received += next(chunks)
    return received


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_stream_arrives_incrementally_over_the_wire(server: LiveServer, kind: str) -> None:
    token = f"incremental-{kind}"
    with (
        httpx.Client(base_url=server.url, timeout=10) as client,
        client.stream("GET", f"/stream/{kind}/{token}") as response,
    ):
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        assert response.headers["x-middleware"] == "seen"
        assert response.headers["x-content-type-options"] == "nosniff"
        chunks = response.iter_raw()
        # The server holds the second chunk until /release: the first must already be here.
        assert _read_until(chunks, b"first\n") == b"first\n"
        released = client.post(f"/release/{token}")
        assert released.json() == {"released": True}
        assert b"".join(chunks) == b"second\n"


def test_server_keeps_serving_after_a_client_leaves_mid_stream(server: LiveServer) -> None:
    token = "abandoned"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        with client.stream("GET", f"/stream/async/{token}") as response:
            assert _read_until(response.iter_raw(), b"first\n") == b"first\n"
        # The stream was closed unfinished; the app must still answer new requests.
        assert client.post(f"/release/{token}").status_code == 200
        with client.stream("GET", "/stream/sync/after") as response:
            chunks = response.iter_raw()
            assert _read_until(chunks, b"first\n") == b"first\n"
            client.post("/release/after")
            assert b"".join(chunks) == b"second\n"
