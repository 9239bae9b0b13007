"""Test ASGI apps in-process through httpx (TestClient) or under a real server (LiveServer)."""

from ecko.exceptions import MissingDependencyError

try:
    import httpx  # noqa: F401 - checked first, so a missing extra is named before any other error
except ImportError as error:  # pragma: no cover - httpx is installed wherever tests run
    raise MissingDependencyError(
        "'httpx' is not installed; install it with: pip install 'ecko[testing]'"
    ) from error

from ecko.testing.client import AsyncTestClient, TestClient
from ecko.testing.live_server import LiveServer
from ecko.testing.sse import EventStream, aiter_events, iter_events
from ecko.testing.websocket import (
    WebSocketClosed,
    WebSocketDenialResponse,
    WebSocketRejected,
    WebSocketTestSession,
)

__all__ = [
    "AsyncTestClient",
    "EventStream",
    "LiveServer",
    "TestClient",
    "WebSocketClosed",
    "WebSocketDenialResponse",
    "WebSocketRejected",
    "WebSocketTestSession",
    "aiter_events",
    "iter_events",
]
