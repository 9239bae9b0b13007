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
from ecko.testing.websocket import (
    WebSocketClosed,
    WebSocketDenialResponse,
    WebSocketRejected,
    WebSocketTestSession,
)

__all__ = [
    "AsyncTestClient",
    "LiveServer",
    "TestClient",
    "WebSocketClosed",
    "WebSocketDenialResponse",
    "WebSocketRejected",
    "WebSocketTestSession",
]
