"""Ecko: a fast, minimal ASGI web framework; handlers are plain functions typed by their hints."""

import typing as _typing

from ecko.__about__ import __version__ as __version__
from ecko.app import Ecko
from ecko.background import BackgroundTasks
from ecko.context import context
from ecko.datastructures import URL, Headers, MutableHeaders, QueryParams, State
from ecko.exceptions import (
    AppStartedError,
    BadRequest,
    Conflict,
    Forbidden,
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    MissingDependencyError,
    NotFound,
    PayloadTooLarge,
    RouteDefinitionError,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    ValidationError,
)
from ecko.forms import UploadFile
from ecko.params import Body, Cookie, File, Form, Header, Path, Query
from ecko.requests import Request
from ecko.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from ecko.routing import Router
from ecko.sse import EventStreamResponse, JSONLinesResponse, ServerSentEvent
from ecko.websockets import Hub, WebSocket, WebSocketDisconnect, WebSocketError

if _typing.TYPE_CHECKING:
    from ecko.openapi import setup_openapi


def __getattr__(name: str) -> _typing.Any:
    # OpenAPI is not core: it loads on first use so `import ecko` stays light.
    if name == "setup_openapi":
        from ecko.openapi import setup_openapi

        globals()["setup_openapi"] = setup_openapi
        return setup_openapi
    raise AttributeError(f"module 'ecko' has no attribute {name!r}")


__all__ = [
    "AppStartedError",
    "BackgroundTasks",
    "BadRequest",
    "Body",
    "Conflict",
    "Cookie",
    "Ecko",
    "EventStreamResponse",
    "File",
    "FileResponse",
    "Forbidden",
    "Form",
    "HTMLResponse",
    "HTTPException",
    "Header",
    "Headers",
    "Hub",
    "InternalServerError",
    "JSONLinesResponse",
    "JSONResponse",
    "MethodNotAllowed",
    "MissingDependencyError",
    "MutableHeaders",
    "NotFound",
    "Path",
    "PayloadTooLarge",
    "PlainTextResponse",
    "Query",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "Response",
    "RouteDefinitionError",
    "Router",
    "ServerSentEvent",
    "State",
    "StreamingResponse",
    "TooManyRequests",
    "URL",
    "Unauthorized",
    "UnsupportedMediaType",
    "UploadFile",
    "ValidationError",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketError",
    "__version__",
    "context",
    "setup_openapi",
]
