"""The server-sent event: its fields, their checks and the `text/event-stream` encoding."""

from __future__ import annotations

from typing import Any, final

from ecko.serialization import decode_json, encode_json

_LINE_BREAKS = frozenset("\r\n")
_FORBIDDEN_FIELD_CHARS = frozenset("\r\n\0")


def _check_field(value: str, field: str) -> str:
    if not _FORBIDDEN_FIELD_CHARS.isdisjoint(value):
        raise ValueError(
            f"Server-sent event {field} {value!r} contains CR, LF or NUL, which would end the "
            "field early"
        )
    return value


@final
class ServerSentEvent:
    """One server-sent event: data plus the optional `event`, `id`, `retry` and comment fields.

    Args:
        data: the payload: `str` is sent as is (one `data:` line per line of text), None
            sends no data field, anything else (dict, list, Struct, ...) is encoded as JSON.
        event: the event type (`addEventListener(event, ...)` in the browser).
        id: the event id; the browser sends the last one back as `Last-Event-ID`.
        retry: milliseconds the browser waits before reconnecting.
        comment: a comment, ignored by browsers (may span several lines).

    Raises:
        ValueError: `event` or `id` holds CR, LF or NUL, or `retry` is negative.
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: Any = None,
        *,
        event: str | None = None,
        id: str | None = None,  # noqa: A002 - the field's name in the SSE format
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        self.data = data
        self.event = None if event is None else _check_field(event, "event")
        self.id = None if id is None else _check_field(id, "id")
        if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int)):
            raise ValueError(
                f"Server-sent event retry must be an int (milliseconds), not {retry!r}"
            )
        if retry is not None and retry < 0:
            raise ValueError(f"Server-sent event retry must be 0 or more, not {retry}")
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        """Return the event in the `text/event-stream` format, blank line included.

        Raises:
            TypeError: `data` holds a value JSON cannot represent.
        """
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in self.comment.splitlines() or [""])
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        data = self.data
        if data is not None:
            if isinstance(data, bytes):
                text = data.decode("utf-8")
            elif isinstance(data, str):
                text = data
            else:
                text = _encode_json_text(data)
            # A browser splits fields on CR, LF and CRLF alike, so each line is its own field.
            lines.extend(f"data: {line}" for line in _split_lines(text))
        lines.append("\n")
        return "\n".join(lines).encode("utf-8")

    def json(self) -> Any:
        """Decode `data` as JSON (for events read back by a client).

        Raises:
            msgspec.DecodeError: `data` is not valid JSON.
        """
        data = self.data
        if isinstance(data, (str, bytes)):
            return decode_json(data)
        return data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in ("data", "event", "id", "retry", "comment")
            if getattr(self, name) is not None
        )
        return f"ServerSentEvent({fields})"


def _split_lines(text: str) -> list[str]:
    if _LINE_BREAKS.isdisjoint(text):
        return [text]
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _encode_json_text(value: Any) -> str:
    try:
        return encode_json(value).decode("utf-8")
    except NotImplementedError as error:  # msgspec 0.22 passes enc_hook's error through
        raise TypeError(str(error)) from error


def to_event(item: Any) -> ServerSentEvent | None:
    """What one yielded value becomes; None is skipped (nothing is sent)."""
    if isinstance(item, ServerSentEvent):
        return item
    if item is None:
        return None
    return ServerSentEvent(item)
