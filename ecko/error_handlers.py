"""Turn exceptions into responses: user handlers by MRO or status, problem details, debug page."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from ecko.context import context
from ecko.exceptions import HTTPException, InternalServerError, ValidationError, status_phrase
from ecko.requests import Request
from ecko.responses import HTMLResponse, JSONResponse, Response, to_response
from ecko.websockets import WebSocket

logger = logging.getLogger("ecko.error")

PROBLEM_JSON = "application/problem+json"

ErrorFormatter = Callable[[HTTPException, dict[str, Any]], Any]
"""`formatter(exc, problem)` returns anything a handler may return; replaces the error shape."""


def problem_details(exc: HTTPException) -> dict[str, Any]:
    """Describe an HTTP error as RFC 9457 problem details."""
    problem: dict[str, Any] = {
        "type": "about:blank",
        "title": status_phrase(exc.status_code),
        "status": exc.status_code,
        "detail": exc.detail,
    }
    if isinstance(exc, ValidationError):
        problem["errors"] = exc.errors
    return problem


def default_error_response(exc: HTTPException, problem: dict[str, Any]) -> Response:
    """Render `problem` as `application/problem+json` with the exception's headers."""
    return JSONResponse(problem, exc.status_code, exc.headers or None, media_type=PROBLEM_JSON)


def request_id_for(request: Request | None) -> str:
    """Return the request's id: `context.request_id`, a sane sent `X-Request-ID`, or a new one."""
    current = context.get("request_id")
    if isinstance(current, str):
        return current
    if request is not None:
        sent = request.headers.get("x-request-id")
        if sent and len(sent) <= 128 and sent.isascii() and sent.isprintable():
            return sent
    return uuid.uuid4().hex


def log_unhandled(
    exc: BaseException,
    request: Request | WebSocket | None,
    request_id: str,
    where: str = "",
) -> None:
    """Log an unhandled exception with its traceback, the request line and the request id."""
    if isinstance(request, WebSocket):
        line = f"WebSocket {request.path}"
    else:
        line = f"{request.method} {request.path}" if request is not None else "(no request)"
    logger.error(
        "Unhandled %s in %s%s [request id %s]",
        type(exc).__name__,
        line,
        f" ({where})" if where else "",
        request_id,
        exc_info=(type(exc), exc, exc.__traceback__),
    )


GENERIC_DETAIL = "The server hit an unexpected error; it has been logged."


def internal_error_response(
    exc: BaseException,
    request: Request | None,
    *,
    debug: bool,
    where: str = "",
    formatter: ErrorFormatter | None = None,
) -> Response:
    """Log `exc` and answer 500: generic in production, the traceback in debug mode.

    Outside debug mode, `formatter` (the app's error formatter) shapes the generic answer
    from an `InternalServerError`; if it fails too, that is logged and the default shape used.
    """
    request_id = request_id_for(request)
    log_unhandled(exc, request, request_id, where)
    if debug:
        return _debug_response(exc, request, request_id)
    problem = {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": GENERIC_DETAIL,
        "request_id": request_id,
    }
    if formatter is not None:
        try:
            response = to_response(formatter(InternalServerError(GENERIC_DETAIL), problem), 500)
        except Exception as failure:  # noqa: BLE001 - logged; the default shape still answers
            log_unhandled(failure, request, request_id, "error formatter")
        else:
            response.headers.setdefault("x-request-id", request_id)
            return response
    return JSONResponse(problem, 500, {"x-request-id": request_id}, media_type=PROBLEM_JSON)


def _debug_response(exc: BaseException, request: Request | None, request_id: str) -> Response:
    """Describe `exc` to the developer: an HTML page for browsers, JSON otherwise."""
    from ecko import _debug

    accept = request.headers.get("accept") if request is not None else None
    if _debug.wants_html(accept):
        page = _debug.debug_html(
            exc,
            method=request.method if request else "-",
            path=request.path if request else "-",
            request_id=request_id,
        )
        return HTMLResponse(page, 500, {"x-request-id": request_id})
    details = _debug.debug_json(exc, request_id=request_id)
    # Problem details' "type" is a URI, so the exception's class name moves to "exception".
    exception = details.pop("type")
    payload = {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": f"{exception}: {details['message']}" if details["message"] else exception,
        "exception": exception,
        **details,
    }
    return JSONResponse(payload, 500, {"x-request-id": request_id}, media_type=PROBLEM_JSON)


class ExceptionHandlers:
    """User exception handlers, found by status code or along the exception's MRO."""

    def __init__(self) -> None:
        self.by_type: dict[type[BaseException], Callable[..., Any]] = {}
        self.by_status: dict[int, Callable[..., Any]] = {}
        self._cache: dict[type[BaseException], Callable[..., Any] | None] = {}

    def add(self, key: type[BaseException] | int, handler: Callable[..., Any]) -> None:
        """Register `handler` for an exception class or an HTTP status code."""
        if isinstance(key, int):
            self.by_status[key] = handler
        else:
            self.by_type[key] = handler
        self._cache.clear()

    def find(self, exc: BaseException) -> Callable[..., Any] | None:
        """Return the handler for `exc`: its status first (HTTP errors), then its MRO."""
        if self.by_status and isinstance(exc, HTTPException):
            handler = self.by_status.get(exc.status_code)
            if handler is not None:
                return handler
        kind = type(exc)
        try:
            return self._cache[kind]
        except KeyError:
            pass
        found = None
        for base in kind.__mro__:
            found = self.by_type.get(base)
            if found is not None:
                break
        self._cache[kind] = found
        return found
