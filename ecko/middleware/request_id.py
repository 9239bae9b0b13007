"""Request id middleware: one id per request, in `context.request_id`, the response and logs."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import final

from ecko.context import context
from ecko.datastructures import check_header_name
from ecko.requests import Request
from ecko.responses import Response

__all__ = ["RequestIdFilter", "RequestIdMiddleware", "is_valid_request_id", "request_id"]

CallNext = Callable[..., Awaitable[Response]]

# Safe in a header, a log line and a URL: no spaces, quotes, separators or control
# characters, so a client-chosen id cannot forge log lines or break log parsers.
_VALID_ID = re.compile(r"[A-Za-z0-9._:+/=@-]{1,128}")


def is_valid_request_id(value: str) -> bool:
    """Tell whether `value` is an acceptable request id: 1-128 of `A-Za-z0-9._:+/=@-`."""
    return _VALID_ID.fullmatch(value) is not None


def _new_id() -> str:
    return uuid.uuid4().hex


@final
class RequestIdMiddleware:
    """The middleware `request_id()` builds."""

    def __init__(
        self, header: str, accept_incoming: bool, generate: Callable[[], str] | None
    ) -> None:
        self.header = check_header_name(header)
        self.accept_incoming = accept_incoming
        self.generate = generate or _new_id

    def _make(self) -> str:
        made = self.generate()
        if not isinstance(made, str) or not is_valid_request_id(made):
            raise ValueError(
                f"request_id(generate=...) returned {made!r}; ids must be 1-128 characters "
                "of A-Za-z0-9._:+/=@-"
            )
        return made

    def pick(self, request: Request) -> str:
        """Return the client's id if acceptable and well-formed, else a new one."""
        if self.accept_incoming:
            values = request.headers.getlist(self.header)
            if len(values) == 1 and is_valid_request_id(values[0]):
                return values[0]
        return self._make()

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Set `context.request_id`, then echo the id in the response header."""
        current = self.pick(request)
        context.request_id = current
        response = await call_next()
        response.headers[self.header] = current
        return response


def request_id(
    header: str = "X-Request-ID",
    *,
    accept_incoming: bool = True,
    generate: Callable[[], str] | None = None,
) -> RequestIdMiddleware:
    """Build a middleware that gives every request an id, shared by logs and the response.

    The id is available as `context.request_id` (and in log records through
    `RequestIdFilter`), is the id logged with unhandled errors, and is sent back in
    `header`.

    Args:
        header: the request and response header carrying the id.
        accept_incoming: reuse an id the client (or a proxy) sent in `header` when it is
            well-formed: 1 to 128 characters of `A-Za-z0-9._:+/=@-`. Otherwise, and when
            False, a new id is made.
        generate: makes new ids (default: a random UUID4 as 32 hex digits).

    Raises:
        ValueError: `header` is not a valid header name.
    """
    return RequestIdMiddleware(header, accept_incoming, generate)


class RequestIdFilter(logging.Filter):
    """A logging filter that adds `record.request_id`: the current request's id, or "-".

    Attach it to a handler (filters on a logger skip records from child loggers), then use
    `%(request_id)s` in the handler's format.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Set `record.request_id` (keeping one set through `extra=`); never drop a record."""
        if not hasattr(record, "request_id"):
            record.request_id = context.get("request_id") or "-"
        return True
