"""Static files through a real server: raw traversal attempts, Range, ETag and 304 on the wire."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ecko.testing import LiveServer

SECRET = b"the-secret-outside-the-root"
CONTENT = bytes(range(256)) * 4

APP_SOURCE = """
import os

from ecko import Ecko

app = Ecko()
app.static("/static", os.environ["STATIC_DIR"], index=True)
"""


@dataclass
class Server:
    url: str
    host: str
    port: int


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("static_site")
    (root / "secret.txt").write_bytes(SECRET)
    public = root / "public"
    public.mkdir()
    (public / "data.bin").write_bytes(CONTENT)
    (public / "hello.txt").write_text("hello\n")
    (public / ".env").write_bytes(SECRET)
    (public / "docs").mkdir()
    (public / "docs" / "index.html").write_text("<h1>docs</h1>")
    (public / "leak.txt").symlink_to(root / "secret.txt")
    (root / "static_app.py").write_text(APP_SOURCE)
    with LiveServer("static_app:app", cwd=root, env={"STATIC_DIR": str(public)}) as live:
        yield Server(live.url, live.host, live.port)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def _raw_get(server: Server, target: bytes) -> tuple[int, bytes]:
    """Send `GET target` byte for byte (no client normalizes it); return status and body."""
    with socket.create_connection((server.host, server.port), timeout=10) as connection:
        connection.sendall(
            b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_a_raw_request_reaches_files(server: Server) -> None:
    assert _raw_get(server, b"/static/hello.txt") == (200, b"hello\n")


@pytest.mark.parametrize(
    "target",
    [
        b"/static/../secret.txt",
        b"/static/docs/../../secret.txt",
        b"/static/./../secret.txt",
        b"/static/%2e%2e/secret.txt",
        b"/static/%2E%2E/secret.txt",
        b"/static/.%2e/secret.txt",
        b"/static/%2e%2e%2fsecret.txt",
        b"/static/..%2fsecret.txt",
        b"/static/docs%2f..%2f..%2fsecret.txt",
        b"/static/..%5csecret.txt",
        b"/static/..\\secret.txt",
        b"/static/%2fetc%2fpasswd",
        b"/static//etc/passwd",
        b"/static/C:%5c..%5csecret.txt",
        b"/static/hello.txt%00",
        b"/static/%00../secret.txt",
        b"/static/.env",
        b"/static/leak.txt",
        b"/static/%252e%252e/secret.txt",
        b"http://localhost/static/../secret.txt",
    ],
)
def test_traversal_on_the_wire_never_escapes(server: Server, target: bytes) -> None:
    status, body = _raw_get(server, target)
    # uvicorn passes every one of these on as is: the static handler itself refuses them.
    assert (status, b'"detail":"File not found"' in body) == (404, True), target
    assert SECRET not in body


def test_whole_file_has_validators(client: httpx.Client) -> None:
    response = client.get("/static/data.bin")
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"].endswith(" GMT")
    assert response.headers["content-type"] == "application/octet-stream"
    assert client.get("/static/hello.txt").headers["content-type"] == "text/plain; charset=utf-8"


def test_etag_and_last_modified_give_304(client: httpx.Client) -> None:
    first = client.get("/static/data.bin")
    by_etag = client.get("/static/data.bin", headers={"if-none-match": first.headers["etag"]})
    assert (by_etag.status_code, by_etag.content) == (304, b"")
    assert by_etag.headers["etag"] == first.headers["etag"]
    since = {"if-modified-since": first.headers["last-modified"]}
    assert client.get("/static/data.bin", headers=since).status_code == 304
    stale = client.get("/static/data.bin", headers={"if-none-match": '"other"'})
    assert stale.status_code == 200


def test_range_requests(client: httpx.Client) -> None:
    single = client.get("/static/data.bin", headers={"range": "bytes=10-19"})
    assert (single.status_code, single.content) == (206, CONTENT[10:20])
    assert single.headers["content-range"] == "bytes 10-19/1024"
    suffix = client.get("/static/data.bin", headers={"range": "bytes=-4"})
    assert (suffix.status_code, suffix.content) == (206, CONTENT[-4:])
    unsatisfiable = client.get("/static/data.bin", headers={"range": "bytes=5000-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == "bytes */1024"
    multi = client.get("/static/data.bin", headers={"range": "bytes=0-1, 4-5"})
    assert multi.status_code == 206
    assert multi.headers["content-type"].startswith("multipart/byteranges; boundary=")


def test_if_range_with_a_stale_etag_sends_the_whole_file(client: httpx.Client) -> None:
    headers = {"range": "bytes=0-9", "if-range": '"stale"'}
    response = client.get("/static/data.bin", headers=headers)
    assert (response.status_code, response.content) == (200, CONTENT)


def test_head_on_the_wire(client: httpx.Client) -> None:
    response = client.head("/static/data.bin")
    assert response.status_code == 200
    assert response.headers["content-length"] == "1024"
    assert response.content == b""


def test_directory_index_and_its_redirect(client: httpx.Client) -> None:
    redirect = client.get("/static/docs", follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/static/docs/")
    assert client.get("/static/docs/").text == "<h1>docs</h1>"
    assert client.get("/static/").status_code == 404  # no index.html at the root


def test_missing_file_is_a_problem_404(client: httpx.Client) -> None:
    response = client.get("/static/nope.txt")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "File not found"
    assert str(Path.cwd()) not in response.text
