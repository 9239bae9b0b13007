"""Responses that send themselves over ASGI, and `to_response()` for handler return values."""

from __future__ import annotations

import asyncio
import os
import stat as stat_module
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any, ClassVar
from urllib.parse import quote

from ecko._http import (
    _COOKIE_NAME_CHARS,
    _SAMESITE,
    _check_cookie_attribute,
    _content_disposition,
    _format_expires,
    _format_http_date,
    _guess_media_type,
    _is_not_modified,
    _make_etag,
    _requested_ranges,
)
from ecko.concurrency import iterate_in_threadpool, run_sync
from ecko.datastructures import MutableHeaders, check_header_text, check_header_value
from ecko.exceptions import HTTPException, NotFound
from ecko.serialization import encode_json
from ecko.types import Receive, Scope, Send

__all__ = [
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
    "to_response",
]

HeadersInput = Mapping[str, str] | Iterable[tuple[str, str]] | None

_NOSNIFF = (b"x-content-type-options", b"nosniff")
_SKIP_LENGTH = ("content-length",)
_SKIP_ENTITY = ("content-length", "content-type")
_NO_SKIP = ()


def _has_no_body(status_code: int) -> bool:
    # RFC 9110, 6.4.1: 1xx, 204 and 304 responses never carry content.
    return status_code < 200 or status_code == 204 or status_code == 304


_CONTENT_TYPES: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def _content_type(media_type: str, charset: str) -> tuple[bytes, bytes]:
    """Return the validated `content-type` header pair, encoded once per media type and charset.

    One cache lookup gives what `__call__` sends, the value decoded only if `headers` is read
    (benchmarks/: a second cache of encoded values cost 2% of a hello-world request).
    """
    key = (media_type, charset)
    pair = _CONTENT_TYPES.get(key)
    if pair is None:
        value = media_type
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            value = f"{media_type}; charset={charset}"
        check_header_value("content-type", value)
        pair = (b"content-type", value.encode("latin-1"))
        if len(_CONTENT_TYPES) < 256:  # bounded: media types may come from user input
            _CONTENT_TYPES[key] = pair
    return pair


def _encode_headers(
    pairs: Iterable[tuple[str, str]],
    skip: tuple[str, ...],
    extra: Iterable[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]]:
    """Encode `pairs` (minus `skip`) plus `extra` for `http.response.start`, adding nosniff."""
    raw: list[tuple[bytes, bytes]] = []
    nosniff = False
    name = ""
    try:
        for name, value in pairs:
            if name in skip:
                continue
            if name == "x-content-type-options":
                nosniff = True
            raw.append((name.encode("latin-1"), value.encode("latin-1")))
    except UnicodeEncodeError:
        raise ValueError(
            f"Header {name!r} holds characters outside Latin-1; percent-encode its value "
            "(for example with urllib.parse.quote)"
        ) from None
    raw.extend(extra)
    if not nosniff:
        raw.append(_NOSNIFF)
    return raw


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Response:
    """An HTTP response with a complete body, sent in one `http.response.body` message.

    Args:
        content: the body; `str` is encoded with `charset`, None means empty.
        status_code: the HTTP status.
        headers: initial headers, as a mapping or `(name, value)` pairs.
        media_type: the Content-Type; `text/*` types get `; charset=utf-8`.

    Attributes:
        headers: the response headers: case-insensitive, multi-value, editable.
    """

    media_type: str | None = None
    charset: ClassVar[str] = "utf-8"
    needs_prepare: ClassVar[bool] = False
    """True when `prepare()` must run before sending (the app calls it inside dispatch)."""

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.body: bytes = self.render(content)
        media_type = self.media_type
        if headers is None:
            # Most responses carry no header but their Content-Type: `headers` is built on
            # first use, and `__call__` sends the pre-encoded pair without it (benchmarks/:
            # 20% of a hello-world request's instructions).
            self._header_map: MutableHeaders | None = None
            if media_type is None:
                self._content_type_pair = None
            else:
                # The cache hit inline, a call less (benchmarks/: 1% of a hello-world request).
                key = (media_type, self.charset)
                self._content_type_pair = _CONTENT_TYPES.get(key) or _content_type(*key)
            return
        self._content_type_pair = None
        self._header_map = MutableHeaders(headers)
        if media_type is not None and "content-type" not in self._header_map:
            # Validated once per media type in _content_type, so appended directly.
            value = _content_type(media_type, self.charset)[1].decode("latin-1")
            self._header_map.append_validated("content-type", value)

    @property
    def headers(self) -> MutableHeaders:
        """The response headers: case-insensitive, multi-value, editable."""
        header_map = self._header_map
        if header_map is None:
            header_map = self._header_map = MutableHeaders()
            if self._content_type_pair is not None:
                value = self._content_type_pair[1].decode("latin-1")
                header_map.append_validated("content-type", value)
        return header_map

    @headers.setter
    def headers(self, value: MutableHeaders) -> None:
        self._header_map = value

    @property
    def _headers(self) -> MutableHeaders:
        """The same object as `headers`; the older spelling some examples still use."""
        return self.headers

    def render(self, content: Any) -> bytes:
        """Turn `content` into the body bytes.

        Raises:
            TypeError: `content` is neither text nor bytes (use `JSONResponse` for data).
        """
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode(self.charset)
        if isinstance(content, (bytearray, memoryview)):
            return bytes(content)
        raise TypeError(
            f"{type(self).__name__} content must be str or bytes, not {type(content).__name__}; "
            "use JSONResponse for data"
        )

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: int | datetime | str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: str | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a `Set-Cookie` header; each call adds one more cookie.

        Args:
            key: the cookie name (an RFC 6265 token).
            value: the cookie value: printable ASCII without `;`.
            max_age: seconds until the cookie expires; 0 or less expires it now.
            expires: when the cookie expires: seconds from now, a datetime (naive means
                UTC) or a preformatted HTTP date.
            path: the path prefix the cookie is sent for; None omits the attribute.
            domain: the domain the cookie is sent to; None means this host only.
            secure: send the cookie over HTTPS only.
            httponly: hide the cookie from JavaScript (on by default).
            samesite: "lax" (default), "strict", "none" (needs `secure`), or None to omit.
            partitioned: store the cookie per top-level site (CHIPS; needs `secure`).

        Raises:
            ValueError: the name, value or an attribute would break the header, or an
                attribute combination that browsers reject was asked for.
        """
        if not key or not _COOKIE_NAME_CHARS.issuperset(key):
            raise ValueError(
                f"Cookie name {key!r} must be a non-empty token: printable ASCII without "
                'spaces or any of ()<>@,;:\\"/[]?={}'
            )
        parts = [f"{key}={_check_cookie_attribute(value, 'Cookie value')}"]
        if max_age is not None:
            parts.append(f"Max-Age={int(max_age)}")
        if expires is not None:
            parts.append(f"Expires={_format_expires(expires)}")
        if path is not None:
            parts.append(f"Path={_check_cookie_attribute(path, 'Cookie path')}")
        if domain is not None:
            parts.append(f"Domain={_check_cookie_attribute(domain, 'Cookie domain')}")
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if samesite is not None:
            same_site = _SAMESITE.get(samesite.lower())
            if same_site is None:
                raise ValueError(
                    f"samesite must be 'lax', 'strict', 'none' or None, not {samesite!r}"
                )
            if same_site == "None" and not secure:
                raise ValueError("samesite='none' requires secure=True; browsers drop the cookie")
            parts.append(f"SameSite={same_site}")
        if partitioned:
            if not secure:
                raise ValueError("partitioned=True requires secure=True; browsers drop the cookie")
            parts.append("Partitioned")
        self.headers.add("set-cookie", "; ".join(parts))

    def delete_cookie(
        self,
        key: str,
        *,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: str | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Tell the client to drop cookie `key`; `path` and `domain` must match how it was set."""
        self.set_cookie(
            key,
            "",
            max_age=0,
            expires=_EPOCH,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
            partitioned=partitioned,
        )

    async def prepare(self, scope: Scope) -> None:
        """Check, before sending, what could fail (see `needs_prepare`); a no-op here."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the response: `http.response.start`, then the body (empty for HEAD)."""
        status = self.status_code
        # `not _has_no_body(status)`, inlined for the common case (benchmarks/: 1% of hello).
        if self._header_map is None and status >= 200 and status != 204 and status != 304:
            # Only the Content-Type: what `_encode_headers` would give, without building it.
            body = self.body
            length = (b"content-length", b"%d" % len(body))
            content_type = self._content_type_pair
            raw = [length, _NOSNIFF] if content_type is None else [content_type, length, _NOSNIFF]
            if scope.get("method") == "HEAD":
                body = b""
        elif _has_no_body(status):
            raw = _encode_headers(self.headers.items(), _SKIP_LENGTH, ())
            body = b""
        else:
            body = self.body
            # HEAD reuses GET's response and drops the body, keeping its length (RFC 9110, 9.3.2)
            raw = _encode_headers(
                self.headers.items(), _SKIP_LENGTH, ((b"content-length", b"%d" % len(body)),)
            )
            if scope.get("method") == "HEAD":
                body = b""
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class HTMLResponse(Response):
    """A `text/html; charset=utf-8` response."""

    media_type = "text/html"


class PlainTextResponse(Response):
    """A `text/plain; charset=utf-8` response."""

    media_type = "text/plain"


class JSONResponse(Response):
    """A response whose body is `content` encoded as JSON (Structs, dataclasses, ... included)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode `content` as compact UTF-8 JSON.

        Raises:
            TypeError: `content` holds a value JSON cannot represent.
        """
        try:
            return encode_json(content)
        except NotImplementedError as error:  # msgspec 0.22 passes enc_hook's error through
            raise TypeError(str(error)) from error


# Characters left as they are in Location: reserved ones keep their meaning, "%" keeps
# existing escapes; anything else (spaces, non-ASCII) is percent-encoded as UTF-8.
_LOCATION_SAFE = ":/%#?=@[]!$&'()*+,;"


class RedirectResponse(Response):
    """A redirect to `url` (307 by default: the method and body are kept).

    Raises:
        ValueError: `status_code` is not 3xx, or `url` holds CR, LF or NUL.
    """

    def __init__(self, url: str, status_code: int = 307, headers: HeadersInput = None) -> None:
        if not 300 <= status_code <= 399:
            raise ValueError(f"A redirect needs a 3xx status code, not {status_code}")
        location = quote(check_header_text(str(url), "Redirect URL"), safe=_LOCATION_SAFE)
        super().__init__(None, status_code, headers)
        self.headers["location"] = location


def _encode_chunk(chunk: Any, charset: str) -> bytes:
    if isinstance(chunk, str):
        return chunk.encode(charset)
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"A streamed chunk must be bytes or str, not {type(chunk).__name__}")


class _LockedIterator(Iterator[Any]):
    """A sync iterator whose `close()` waits for an in-flight `next()` in another thread."""

    def __init__(self, iterator: Iterator[Any]) -> None:
        self._iterator = iterator
        self._lock = threading.Lock()

    def __next__(self) -> Any:
        with self._lock:
            return next(self._iterator)

    @property
    def closable(self) -> bool:
        """Whether the wrapped iterator has a `close()` (generators do)."""
        return hasattr(self._iterator, "close")

    def close(self) -> None:
        """Close the wrapped iterator once no `next()` is running."""
        with self._lock:
            close = getattr(self._iterator, "close", None)
            if close is not None:
                close()


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class StreamingResponse(Response):
    """A response whose body comes from an iterator, chunk by chunk, without Content-Length.

    Async iterables are iterated on the event loop, sync ones in the threadpool. When the
    client disconnects the iteration stops and the iterator is closed, so `finally:`
    blocks in generators run.
    """

    def __init__(
        self,
        content: Iterable[bytes | str] | AsyncIterable[bytes | str],
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(None, status_code, headers, media_type)
        self.body_iterator = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the headers, then every chunk, until the iterator ends or the client leaves."""
        content = self.body_iterator
        locked: _LockedIterator | None = None
        chunks: AsyncIterator[bytes | str]
        if isinstance(content, AsyncIterable):
            chunks = content.__aiter__()
        else:
            locked = _LockedIterator(iter(content))
            chunks = iterate_in_threadpool(locked)
        raw = _encode_headers(self.headers.items(), _NO_SKIP, ())
        try:
            try:
                await send(
                    {"type": "http.response.start", "status": self.status_code, "headers": raw}
                )
                if scope.get("method") == "HEAD" or _has_no_body(self.status_code):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
            except OSError:  # the client went away (uvicorn raises ClientDisconnected)
                return
            await self._stream_until_disconnect(chunks, receive, send)
        finally:
            await _close_iterators(chunks, locked)

    async def _stream_until_disconnect(
        self, chunks: AsyncIterator[bytes | str], receive: Receive, send: Send
    ) -> None:
        stream = asyncio.create_task(self._stream(chunks, send))
        listener = asyncio.create_task(_wait_for_disconnect(receive))
        try:
            await asyncio.wait((stream, listener), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stream.cancel()
            listener.cancel()
            await asyncio.wait((stream, listener))
        for task in (stream, listener):
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error

    async def _stream(self, chunks: AsyncIterator[bytes | str], send: Send) -> None:
        charset = self.charset
        # Only `send` failing with OSError means the client left; the iterator's own errors
        # propagate.
        async for chunk in chunks:
            data = chunk if type(chunk) is bytes else _encode_chunk(chunk, charset)
            if data:
                try:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                except OSError:
                    return
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            return


async def _close_iterators(chunks: AsyncIterator[Any], locked: _LockedIterator | None) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
    if locked is not None and locked.closable:
        # Waits for a `next()` still running in a worker thread before closing.
        await run_sync(locked.close)


def _problem(status_code: int, title: str, detail: str, headers: HeadersInput = None) -> Response:
    """Build an RFC 9457 `application/problem+json` response."""
    body = {"type": "about:blank", "title": title, "status": status_code, "detail": detail}
    return Response(encode_json(body), status_code, headers, "application/problem+json")


_CONDITIONAL_HEADERS = (b"if-none-match", b"if-modified-since", b"range", b"if-range")


def _open_regular_file(
    path: str, stat_result: os.stat_result | None, open_file: bool
) -> tuple[os.stat_result, IO[bytes] | None] | None:
    """Stat `path` and open it if asked; None if it is missing or not a regular file."""
    try:
        if stat_result is None:
            stat_result = os.stat(path)
        if not stat_module.S_ISREG(stat_result.st_mode):
            return None
        return stat_result, (open(path, "rb") if open_file else None)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


# Bytes of a file read per threadpool hop, in `chunk_size` pieces: one hop per 64 KiB chunk
# made a 1 MiB download 8.6x raw ASGI's time (benchmarks/), and this bound keeps the memory
# one response holds small.
_READ_PER_HOP = 1024 * 1024


def _read_chunks(file: IO[bytes], offset: int, size: int, chunk_size: int) -> list[bytes]:
    """Read up to `size` bytes at `offset` as chunks of `chunk_size`; fewer if the file ends."""
    file.seek(offset)
    chunks: list[bytes] = []
    while size > 0:
        chunk = file.read(min(chunk_size, size))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return chunks


class FileResponse(Response):
    """A file sent in chunks, with ETag, Last-Modified, conditional GET and Range support.

    Args:
        path: the file to send; it is looked at when the response is sent.
        status_code: the HTTP status; conditional and Range requests apply to 200 only.
        headers: extra headers; an `etag` or `last-modified` given here is kept.
        media_type: the Content-Type; guessed from `filename` or `path` when None.
        filename: offer the file under this name (sets Content-Disposition).
        content_disposition_type: "attachment" (download) or "inline" (display).
        chunk_size: bytes read from disk, and sent, at a time.
        stat_result: the file's `os.stat()` if already known, saving a system call.

    A file that is missing or a directory when the response is sent becomes a 404
    `application/problem+json` response.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        filename: str | None = None,
        content_disposition_type: str = "attachment",
        chunk_size: int = 64 * 1024,
        stat_result: os.stat_result | None = None,
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
        self.path = os.fspath(path)
        self.filename = filename
        self.chunk_size = chunk_size
        self.stat_result = stat_result
        if media_type is None:
            media_type = _guess_media_type(filename or self.path)
        super().__init__(None, status_code, headers, media_type)
        if filename is not None:
            self.headers.setdefault(
                "content-disposition", _content_disposition(content_disposition_type, filename)
            )

    needs_prepare = True

    async def prepare(self, scope: Scope) -> None:
        """Check the file before sending, so its errors go through the app's error handling.

        Raises:
            NotFound: the file is missing or not a regular file.
            HTTPException: 416, the requested ranges cannot be satisfied.
        """
        opened = await run_sync(_open_regular_file, self.path, self.stat_result, False)
        if opened is None:
            raise NotFound("File not found")
        stat_result, _ = opened
        self.stat_result = stat_result
        if self.status_code != 200 or scope.get("method") != "GET":
            return
        request = _read_request_headers(scope)
        if "range" in request and stat_result.st_size > 0:
            etag = self.headers.get("etag") or _make_etag(stat_result)
            if _requested_ranges(request, etag, stat_result.st_mtime, stat_result.st_size) == []:
                raise HTTPException(
                    416,
                    "The requested range is not satisfiable",
                    {"content-range": f"bytes */{stat_result.st_size}"},
                )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the file, a 304, the requested ranges (206), a 416 or a 404."""
        method = scope.get("method", "GET")
        status = self.status_code
        send_body = method != "HEAD" and not _has_no_body(status)
        opened = await run_sync(_open_regular_file, self.path, self.stat_result, send_body)
        if opened is None:
            await _problem(404, "Not Found", "File not found")(scope, receive, send)
            return
        stat_result, file = opened
        try:
            await self._send_file(scope, receive, send, stat_result, file)
        finally:
            if file is not None:
                file.close()

    async def _send_file(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        stat_result: os.stat_result,
        file: IO[bytes] | None,
    ) -> None:
        method = scope.get("method", "GET")
        size = stat_result.st_size
        headers = self.headers
        etag = headers.setdefault("etag", _make_etag(stat_result))
        headers.setdefault("last-modified", _format_http_date(stat_result.st_mtime))
        headers.setdefault("accept-ranges", "bytes")
        ranges: list[tuple[int, int]] | None = None
        if self.status_code == 200 and method in ("GET", "HEAD"):
            request = _read_request_headers(scope)
            if _is_not_modified(request, etag, stat_result.st_mtime):
                raw = _encode_headers(headers.items(), _SKIP_ENTITY, ())
                await send({"type": "http.response.start", "status": 304, "headers": raw})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            # RFC 9110, 14.2: GET is the only method Range applies to.
            if method == "GET" and "range" in request and size > 0:
                ranges = _requested_ranges(request, etag, stat_result.st_mtime, size)
                if ranges == []:
                    detail = "The requested range is not satisfiable"
                    unsatisfied = {"content-range": f"bytes */{size}"}
                    problem = _problem(416, "Range Not Satisfiable", detail, unsatisfied)
                    await problem(scope, receive, send)
                    return
        if ranges is None or file is None:
            await self._send_whole(send, file, size)
        elif len(ranges) == 1:
            await self._send_single_range(send, file, size, *ranges[0])
        else:
            await self._send_multiple_ranges(send, file, size, ranges)

    async def _send_whole(self, send: Send, file: IO[bytes] | None, size: int) -> None:
        status = self.status_code
        extra = () if _has_no_body(status) else ((b"content-length", b"%d" % size),)
        raw = _encode_headers(self.headers.items(), _SKIP_LENGTH, extra)
        await send({"type": "http.response.start", "status": status, "headers": raw})
        if file is None:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await self._send_bytes(send, file, 0, size - 1, last=True)

    async def _send_single_range(
        self, send: Send, file: IO[bytes], size: int, start: int, end: int
    ) -> None:
        extra = (
            (b"content-range", b"bytes %d-%d/%d" % (start, end, size)),
            (b"content-length", b"%d" % (end - start + 1)),
        )
        raw = _encode_headers(self.headers.items(), _SKIP_LENGTH, extra)
        await send({"type": "http.response.start", "status": 206, "headers": raw})
        await self._send_bytes(send, file, start, end, last=True)

    async def _send_multiple_ranges(
        self, send: Send, file: IO[bytes], size: int, ranges: list[tuple[int, int]]
    ) -> None:
        boundary = os.urandom(16).hex()
        content_type = self.headers.get("content-type", "application/octet-stream")
        # RFC 2046, 5.1.1: each delimiter is CRLF "--" boundary; the first may skip the CRLF.
        part_heads = [
            (b"\r\n" if index else b"")
            + (
                f"--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Range: bytes {start}-{end}/{size}\r\n\r\n"
            ).encode("latin-1")
            for index, (start, end) in enumerate(ranges)
        ]
        closing = f"\r\n--{boundary}--\r\n".encode("latin-1")
        length = sum(map(len, part_heads)) + sum(end - start + 1 for start, end in ranges)
        extra = (
            (b"content-type", b"multipart/byteranges; boundary=" + boundary.encode("latin-1")),
            (b"content-length", b"%d" % (length + len(closing))),
        )
        raw = _encode_headers(self.headers.items(), _SKIP_ENTITY, extra)
        await send({"type": "http.response.start", "status": 206, "headers": raw})
        for head, (start, end) in zip(part_heads, ranges, strict=True):
            await send({"type": "http.response.body", "body": head, "more_body": True})
            await self._send_bytes(send, file, start, end, last=False)
        await send({"type": "http.response.body", "body": closing, "more_body": False})

    async def _send_bytes(
        self, send: Send, file: IO[bytes], start: int, end: int, *, last: bool
    ) -> None:
        """Send bytes `start`..`end` (inclusive) of `file`, `chunk_size` at a time."""
        offset, remaining = start, end - start + 1
        per_hop = max(self.chunk_size, _READ_PER_HOP)
        while remaining > 0:
            size = min(per_hop, remaining)
            chunks = await run_sync(_read_chunks, file, offset, size, self.chunk_size)
            for chunk in chunks:
                offset += len(chunk)
                remaining -= len(chunk)
                more = remaining > 0 or not last
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    return
            if sum(map(len, chunks)) < size:
                break  # the file shrank since it was stat-ed; the server sees a short body
        if last:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _read_request_headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if name in _CONDITIONAL_HEADERS:
            found[name.decode("latin-1")] = value.decode("latin-1")
    return found


def _apply(response: Response, status_code: int | None, headers: Any) -> Response:
    if status_code is not None:
        response.status_code = status_code
    if headers is not None:
        pairs = list(headers.items())
        for name in {name.lower() for name, _ in pairs}:
            response.headers.pop(name)
        for name, value in pairs:
            response.headers.add(name, value)
    return response


def _convert(value: Any, status_code: int, explicit_status: bool) -> Response:
    """Turn a non-tuple return value into a response with `status_code`."""
    kind = type(value)
    if kind is dict or kind is list:
        return JSONResponse(value, status_code)
    if isinstance(value, Response):
        return value
    if kind is str:
        return PlainTextResponse(value, status_code)
    if value is None:
        return Response(None, 204 if status_code == 200 and not explicit_status else status_code)
    if kind is bytes or kind is bytearray or kind is memoryview:
        return Response(bytes(value), status_code, media_type="application/octet-stream")
    if isinstance(value, str):
        return PlainTextResponse(value, status_code)
    try:
        return JSONResponse(value, status_code)
    except TypeError as error:
        if asyncio.iscoroutine(value):
            raise TypeError(
                "A handler returned a coroutine: await it, or declare the handler `async def`"
            ) from error
        raise


_TUPLE_SHAPES = (
    "(body, status), (body, status, headers) or (body, headers), where status is an int "
    "and headers a mapping"
)


def _is_status(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


def _is_headers(value: Any) -> bool:
    return isinstance(value, (Mapping, MutableHeaders))


def to_response(value: Any, status_code: int = 200) -> Response:
    """Turn a handler's return value into a response.

    A Response is returned as is; None gives an empty 204 (or `status_code` when it is not
    200); str gives text/plain; bytes give application/octet-stream; a tuple
    `(body, status)`, `(body, status, headers)` or `(body, headers)` converts `body` by
    these rules and applies the status and headers; anything else is encoded as JSON.

    Raises:
        TypeError: a tuple of another shape, or a value JSON cannot represent.
    """
    if type(value) is dict:
        return JSONResponse(value, status_code)
    if isinstance(value, Response):  # before the general case: a call less (benchmarks/)
        return value
    if type(value) is not tuple:
        return _convert(value, status_code, explicit_status=False)
    size = len(value)
    if size == 2 and _is_status(value[1]):
        body, status, headers = value[0], value[1], None
    elif size == 2 and _is_headers(value[1]):
        body, status, headers = value[0], None, value[1]
    elif size == 3 and _is_status(value[1]) and _is_headers(value[2]):
        body, status, headers = value
    else:
        described = ", ".join(type(item).__name__ for item in value)
        raise TypeError(
            f"A handler returned a tuple of ({described}); return {_TUPLE_SHAPES}, "
            "or a list for a JSON array"
        )
    if type(body) is tuple:
        response: Response = JSONResponse(body, status_code if status is None else status)
    else:
        explicit = status is not None
        response = _convert(body, status_code if status is None else status, explicit)
    return _apply(response, status, headers)
