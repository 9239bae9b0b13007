"""FileResponse over a real connection: Range requests (206, multipart, 416) and 304s."""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ecko.testing import LiveServer

APPS = Path(__file__).parent / "apps"
CONTENT = bytes(range(256)) * 4  # 1024 bytes, every value distinct within 256


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("files")
    (folder / "data.bin").write_bytes(CONTENT)
    (folder / "notes.txt").write_text("hello\n")
    with (
        LiveServer("files_app:app", cwd=APPS, env={"FILES_DIR": str(folder)}) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        yield http


def test_whole_file_with_validators(client: httpx.Client) -> None:
    response = client.get("/files/data.bin")
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["content-length"] == "1024"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"].endswith(" GMT")
    text = client.get("/files/notes.txt")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text == "hello\n"


def test_single_range_is_206_with_content_range(client: httpx.Client) -> None:
    response = client.get("/files/data.bin", headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.headers["content-range"] == "bytes 100-199/1024"
    assert response.headers["content-length"] == "100"
    assert response.content == CONTENT[100:200]


def test_suffix_and_open_ended_ranges(client: httpx.Client) -> None:
    suffix = client.get("/files/data.bin", headers={"Range": "bytes=-24"})
    assert (suffix.status_code, suffix.content) == (206, CONTENT[-24:])
    assert suffix.headers["content-range"] == "bytes 1000-1023/1024"
    open_ended = client.get("/files/data.bin", headers={"Range": "bytes=1020-"})
    assert (open_ended.status_code, open_ended.content) == (206, CONTENT[1020:])


def test_multiple_ranges_are_a_multipart_byteranges_206(client: httpx.Client) -> None:
    response = client.get("/files/data.bin", headers={"Range": "bytes=0-9, 500-509"})
    assert response.status_code == 206
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/byteranges; boundary=")
    assert int(response.headers["content-length"]) == len(response.content)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + response.content
    )
    parts = [
        (part["Content-Range"], part["Content-Type"], part.get_payload(decode=True))
        for part in message.iter_parts()
    ]
    assert parts == [
        ("bytes 0-9/1024", "application/octet-stream", CONTENT[0:10]),
        ("bytes 500-509/1024", "application/octet-stream", CONTENT[500:510]),
    ]


def test_unsatisfiable_range_is_416(client: httpx.Client) -> None:
    response = client.get("/files/data.bin", headers={"Range": "bytes=2000-3000"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */1024"
    assert response.json()["status"] == 416


def test_conditional_get_is_304_without_a_body(client: httpx.Client) -> None:
    first = client.get("/files/data.bin")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    by_etag = client.get("/files/data.bin", headers={"If-None-Match": etag})
    assert by_etag.status_code == 304
    assert by_etag.content == b""
    assert by_etag.headers["etag"] == etag
    by_date = client.get("/files/data.bin", headers={"If-Modified-Since": modified})
    assert by_date.status_code == 304
    changed = client.get("/files/data.bin", headers={"If-None-Match": '"other"'})
    assert (changed.status_code, changed.content) == (200, CONTENT)


def test_if_range_sends_the_range_only_while_the_file_is_unchanged(client: httpx.Client) -> None:
    etag = client.get("/files/data.bin").headers["etag"]
    fresh = client.get("/files/data.bin", headers={"Range": "bytes=0-3", "If-Range": etag})
    assert (fresh.status_code, fresh.content) == (206, CONTENT[:4])
    stale = client.get("/files/data.bin", headers={"Range": "bytes=0-3", "If-Range": '"old"'})
    assert (stale.status_code, stale.content) == (200, CONTENT)


def test_head_sends_the_length_without_the_body(client: httpx.Client) -> None:
    response = client.head("/files/data.bin")
    assert response.status_code == 200
    assert response.headers["content-length"] == "1024"
    assert response.content == b""


def test_missing_file_is_404(client: httpx.Client) -> None:
    response = client.get("/files/absent.bin")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
