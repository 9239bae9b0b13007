"""Request body limits over a real connection: 413 whether the size is declared or streamed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ecko.testing import LiveServer

APPS = Path(__file__).parent / "apps"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with (
        LiveServer("limits_app:app", cwd=APPS) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        yield http


def _chunks(count: int, size: int) -> Iterator[bytes]:
    for _ in range(count):
        yield b"x" * size


def test_body_within_the_limit_is_read(client: httpx.Client) -> None:
    response = client.post("/upload", content=b"x" * 1024)
    assert response.json() == {"size": 1024}


def test_declared_oversized_body_is_413(client: httpx.Client) -> None:
    response = client.post("/upload", content=b"x" * 1025)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The request body exceeds the limit of 1024 bytes"


def test_streamed_oversized_body_without_length_is_413(client: httpx.Client) -> None:
    response = client.post("/upload", content=_chunks(8, 512))
    assert response.status_code == 413
    assert "1024 bytes" in response.json()["detail"]


def test_streamed_body_within_the_limit_is_read(client: httpx.Client) -> None:
    assert client.post("/upload", content=_chunks(2, 512)).json() == {"size": 1024}


def test_oversized_json_body_is_413_not_422(client: httpx.Client) -> None:
    payload = {f"key{i}": "v" * 50 for i in range(40)}
    response = client.post("/json", json=payload)
    assert response.status_code == 413


def test_route_limit_overrides_the_app_limit(client: httpx.Client) -> None:
    assert client.post("/bigger", content=b"x" * 3000).json() == {"size": 3000}
    assert client.post("/bigger", content=b"x" * 5000).status_code == 413


def test_server_keeps_serving_after_a_413(client: httpx.Client) -> None:
    assert client.post("/upload", content=b"x" * 4000).status_code == 413
    assert client.post("/upload", content=b"ok").json() == {"size": 2}
