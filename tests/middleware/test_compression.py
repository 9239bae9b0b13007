"""The compression middleware: negotiation, what is compressed, streaming, headers."""

from __future__ import annotations

import gzip
import importlib
import os
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zstandard

from ecko import Ecko, FileResponse, Response, StreamingResponse
from ecko.exceptions import MissingDependencyError
from ecko.middleware import compression
from ecko.middleware.compression import parse_accept_encoding
from tests.conftest import ClientFactory

brotli: Any = importlib.import_module("brotli")  # untyped: no stubs published
TEXT = "compress me, " * 100  # 1300 bytes, well above the default minimum_size
closed: list[str] = []


def _app(**options: Any) -> Ecko[Any]:
    app = Ecko()
    app.use(compression(**options))

    @app.get("/text")
    def text() -> str:
        return TEXT

    @app.get("/json")
    def json_body() -> dict[str, str]:
        return {"text": TEXT}

    @app.get("/large")
    def large() -> str:
        return TEXT * 100  # 130 KB: compressed in the threadpool

    @app.get("/small")
    def small() -> str:
        return "small " * 20

    @app.get("/png")
    def png() -> Response:
        return Response(os.urandom(2000), media_type="image/png")

    @app.get("/random")
    def random_bytes() -> Response:
        return Response(os.urandom(2000), media_type="text/plain")

    @app.get("/encoded")
    def encoded() -> Response:
        body = gzip.compress(TEXT.encode())
        return Response(body, headers={"content-encoding": "gzip"}, media_type="text/plain")

    @app.get("/etag")
    def etag() -> Response:
        return Response(TEXT, headers={"etag": '"v1"'}, media_type="text/plain")

    @app.get("/no-transform")
    def no_transform() -> Response:
        return Response(TEXT, headers={"cache-control": "no-transform"}, media_type="text/plain")

    @app.get("/partial")
    def partial() -> Response:
        headers = {"content-range": "bytes 0-1299/5000"}
        return Response(TEXT, 206, headers, media_type="text/plain")

    @app.get("/missing")
    def missing() -> Response:
        return Response(TEXT, 404, media_type="text/plain")

    @app.get("/events")
    def events() -> StreamingResponse:
        return StreamingResponse(iter([b"data: 1\n\n" * 100]), media_type="text/event-stream")

    @app.get("/stream/sync")
    def stream_sync() -> StreamingResponse:
        def lines() -> Iterator[str]:
            try:
                for number in range(200):
                    yield f"line {number}\n"
            finally:
                closed.append("sync")

        return StreamingResponse(lines(), media_type="text/plain")

    @app.get("/stream/async")
    def stream_async() -> StreamingResponse:
        async def lines() -> AsyncIterator[bytes]:
            try:
                for number in range(200):
                    yield f"line {number}\n".encode()
            finally:
                closed.append("async")

        return StreamingResponse(lines(), media_type="text/plain")

    @app.get("/stream/short")
    def stream_short() -> StreamingResponse:
        return StreamingResponse(
            [b"tiny"], headers={"content-length": "4"}, media_type="text/plain"
        )

    return app


def _expected_lines() -> str:
    return "".join(f"line {number}\n" for number in range(200))


# -- negotiation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        ("gzip, deflate, br, zstd", "zstd"),
        ("gzip, br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("zstd;q=0, br;q=0, gzip;q=0.1", "gzip"),
        ("*", "zstd"),
        ("*;q=0.5, gzip;q=0.9", "gzip"),
        ("x-gzip", "gzip"),
        ("GZIP;Q=1.0", "gzip"),
        ("br;q=0.3, zstd;q=0.3", "zstd"),
    ],
)
def test_the_coding_follows_accept_encoding_and_q_values(
    client_for: ClientFactory, accept: str, coding: str
) -> None:
    response = client_for(_app()).get("/text", headers={"accept-encoding": accept})

    assert response.headers["content-encoding"] == coding
    assert response.text == TEXT  # httpx decodes all three
    assert response.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize(
    "accept",
    ["identity", "", "gzip;q=0", "*;q=0", "gzip;q=0, br;q=0, zstd;q=0", "deflate", "compress"],
)
def test_no_acceptable_coding_sends_identity_with_vary(
    client_for: ClientFactory, accept: str
) -> None:
    response = client_for(_app()).get("/text", headers={"accept-encoding": accept})

    assert "content-encoding" not in response.headers
    assert response.text == TEXT
    assert response.headers["content-length"] == str(len(TEXT))
    assert response.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize(
    "accept",
    [
        "gzip;q=2",
        "gzip;q=abc",
        "gzip;q=-1",
        "gzip;q=0.0001",
        ";;;,,,",
        "gz ip",
        "\x7f\x00",
        "gzip;q",
        "é, ü",
        "gzip" + ", x" * 20_000,
    ],
)
def test_malformed_accept_encoding_never_fails_the_request(
    client_for: ClientFactory, accept: str
) -> None:
    raw = accept.encode("latin-1", "replace")
    response = client_for(_app()).get("/text", headers=[(b"accept-encoding", raw)])

    assert response.status_code == 200
    assert response.text == TEXT


def test_malformed_q_values_drop_only_their_entry() -> None:
    assert parse_accept_encoding("gzip;q=abc, br;q=0.5, zstd;q=1.5, *;q=0") == {
        "br": 0.5,
        "*": 0.0,
    }
    assert parse_accept_encoding("gzip;level=1;q=0.2, identity") == {"gzip": 0.2, "identity": 1.0}


def test_encodings_order_sets_the_servers_preference(client_for: ClientFactory) -> None:
    client = client_for(_app(encodings=["gzip", "br"]))

    both = client.get("/text", headers={"accept-encoding": "br, gzip, zstd"})
    only_zstd = client.get("/text", headers={"accept-encoding": "zstd"})

    assert both.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in only_zstd.headers


def test_repeated_accept_encoding_headers_are_combined(client_for: ClientFactory) -> None:
    headers = [(b"accept-encoding", b"identity"), (b"accept-encoding", b"gzip")]

    response = client_for(_app()).get("/text", headers=headers)

    assert response.headers["content-encoding"] == "gzip"


# -- bodies ----------------------------------------------------------------------------------


def test_compressed_body_decodes_and_content_length_is_the_compressed_size(
    client_for: ClientFactory,
) -> None:
    client = client_for(_app())
    with client.stream("GET", "/json", headers={"accept-encoding": "gzip"}) as response:
        compressed = b"".join(response.iter_raw())

    assert int(response.headers["content-length"]) == len(compressed) < len(TEXT)
    assert msgspec.json.decode(gzip.decompress(compressed)) == {"text": TEXT}


@pytest.mark.parametrize(
    ("coding", "decompress"),
    [
        ("gzip", gzip.decompress),
        ("br", brotli.decompress),
        ("zstd", lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data)),
    ],
)
def test_each_coding_produces_its_format(
    client_for: ClientFactory, coding: str, decompress: Any
) -> None:
    client = client_for(_app())
    with client.stream("GET", "/text", headers={"accept-encoding": coding}) as response:
        raw = b"".join(response.iter_raw())

    assert response.headers["content-encoding"] == coding
    assert decompress(raw) == TEXT.encode()


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_large_bodies_are_compressed_off_the_event_loop_and_decode(
    client_for: ClientFactory, coding: str
) -> None:
    response = client_for(_app()).get("/large", headers={"accept-encoding": coding})

    assert response.headers["content-encoding"] == coding
    assert int(response.headers["content-length"]) < len(TEXT)
    assert response.text == TEXT * 100


def test_bodies_below_minimum_size_are_sent_as_is_without_vary(client_for: ClientFactory) -> None:
    client = client_for(_app())

    response = client.get("/small", headers={"accept-encoding": "gzip"})

    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers
    assert response.text == "small " * 20


def test_minimum_size_is_configurable(client_for: ClientFactory) -> None:
    client = client_for(_app(minimum_size=100))
    larger = client_for(_app(minimum_size=2000))

    response = client.get("/small", headers={"accept-encoding": "gzip"})
    text = larger.get("/text", headers={"accept-encoding": "gzip"})

    assert response.headers["content-encoding"] == "gzip"
    assert response.text == "small " * 20
    assert "content-encoding" not in text.headers


@pytest.mark.parametrize("path", ["/png", "/encoded", "/no-transform", "/partial", "/events"])
def test_responses_that_must_not_be_compressed_are_left_alone(
    client_for: ClientFactory, path: str
) -> None:
    client = client_for(_app())
    with client.stream("GET", path, headers={"accept-encoding": "gzip, br, zstd"}) as response:
        raw = b"".join(response.iter_raw())

    assert "vary" not in response.headers
    if path == "/encoded":
        assert response.headers["content-encoding"] == "gzip"
        assert gzip.decompress(raw) == TEXT.encode()
    else:
        assert "content-encoding" not in response.headers


def test_incompressible_data_labelled_as_text_is_sent_uncompressed_with_vary(
    client_for: ClientFactory,
) -> None:
    response = client_for(_app()).get("/random", headers={"accept-encoding": "gzip"})

    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert len(response.content) == int(response.headers["content-length"]) == 2000


def test_without_brotli_and_zstandard_gzip_is_offered_silently() -> None:
    code = (
        "import sys; sys.modules['brotli'] = None; sys.modules['zstandard'] = None\n"
        "from ecko.middleware import compression\n"
        "print(compression().encodings)"
    )

    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "('gzip',)"
    assert result.stderr == ""


def test_error_responses_are_compressed_too(client_for: ClientFactory) -> None:
    response = client_for(_app()).get("/missing", headers={"accept-encoding": "gzip"})

    assert response.status_code == 404
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == TEXT


def test_a_compressed_etag_becomes_weak(client_for: ClientFactory) -> None:
    client = client_for(_app())

    compressed = client.get("/etag", headers={"accept-encoding": "gzip"})
    identity = client.get("/etag", headers={"accept-encoding": "identity"})

    assert compressed.headers["etag"] == 'W/"v1"'
    assert identity.headers["etag"] == '"v1"'


def test_head_gets_the_headers_get_would(client_for: ClientFactory) -> None:
    client = client_for(_app())

    get = client.get("/text", headers={"accept-encoding": "gzip"})
    head = client.head("/text", headers={"accept-encoding": "gzip"})

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-encoding"] == "gzip"
    assert head.headers["content-length"] == get.headers["content-length"]


def test_custom_media_types_replace_the_defaults(client_for: ClientFactory) -> None:
    client = client_for(_app(media_types=["application/*json"]))

    text = client.get("/text", headers={"accept-encoding": "gzip"})
    data = client.get("/json", headers={"accept-encoding": "gzip"})

    assert "content-encoding" not in text.headers
    assert data.headers["content-encoding"] == "gzip"


def _file_app(tmp_path: Path, content: bytes, name: str = "page.html") -> Ecko[Any]:
    path = tmp_path / name
    path.write_bytes(content)
    app = Ecko()
    app.use(compression())

    @app.get("/file")
    def file() -> FileResponse:
        return FileResponse(path)

    @app.get("/created")
    def created() -> FileResponse:
        return FileResponse(path, status_code=201)

    return app


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_files_are_compressed_as_they_are_read(
    client_for: ClientFactory, tmp_path: Path, coding: str
) -> None:
    content = TEXT.encode() * 200  # 260 KB: several 64 KiB reads
    client = client_for(_file_app(tmp_path, content))

    response = client.get("/file", headers={"accept-encoding": coding})

    assert response.status_code == 200
    assert response.headers["content-encoding"] == coding
    assert "content-length" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["etag"].startswith('W/"')
    assert response.content == content


def test_a_file_revalidated_with_its_weak_etag_is_304_with_that_etag(
    client_for: ClientFactory, tmp_path: Path
) -> None:
    client = client_for(_file_app(tmp_path, TEXT.encode()))
    first = client.get("/file", headers={"accept-encoding": "gzip"})

    again = client.get(
        "/file", headers={"accept-encoding": "gzip", "if-none-match": first.headers["etag"]}
    )

    assert again.status_code == 304
    assert again.headers["etag"] == first.headers["etag"]
    assert "content-encoding" not in again.headers


def test_a_range_request_gets_identity_bytes(client_for: ClientFactory, tmp_path: Path) -> None:
    client = client_for(_file_app(tmp_path, TEXT.encode()))

    response = client.get("/file", headers={"accept-encoding": "gzip", "range": "bytes=0-9"})

    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert response.content == TEXT.encode()[:10]
    assert response.headers["etag"].startswith('"')


def test_head_of_a_file_has_the_encoding_and_no_length(
    client_for: ClientFactory, tmp_path: Path
) -> None:
    client = client_for(_file_app(tmp_path, TEXT.encode()))

    response = client.head("/file", headers={"accept-encoding": "gzip"})

    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers
    assert response.content == b""


@pytest.mark.parametrize(
    ("content", "name", "path"),
    [
        (b"small", "page.html", "/file"),
        (os.urandom(5000), "photo.png", "/file"),
        (TEXT.encode(), "page.html", "/created"),
    ],
)
def test_small_binary_or_non_200_files_are_sent_as_they_are(
    client_for: ClientFactory, tmp_path: Path, content: bytes, name: str, path: str
) -> None:
    client = client_for(_file_app(tmp_path, content, name))

    response = client.get(path, headers={"accept-encoding": "gzip"})

    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(content))
    assert response.content == content


def test_outer_middleware_still_edits_a_compressed_files_headers(
    client_for: ClientFactory, tmp_path: Path
) -> None:
    path = tmp_path / "page.html"
    path.write_text(TEXT)
    app = Ecko()

    async def tag(request: Any, call_next: Any) -> Response:
        response: Response = await call_next()
        response.headers["x-tag"] = "outer"
        return response

    app.use(tag)
    app.use(compression())

    @app.get("/file")
    def file() -> FileResponse:
        return FileResponse(path)

    response = client_for(app).get("/file", headers={"accept-encoding": "gzip"})

    assert response.headers["x-tag"] == "outer"
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == TEXT


# -- streaming -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_streams_are_compressed_without_content_length(
    client_for: ClientFactory, kind: str, coding: str
) -> None:
    closed.clear()
    response = client_for(_app()).get(f"/stream/{kind}", headers={"accept-encoding": coding})

    assert response.headers["content-encoding"] == coding
    assert "content-length" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.text == _expected_lines()
    assert closed == [kind]


def test_each_streamed_chunk_is_flushed_so_it_decodes_on_arrival() -> None:
    middleware = compression()
    for name in ("gzip", "br", "zstd"):
        coding = next(coding for coding in middleware.codings if coding.name == name)
        stream = coding.stream()
        first = stream.chunk(b"first chunk\n")
        if name == "gzip":
            decoded = zlib.decompressobj(31).decompress(first)
        elif name == "br":
            decoded = brotli.Decompressor().process(first)
        else:
            decoded = zstandard.ZstdDecompressor().decompressobj().decompress(first)
        assert decoded == b"first chunk\n", name


def test_a_stream_declaring_a_small_length_is_left_alone(client_for: ClientFactory) -> None:
    response = client_for(_app()).get("/stream/short", headers={"accept-encoding": "gzip"})

    assert "content-encoding" not in response.headers
    assert response.text == "tiny"


def test_event_streams_are_never_compressed_even_when_listed(client_for: ClientFactory) -> None:
    client = client_for(_app(media_types=["text/*"]))

    response = client.get("/events", headers={"accept-encoding": "gzip"})

    assert "content-encoding" not in response.headers
    assert response.text.startswith("data: 1")


def test_head_of_a_stream_has_the_encoding_and_no_body(client_for: ClientFactory) -> None:
    response = client_for(_app()).head("/stream/async", headers={"accept-encoding": "gzip"})

    assert response.headers["content-encoding"] == "gzip"
    assert response.content == b""


# -- construction ----------------------------------------------------------------------------


def test_all_codings_are_offered_when_their_packages_are_installed() -> None:
    assert compression().encodings == ("zstd", "br", "gzip")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"minimum_size": -1}, "minimum_size"),
        ({"gzip_level": 10}, "gzip_level"),
        ({"brotli_quality": 12}, "brotli_quality"),
        ({"zstd_level": 0}, "zstd_level"),
        ({"encodings": ["deflate"]}, "'deflate' is not supported"),
    ],
)
def test_invalid_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compression(**options)


def test_strings_where_lists_belong_are_refused() -> None:
    with pytest.raises(TypeError, match="takes a list"):
        compression(encodings="gzip")
    with pytest.raises(TypeError, match="takes a list"):
        compression(media_types="text/*")


def test_no_encoding_at_all_is_refused() -> None:
    with pytest.raises(MissingDependencyError, match="no encoding"):
        compression(encodings=[])
