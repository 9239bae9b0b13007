"""Compression, proxy headers, trusted hosts and friends over a real connection."""

from __future__ import annotations

import gzip
import importlib
import socket
import textwrap
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard

from ecko.testing import LiveServer

brotli: Any = importlib.import_module("brotli")  # untyped: no stubs published

APP = """
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pathlib import Path

from ecko import Ecko, FileResponse, Request, StreamingResponse, context
from ecko.middleware import (
    compression, proxy_headers, request_id, security_headers, trusted_hosts,
)

TEXT = "compress me over the wire, " * 200
gates: dict[str, asyncio.Event] = {}


def describe(request: Request) -> dict[str, Any]:
    return {
        "client": request.client[0] if request.client else None,
        "scheme": request.url.scheme,
        "url": str(request.url),
        "request_id": context.request_id,
    }


app = Ecko()
app.use(proxy_headers(trusted=["127.0.0.1"]))
app.use(trusted_hosts(["127.0.0.1", "localhost", "*.example.com"]))
app.use(request_id())
app.use(security_headers())
app.use(compression())


@app.get("/text")
def text() -> str:
    return TEXT


@app.get("/style.css")
def style() -> FileResponse:
    return FileResponse(Path(__file__).with_name("style.css"))


@app.get("/whoami")
def whoami(request: Request) -> dict[str, Any]:
    return describe(request)


@app.get("/stream/{token}")
async def stream(token: str) -> StreamingResponse:
    gate = gates.setdefault(token, asyncio.Event())

    async def chunks() -> AsyncIterator[str]:
        yield "first chunk\\n"
        await asyncio.wait_for(gate.wait(), 10)
        yield "second chunk\\n"

    return StreamingResponse(chunks(), media_type="text/plain")


@app.post("/release/{token}")
async def release(token: str) -> dict[str, bool]:
    gates.setdefault(token, asyncio.Event()).set()
    return {"released": True}


# Mounted apps run their own middleware: this one trusts no proxy on 127.0.0.1.
untrusting = Ecko()
untrusting.use(proxy_headers(trusted=["10.0.0.0/8"]))


@untrusting.get("/whoami")
def untrusted_whoami(request: Request) -> dict[str, Any]:
    return {"client": request.client[0] if request.client else None, "scheme": request.url.scheme}


app.mount("/untrusted", untrusting)
"""

TEXT = "compress me over the wire, " * 200
CSS = "".join(f".item-{n} {{ color: #{n % 4096:03x}; }}\n" for n in range(20_000))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory: Path = tmp_path_factory.mktemp("header_middleware")
    (directory / "header_middleware_app.py").write_text(textwrap.dedent(APP))
    (directory / "style.css").write_text(CSS)
    # uvicorn applies X-Forwarded-* from 127.0.0.1 itself unless told not to; the
    # middleware under test must be the only thing reading them.
    with LiveServer(
        "header_middleware_app:app", cwd=directory, extra_args=["--no-proxy-headers"]
    ) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def _raw_request(server: LiveServer, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


# -- compression -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("coding", "decompress"),
    [
        ("gzip", gzip.decompress),
        ("br", brotli.decompress),
        ("zstd", lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data)),
    ],
)
def test_compressed_bytes_on_the_wire_decode_to_the_body(
    client: httpx.Client, coding: str, decompress: Any
) -> None:
    with client.stream("GET", "/text", headers={"accept-encoding": coding}) as response:
        raw = b"".join(response.iter_raw())

    assert response.headers["content-encoding"] == coding
    assert response.headers["vary"] == "Accept-Encoding"
    assert int(response.headers["content-length"]) == len(raw) < len(TEXT) // 10
    assert decompress(raw) == TEXT.encode()
    decoded = client.get("/text", headers={"accept-encoding": coding})
    assert decoded.text == TEXT  # and a real client decodes it itself


def test_a_file_is_compressed_on_the_wire_and_revalidates(client: httpx.Client) -> None:
    headers = {"accept-encoding": "br"}
    with client.stream("GET", "/style.css", headers=headers) as response:
        raw = b"".join(response.iter_raw())

    assert response.headers["content-encoding"] == "br"
    assert response.headers["transfer-encoding"] == "chunked"
    assert len(raw) < len(CSS) // 4
    assert brotli.decompress(raw) == CSS.encode()
    etag = response.headers["etag"]
    assert etag.startswith('W/"')
    again = client.get("/style.css", headers={**headers, "if-none-match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag


def test_a_client_accepting_nothing_gets_identity(client: httpx.Client) -> None:
    response = client.get("/text", headers={"accept-encoding": "identity"})

    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(TEXT))


def test_a_compressed_stream_chunk_decodes_before_the_next_is_produced(
    client: httpx.Client,
) -> None:
    decoder = zlib.decompressobj(31)
    with client.stream("GET", "/stream/wire", headers={"accept-encoding": "gzip"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        assert "content-length" not in response.headers
        chunks = response.iter_raw()
        decoded = b""
        while decoded != b"first chunk\n":  # the server holds the second chunk until released
            decoded += decoder.decompress(next(chunks))
        assert client.post("/release/wire").json() == {"released": True}
        rest = b"".join(decoder.decompress(chunk) for chunk in chunks)
    assert rest + decoder.flush() == b"second chunk\n"
    assert decoder.eof


# -- proxy headers ---------------------------------------------------------------------------


def test_a_trusted_peer_sets_client_scheme_and_host(client: httpx.Client) -> None:
    response = client.get(
        "/whoami",
        headers={
            "x-forwarded-for": "6.6.6.6, 203.0.113.7",
            "x-forwarded-proto": "https",
            "x-forwarded-host": "api.example.com",
        },
    )

    seen = response.json()
    assert seen["client"] == "203.0.113.7"
    assert seen["url"] == "https://api.example.com/whoami"
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_without_proxy_headers_the_real_peer_is_seen(client: httpx.Client) -> None:
    response = client.get("/whoami")

    assert response.json()["client"] == "127.0.0.1"
    assert response.json()["scheme"] == "http"
    assert "strict-transport-security" not in response.headers


def test_an_untrusted_peer_cannot_forge_its_address(client: httpx.Client) -> None:
    response = client.get(
        "/untrusted/whoami", headers={"x-forwarded-for": "6.6.6.6", "x-forwarded-proto": "https"}
    )

    assert response.json() == {"client": "127.0.0.1", "scheme": "http"}


def test_malformed_proxy_headers_are_ignored_over_the_wire(server: LiveServer) -> None:
    answer = _raw_request(
        server,
        b"GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: \xff\xfe, nonsense\r\n"
        b"X-Forwarded-Proto: \xe9\r\nX-Forwarded-Host: a b\r\nConnection: close\r\n\r\n",
    )

    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'"client":"127.0.0.1"' in answer


# -- trusted hosts, request id, security headers ----------------------------------------------


def test_an_unlisted_host_is_400_over_the_wire(client: httpx.Client) -> None:
    response = client.get("/whoami", headers={"host": "evil.com"})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Host 'evil.com' is not served here"


def test_a_request_without_host_is_400(server: LiveServer) -> None:
    answer = _raw_request(server, b"GET /whoami HTTP/1.0\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"exactly one valid Host header" in answer


def test_a_forwarded_host_is_checked_against_the_list(client: httpx.Client) -> None:
    allowed = client.get("/whoami", headers={"x-forwarded-host": "www.example.com"})
    refused = client.get("/whoami", headers={"x-forwarded-host": "example.org"})

    assert allowed.status_code == 200
    assert refused.status_code == 400


def test_request_id_and_security_headers_reach_the_client(client: httpx.Client) -> None:
    response = client.get("/whoami", headers={"x-request-id": "wire-1"})

    assert response.headers["x-request-id"] == "wire-1"
    assert response.json()["request_id"] == "wire-1"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
