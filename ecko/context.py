"""Per-request state on a ContextVar, reachable anywhere as `ecko.context`."""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from ecko.requests import Request
    from ecko.websockets import WebSocket


class RequestState:
    """The attributes of one request or WebSocket connection; `context` proxies to it."""

    __slots__ = ("__dict__",)


_current: ContextVar[RequestState] = ContextVar("ecko_context")


def bind(**values: Any) -> Token[RequestState]:
    """Start a fresh per-request state holding `values`; return the token to `unbind` it."""
    state = RequestState()
    state.__dict__.update(values)
    return _current.set(state)


def bind_request(request: Request) -> Token[RequestState]:
    """Start a fresh per-request state holding `request`: `bind(request=...)`, made cheaper.

    Every HTTP request binds one, so this skips `bind`'s keyword dict (benchmarks/: 3% of
    a hello-world request's instructions).
    """
    state = RequestState()
    state.request = request  # type: ignore[attr-defined]
    return _current.set(state)


def unbind(token: Token[RequestState]) -> None:
    """End the per-request state started by `bind`."""
    _current.reset(token)


def current() -> RequestState | None:
    """Return the active per-request state, or None outside a request."""
    return _current.get(None)


@final
class Context:
    """Per-request attributes: `context.request`, `context.session`, `context.user = ...`.

    Each request (and each WebSocket connection) gets its own attributes, also inside
    sync handlers running in the threadpool.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        request: Request
        websocket: WebSocket
        session: Any  # the `Session` of ecko.middleware.sessions, when enabled
        request_id: str  # set by ecko.middleware.request_id, when enabled

    def __getattr__(self, name: str) -> Any:
        state = _current.get(None)
        if state is None:
            raise RuntimeError(
                f"context.{name} was used outside a request; use it only inside handlers, "
                "hooks, exception handlers or middleware while a request is being served"
            )
        try:
            return state.__dict__[name]
        except KeyError:
            raise AttributeError(
                f"context has no attribute {name!r} in this request; set it first "
                f"(for example in a before_request hook: context.{name} = ...)"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        state = _current.get(None)
        if state is None:
            raise RuntimeError(
                f"context.{name} was set outside a request; set per-request values inside "
                "handlers, hooks or middleware, and shared objects on app.state"
            )
        state.__dict__[name] = value

    def __delattr__(self, name: str) -> None:
        state = _current.get(None)
        if state is None or name not in state.__dict__:
            raise AttributeError(name)
        del state.__dict__[name]

    def __contains__(self, name: str) -> bool:
        state = _current.get(None)
        return state is not None and name in state.__dict__

    def get(self, name: str, default: Any = None) -> Any:
        """Return attribute `name` of the current request, or `default` if unset."""
        state = _current.get(None)
        return default if state is None else state.__dict__.get(name, default)

    def __repr__(self) -> str:
        state = _current.get(None)
        return "<context outside a request>" if state is None else f"<context {state.__dict__!r}>"


context = Context()
