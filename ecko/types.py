"""ASGI type aliases and the callable shapes that handlers, hooks and middleware take."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

Handler: TypeAlias = Callable[..., Any]
"""A route handler: sync or async, parameters resolved from the request."""

Hook: TypeAlias = Callable[..., Any]
"""A before/after-request, startup or shutdown hook: sync or async."""
