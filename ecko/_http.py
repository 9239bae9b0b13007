"""Pure HTTP header helpers: dates, cookie attributes, media types, ETags, conditions, ranges."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name.lower(): number for number, name in enumerate(_MONTHS, 1)}


# HTTP dates are formatted and parsed here rather than with email.utils, which would add
# ~5 ms of imports (email.charset, ...) to `import ecko`.
def _format_http_date(timestamp: float) -> str:
    """Format a POSIX timestamp as an HTTP date: `Sun, 06 Nov 1994 08:49:37 GMT`."""
    moment = time.gmtime(timestamp)
    return (
        f"{_WEEKDAYS[moment.tm_wday]}, {moment.tm_mday:02d} {_MONTHS[moment.tm_mon - 1]} "
        f"{moment.tm_year:04d} {moment.tm_hour:02d}:{moment.tm_min:02d}:{moment.tm_sec:02d} GMT"
    )


def _parse_http_date(value: str) -> float | None:
    """Parse an HTTP date in any of the three formats of RFC 9110, 5.6.7; None if invalid."""
    parts = value.replace(",", " ").split()
    try:
        if len(parts) == 6 and parts[5].upper() == "GMT":  # Sun, 06 Nov 1994 08:49:37 GMT
            day, month, year, clock = parts[1], parts[2], parts[3], parts[4]
        elif len(parts) == 4 and parts[3].upper() == "GMT":  # Sunday, 06-Nov-94 08:49:37 GMT
            day, month, year = parts[1].split("-")
            clock = parts[2]
        elif len(parts) == 5:  # asctime: Sun Nov  6 08:49:37 1994
            month, day, clock, year = parts[1], parts[2], parts[3], parts[4]
        else:
            return None
        hour, minute, second = (int(piece) for piece in clock.split(":"))
        full_year = int(year)
        if len(year) == 2:
            # RFC 9110, 5.6.7: a two-digit year more than 50 years ahead is in the past.
            this_year = time.gmtime().tm_year
            full_year += this_year - this_year % 100
            if full_year > this_year + 50:
                full_year -= 100
        moment = datetime(
            full_year, _MONTH_NUMBERS[month.lower()], int(day), hour, minute, second, tzinfo=UTC
        )
    except (KeyError, ValueError, OverflowError):  # OverflowError: a field past a C int
        return None
    return moment.timestamp()


# RFC 6265, 4.1.1: a cookie name is an RFC 2616 token.
_COOKIE_NAME_CHARS = frozenset(
    chr(code) for code in range(0x21, 0x7F) if chr(code) not in '()<>@,;:\\"/[]?={}'
)
# Printable ASCII except ";", which would start a new attribute; browsers accept the rest.
_COOKIE_VALUE_CHARS = frozenset(chr(code) for code in range(0x20, 0x7F)) - {";"}
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


def _check_cookie_attribute(text: str, what: str) -> str:
    if not _COOKIE_VALUE_CHARS.issuperset(text):
        raise ValueError(
            f"{what} {text!r} may hold only printable ASCII without ';' "
            "(percent-encode other characters)"
        )
    return text


def _format_expires(expires: int | datetime | str) -> str:
    if isinstance(expires, datetime):
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)  # naive datetimes are taken as UTC
        return _format_http_date(expires.timestamp())
    if isinstance(expires, str):
        return _check_cookie_attribute(expires, "Cookie expires")
    return _format_http_date(time.time() + expires)


# A Range header asking for more pieces than this is ignored and the whole file is sent,
# as Apache's MaxRanges does: many tiny ranges cost more than the file.
_MAX_RANGES = 100
# What a compressed file is, whatever it holds: "x.tar.gz" is gzip, not tar, on the wire.
_ENCODED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
}


def _guess_media_type(name: str) -> str:
    import mimetypes  # on first use: its tables are not needed by `import ecko` (benchmarks/)

    media_type, encoding = mimetypes.guess_type(name)
    if encoding is not None:
        return _ENCODED_TYPES.get(encoding, "application/octet-stream")
    return media_type or "application/octet-stream"


def _content_disposition(disposition_type: str, filename: str) -> str:
    if filename.isascii():
        escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
        return f'{disposition_type}; filename="{escaped}"'
    # RFC 6266 / RFC 5987: non-ASCII names travel percent-encoded as UTF-8.
    return f"{disposition_type}; filename*=utf-8''{quote(filename, safe='')}"


def _make_etag(stat_result: os.stat_result) -> str:
    return f'"{stat_result.st_mtime_ns:x}-{stat_result.st_size:x}"'


def _parse_etags(value: str) -> list[str]:
    """Split an If-None-Match list into entity tags, `W/` prefixes dropped (weak comparison)."""
    tags: list[str] = []
    position, length = 0, len(value)
    while position < length:
        char = value[position]
        if char in " \t,":
            position += 1
            continue
        if value.startswith("W/", position):
            position += 2
        if position < length and value[position] == '"':
            end = value.find('"', position + 1)
            end = length - 1 if end == -1 else end
            tags.append(value[position : end + 1])
            position = end + 1
        else:  # an unquoted tag from a sloppy client: take it up to the next comma
            end = value.find(",", position)
            end = length if end == -1 else end
            tags.append(f'"{value[position:end].strip()}"')
            position = end
    return tags


def _to_int(text: str) -> int | None:
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit() or len(text) > 20:
        return None
    return int(text)


def _parse_ranges(value: str, size: int) -> list[tuple[int, int]] | None:
    """Parse a Range header into sorted, merged, inclusive `(start, end)` byte ranges.

    Returns None when the header is to be ignored (another unit, too many ranges) and an
    empty list when it is invalid or no range is satisfiable (416).
    """
    unit, equals, spec = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None  # RFC 9110, 14.2: an unknown range unit is ignored
    pieces = spec.split(",")
    if len(pieces) > _MAX_RANGES:
        return None
    ranges: list[tuple[int, int]] = []
    for piece in pieces:
        if not piece.strip():
            continue  # empty list elements are allowed (RFC 9110, 5.6.1)
        first, dash, last = piece.partition("-")
        if not dash:
            return []
        if not first.strip():
            suffix = _to_int(last)
            if suffix is None:
                return []
            if suffix > 0:
                ranges.append((max(0, size - suffix), size - 1))
            continue
        start = _to_int(first)
        if start is None:
            return []
        if last.strip():
            end = _to_int(last)
            if end is None or end < start:
                return []
        else:
            end = size - 1
        if start < size:
            ranges.append((start, min(end, size - 1)))
    ranges.sort()
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _is_not_modified(request: Mapping[str, str], etag: str, mtime: float) -> bool:
    """Evaluate If-None-Match, else If-Modified-Since (RFC 9110, 13.2.2)."""
    if_none_match = request.get("if-none-match")
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        own = etag.removeprefix("W/")
        return own in _parse_etags(if_none_match)
    if_modified_since = request.get("if-modified-since")
    if if_modified_since is not None:
        since = _parse_http_date(if_modified_since)
        return since is not None and int(mtime) <= since
    return False


def _requested_ranges(
    request: Mapping[str, str], etag: str, mtime: float, size: int
) -> list[tuple[int, int]] | None:
    """Return the ranges to send, None for the whole file, or [] for a 416."""
    if_range = request.get("if-range")
    if if_range is not None:
        if_range = if_range.strip()
        if if_range.startswith(('"', "W/")):
            # If-Range needs a strong match: a weak tag never matches (RFC 9110, 13.1.5).
            if if_range.startswith("W/") or etag.startswith("W/") or if_range != etag:
                return None
        else:
            date = _parse_http_date(if_range)
            if date is None or date != int(mtime):
                return None
    return _parse_ranges(request["range"], size)
