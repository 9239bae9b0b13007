"""Form bodies: urlencoded and multipart parsing under limits into FormData and UploadFile."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import IO, Any, final, overload
from urllib.parse import unquote_to_bytes

import msgspec

from ecko._optional import import_optional
from ecko.concurrency import run_sync
from ecko.datastructures import Headers
from ecko.exceptions import BadRequest, PayloadTooLarge, UnsupportedMediaType

MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"
FORM_MEDIA_TYPES = (MULTIPART, URLENCODED)
# RFC 2046, 5.1.1: 1 to 70 characters from this set, not ending with a space.
_BOUNDARY_CHARS = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? "
)
_COPY_CHUNK = 1024 * 1024


class FormLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The limits a form body is parsed under; every one refuses the body with 413.

    The whole body is also bounded by the request's `max_body_size` (the app's or route's).

    Args:
        max_fields: text fields (multipart parts without a filename, or urlencoded pairs).
        max_files: file parts.
        max_parts: parts of any kind, so thousands of empty parts stop early.
        max_field_size: bytes of one text field, which is held in memory.
        max_file_size: bytes of one file; None leaves only the body limit.
        max_part_header_size: bytes of one part's headers.
        spool_threshold: bytes of a file kept in memory before it moves to a temporary file.
    """

    max_fields: int = 1000
    max_files: int = 100
    max_parts: int = 1000
    max_field_size: int = 1024 * 1024
    max_file_size: int | None = None
    max_part_header_size: int = 8 * 1024
    spool_threshold: int = 1024 * 1024


DEFAULT_FORM_LIMITS = FormLimits()


@final
class UploadFile:
    """An uploaded file, spooled to a temporary file past a size threshold.

    Reads and writes that touch the disk run in the threadpool, never on the event loop.
    `file` is the underlying `SpooledTemporaryFile` for code that wants it (blocking calls).
    """

    __slots__ = ("content_type", "file", "filename", "headers", "size")

    def __init__(
        self,
        file: IO[bytes] | None = None,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        headers: Headers | None = None,
        size: int = 0,
        spool_threshold: int = DEFAULT_FORM_LIMITS.spool_threshold,
    ) -> None:
        if file is None:
            # Imported here: tempfile and shutil add milliseconds to `import ecko`.
            import tempfile

            # Closed by close(), which Ecko calls after the response.
            file = tempfile.SpooledTemporaryFile(max_size=spool_threshold)  # noqa: SIM115
        self.file: IO[bytes] = file
        self.filename = filename
        self.content_type = content_type
        self.headers = headers if headers is not None else Headers()
        self.size = size

    @property
    def in_memory(self) -> bool:
        """Say whether the content is still in memory (not yet rolled over to disk)."""
        # SpooledTemporaryFile has no public flag; any other file object is on disk.
        return not getattr(self.file, "_rolled", True)

    def _would_roll(self, extra: int) -> bool:
        max_size: int = getattr(self.file, "_max_size", 0)
        return bool(max_size) and self.file.tell() + extra > max_size

    async def write(self, data: bytes) -> int:
        """Append `data` at the current position; the write crossing the threshold runs off-loop."""
        if self.in_memory and not self._would_roll(len(data)):
            written = self.file.write(data)
        else:
            written = await run_sync(self.file.write, data)
        self.size = max(self.size, self.file.tell())
        return written

    async def read(self, size: int = -1) -> bytes:
        """Read up to `size` bytes (all that is left by default) from the current position."""
        if self.in_memory:
            return self.file.read(size)
        return await run_sync(self.file.read, size)

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move the read position; return the new position."""
        if self.in_memory:
            return self.file.seek(offset, whence)
        return await run_sync(self.file.seek, offset, whence)

    async def close(self) -> None:
        """Close the file, deleting its temporary file (Ecko does this after the response)."""
        if self.file.closed:
            return
        if self.in_memory:
            self.file.close()
        else:
            await run_sync(self.file.close)

    async def save(self, path: str | os.PathLike[str]) -> None:
        """Copy the whole upload to `path` in the threadpool, keeping the read position."""
        await run_sync(self._save, path)

    def _save(self, path: str | os.PathLike[str]) -> None:
        import shutil

        position = self.file.tell()
        self.file.seek(0)
        try:
            with open(path, "wb") as target:
                shutil.copyfileobj(self.file, target, _COPY_CHUNK)
        finally:
            self.file.seek(position)

    def __repr__(self) -> str:
        return (
            f"UploadFile(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"size={self.size})"
        )


FormValue = str | UploadFile


@final
class FormData(Mapping[str, FormValue]):
    """Read-only, multi-value form fields: `form["name"]` is the last value of `name`.

    Values are `str` for text fields and `UploadFile` for files.
    """

    __slots__ = ("_dict", "_list")

    def __init__(self, items: Iterable[tuple[str, FormValue]] = ()) -> None:
        self._list: list[tuple[str, FormValue]] = list(items)
        self._dict: dict[str, list[FormValue]] = {}
        for key, value in self._list:
            self._dict.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> FormValue:
        return self._dict[key][-1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    @overload
    def getlist(self, key: str) -> list[FormValue]: ...
    @overload
    def getlist(self, key: str, kind: type[str]) -> list[str]: ...
    @overload
    def getlist(self, key: str, kind: type[UploadFile]) -> list[UploadFile]: ...
    def getlist(self, key: str, kind: type[Any] | None = None) -> list[Any]:
        """Return every value of `key` in order, only those of type `kind` if given."""
        values = self._dict.get(key, ())
        return [value for value in values if kind is None or isinstance(value, kind)]

    def multi_items(self) -> list[tuple[str, FormValue]]:
        """Return every `(key, value)` pair in the order received."""
        return list(self._list)

    def files(self) -> list[UploadFile]:
        """Return every uploaded file, in order."""
        return [value for _, value in self._list if isinstance(value, UploadFile)]

    async def close(self) -> None:
        """Close every uploaded file."""
        for upload in self.files():
            await upload.close()

    def __repr__(self) -> str:
        return f"FormData({self._list!r})"


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


async def parse_form(
    content_type: str, chunks: AsyncIterator[bytes], limits: FormLimits = DEFAULT_FORM_LIMITS
) -> FormData:
    """Parse an urlencoded or multipart body arriving as `chunks` into FormData.

    Raises:
        UnsupportedMediaType: the body is neither form type.
        BadRequest: the body is malformed (bad boundary, truncated, a part without a name).
        PayloadTooLarge: a limit of `limits` is exceeded.
    """
    media_type = _media_type(content_type)
    if media_type == MULTIPART:
        return await _parse_multipart(content_type, chunks, limits)
    if media_type == URLENCODED:
        return await _parse_urlencoded(chunks, limits)
    if not media_type:
        # No Content-Type and no body is an empty form: required fields then say they are missing.
        async for chunk in chunks:
            if chunk:
                break
        else:
            return FormData()
    raise UnsupportedMediaType(
        f"Expected a form body ({MULTIPART} or {URLENCODED}), got {media_type or 'no Content-Type'}"
    )


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"The form {what} is not valid UTF-8") from None


async def _parse_urlencoded(chunks: AsyncIterator[bytes], limits: FormLimits) -> FormData:
    python_multipart = import_optional("python_multipart", extra="forms")
    items: list[tuple[str, FormValue]] = []
    name = bytearray()
    value = bytearray()

    def on_field_start() -> None:
        if len(items) >= limits.max_fields:
            raise PayloadTooLarge(f"The form has more than {limits.max_fields} fields")
        name.clear()
        value.clear()

    def add(buffer: bytearray, data: bytes, start: int, end: int) -> None:
        buffer += data[start:end]
        if len(name) + len(value) > limits.max_field_size:
            raise PayloadTooLarge(
                f"A form field exceeds the limit of {limits.max_field_size} bytes"
            )

    def on_field_end() -> None:
        key = unquote_to_bytes(bytes(name).replace(b"+", b" "))
        text = unquote_to_bytes(bytes(value).replace(b"+", b" "))
        field = _decode(key, "field name")
        items.append((field, _decode(text, f"field {field!r}")))

    parser = python_multipart.QuerystringParser(
        callbacks={
            "on_field_start": on_field_start,
            "on_field_name": lambda data, start, end: add(name, data, start, end),
            "on_field_data": lambda data, start, end: add(value, data, start, end),
            "on_field_end": on_field_end,
        }
    )
    async for chunk in chunks:
        parser.write(chunk)
    parser.finalize()
    return FormData(items)


def _parse_boundary(content_type: str, parse_options_header: Any) -> bytes:
    _, options = parse_options_header(content_type)
    boundary: bytes | None = options.get(b"boundary")
    if not boundary:
        raise BadRequest("The multipart/form-data Content-Type has no boundary parameter")
    text = boundary.decode("latin-1")
    if len(text) > 70 or not _BOUNDARY_CHARS.issuperset(text) or text.endswith(" "):
        raise BadRequest(
            f"The multipart boundary {text[:80]!r} is invalid: RFC 2046 allows 1 to 70 letters, "
            "digits and '()+_,-./:=? "
        )
    return boundary


class _Part:
    """The part being parsed: its headers, then its name and text or upload."""

    __slots__ = ("field", "headers", "name", "number", "size", "upload")

    def __init__(self, number: int) -> None:
        self.number = number
        self.headers: list[tuple[bytes, bytes]] = []
        self.name = ""
        self.field: bytearray | None = None
        self.upload: UploadFile | None = None
        self.size = 0


class _MultipartReader:
    """Collect python-multipart's callbacks into items, enforcing the limits as data arrives."""

    def __init__(self, limits: FormLimits, parse_options_header: Any) -> None:
        self.limits = limits
        self.parse_options_header = parse_options_header
        self.items: list[tuple[str, FormValue]] = []
        self.uploads: list[UploadFile] = []
        self.pending: list[tuple[UploadFile, bytes]] = []
        self.parts = self.fields = self.files = 0
        self.part = _Part(0)
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.header_size = 0
        self.ended = False

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise PayloadTooLarge(f"The form has more than {self.limits.max_parts} parts")
        self.part = _Part(self.parts)
        self.header_size = 0

    def _count_header(self, size: int) -> None:
        self.header_size += size
        if self.header_size > self.limits.max_part_header_size:
            raise PayloadTooLarge(
                f"The headers of part {self.part.number} exceed the limit of "
                f"{self.limits.max_part_header_size} bytes"
            )

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers.append((bytes(self.header_name).lower(), bytes(self.header_value)))
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        part = self.part
        disposition = next((v for k, v in part.headers if k == b"content-disposition"), None)
        if disposition is None:
            raise BadRequest(f"Part {part.number} of the form has no Content-Disposition header")
        kind, options = self.parse_options_header(disposition)
        name = options.get(b"name")
        if kind.lower() != b"form-data" or name is None:
            raise BadRequest(
                f"Part {part.number} of the form is not 'Content-Disposition: form-data' "
                "with a name"
            )
        part.name = _decode(name, "field name")
        filename = options.get(b"filename")
        if filename is None:
            self.fields += 1
            if self.fields > self.limits.max_fields:
                raise PayloadTooLarge(f"The form has more than {self.limits.max_fields} fields")
            part.field = bytearray()
            return
        self.files += 1
        if self.files > self.limits.max_files:
            raise PayloadTooLarge(f"The form has more than {self.limits.max_files} files")
        headers = Headers(part.headers)
        part.upload = UploadFile(
            filename=_decode(filename, "filename"),
            content_type=headers.get("content-type"),
            headers=headers,
            spool_threshold=self.limits.spool_threshold,
        )
        self.uploads.append(part.upload)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        part.size += end - start
        if part.field is not None:
            if part.size > self.limits.max_field_size:
                raise PayloadTooLarge(
                    f"Form field {part.name!r} exceeds the limit of "
                    f"{self.limits.max_field_size} bytes"
                )
            part.field += data[start:end]
        elif part.upload is not None:
            limit = self.limits.max_file_size
            if limit is not None and part.size > limit:
                raise PayloadTooLarge(f"File {part.name!r} exceeds the limit of {limit} bytes")
            # Written after parser.write() returns, so a disk write can leave the event loop.
            self.pending.append((part.upload, data[start:end]))

    def on_part_end(self) -> None:
        part = self.part
        if part.field is not None:
            self.items.append((part.name, _decode(bytes(part.field), f"field {part.name!r}")))
        elif part.upload is not None:
            self.items.append((part.name, part.upload))

    def on_end(self) -> None:
        self.ended = True


async def _parse_multipart(
    content_type: str, chunks: AsyncIterator[bytes], limits: FormLimits
) -> FormData:
    python_multipart = import_optional("python_multipart", extra="forms")
    parse_options_header = python_multipart.multipart.parse_options_header
    errors = python_multipart.exceptions
    boundary = _parse_boundary(content_type, parse_options_header)
    reader = _MultipartReader(limits, parse_options_header)
    parser = python_multipart.MultipartParser(
        boundary, reader.callbacks(), **_header_options(python_multipart, limits)
    )
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            try:
                parser.write(chunk)
            except errors.MultipartParseError as error:
                raise _parse_error(str(error), reader, limits) from None
            for upload, data in reader.pending:
                await upload.write(data)
            reader.pending.clear()
        if received and not reader.ended:
            raise BadRequest(
                "The multipart body is truncated: it ends before the closing boundary "
                f"--{boundary.decode('latin-1')}--"
            )
        for upload in reader.uploads:
            await upload.seek(0)
    except BaseException:
        for upload in reader.uploads:
            await upload.close()
        raise
    return FormData(reader.items)


def _parse_error(message: str, reader: _MultipartReader, limits: FormLimits) -> Exception:
    number = reader.part.number
    if message.startswith("Maximum header size"):
        return PayloadTooLarge(
            f"The headers of part {number} exceed the limit of {limits.max_part_header_size} bytes"
        )
    if message.startswith("Maximum header count"):
        return PayloadTooLarge(f"Part {number} of the form has too many headers")
    return BadRequest(f"The multipart body is malformed: {message}")


@functools.cache
def _limits_header_lines(parser_class: type) -> bool:
    return "max_header_size" in inspect.signature(parser_class).parameters


def _header_options(python_multipart: Any, limits: FormLimits) -> dict[str, int]:
    # Recent python-multipart also limits each header line, earlier than our per-part count
    # (which sees data only when a callback fires); older versions rely on ours alone.
    if _limits_header_lines(python_multipart.MultipartParser):
        return {"max_header_size": limits.max_part_header_size}
    return {}


__all__ = [
    "DEFAULT_FORM_LIMITS",
    "FORM_MEDIA_TYPES",
    "FormData",
    "FormLimits",
    "UploadFile",
    "parse_form",
]
