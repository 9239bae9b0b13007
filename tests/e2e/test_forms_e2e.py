"""Forms through a real server: multipart uploads, a large file spooled to disk, bad bodies."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ecko.testing import LiveServer

APPS = Path(__file__).parent / "apps"
BOUNDARY = "e2e-boundary"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with (
        LiveServer("forms_app:app", cwd=APPS) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        yield http


def test_multipart_fields_and_file_arrive_typed(client: httpx.Client) -> None:
    response = client.post(
        "/profile",
        data={"name": "Ada", "age": "36"},
        files={"avatar": ("ada.png", b"\x89PNG" + bytes(1000), "image/png")},
    )
    assert response.json() == {"name": "Ada", "age": 36, "avatar": "ada.png", "bytes": 1004}


def test_urlencoded_form_without_the_optional_file(client: httpx.Client) -> None:
    response = client.post("/profile", data={"name": "Ada", "age": "x"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["form", "age"]
    assert client.post("/profile", data={"name": "Ada", "age": "1"}).json()["avatar"] is None


def test_large_upload_is_spooled_to_disk_and_read_back_whole(client: httpx.Client) -> None:
    content = os.urandom(1024 * 1024) * 12  # 12 MiB, past the 1 MiB spool threshold
    response = client.post("/upload", files={"file": ("big.bin", content)})
    assert response.json() == {
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "in_memory": False,
    }


def test_streamed_multipart_body_without_length_is_parsed(client: httpx.Client) -> None:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n\r\n'
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(8):
            yield b"z" * 100_000
        yield tail

    response = client.post(
        "/upload",
        content=chunks(),
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.json()["size"] == 800_000


def test_upload_over_the_body_limit_is_413(client: httpx.Client) -> None:
    response = client.post(
        "/profile", data={"name": "a", "age": "1"}, files={"avatar": ("a", bytes(70_000))}
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body exceeds the limit of 65536 bytes"


def test_malformed_multipart_is_400(client: httpx.Client) -> None:
    response = client.post(
        "/raw",
        content=f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n",
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "Part 1 of the form has no Content-Disposition header"


def test_thousands_of_tiny_parts_are_refused_quickly(client: httpx.Client) -> None:
    part = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"\r\n\r\n\r\n'
    body = (part * 10_000 + f"--{BOUNDARY}--\r\n").encode()
    started = time.perf_counter()
    response = client.post(
        "/raw", content=body, headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "The form has more than 1000 parts"
    assert time.perf_counter() - started < 2
