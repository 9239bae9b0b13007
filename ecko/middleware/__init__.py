"""Function middleware: the `(request, call_next) -> Response` contract and the chain built once."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeAlias

from ecko.concurrency import run_sync_in, separate_threadpool
from ecko.requests import Request
from ecko.responses import Response

Endpoint: TypeAlias = Callable[[Request], Coroutine[Any, Any, Response]]
"""One step of the chain: takes the request, returns the response, never raises."""

Middleware: TypeAlias = Callable[[Request, Callable[..., Any]], Any]
"""`async def mw(request, call_next): response = await call_next(); ...; return response`."""

ErrorHandler: TypeAlias = Callable[[Request, Exception, str], Awaitable[Response]]


class MiddlewareResultError(TypeError):
    """A middleware returned something that is not a Response."""


def middleware_name(middleware: Middleware) -> str:
    """Name a middleware for error messages: `module.qualname`."""
    target = getattr(middleware, "__qualname__", None) or type(middleware).__qualname__
    return f"{getattr(middleware, '__module__', '?')}.{target}"


def _is_async(middleware: Middleware) -> bool:
    # An instance of a class with `async def __call__` is async too.
    return inspect.iscoroutinefunction(middleware) or inspect.iscoroutinefunction(
        type(middleware).__call__
    )


def wrap(middleware: Middleware, inner: Endpoint, on_error: ErrorHandler) -> Endpoint:
    """Put `middleware` around `inner`; its failures become error responses via `on_error`."""
    name = middleware_name(middleware)

    def check(result: Any) -> Response:
        if not isinstance(result, Response):
            raise MiddlewareResultError(
                f"Middleware {name} returned {type(result).__name__}, not a Response; "
                "return the response from call_next() (or a Response you build)"
            )
        return result

    if _is_async(middleware):

        async def step(request: Request) -> Response:
            def call_next(_request: Request | None = None) -> Awaitable[Response]:
                return inner(request)

            try:
                return check(await middleware(request, call_next))
            except Exception as error:  # noqa: BLE001 - becomes a response, never escapes
                return await on_error(request, error, f"middleware {name}")

        return step

    # Each sync middleware gets its own threads: they wait on the inner chain, which may
    # need threads of the main pool (sync handlers) or of inner sync middleware.
    executor = separate_threadpool(f"middleware-{getattr(middleware, '__name__', 'object')}")

    async def sync_step(request: Request) -> Response:
        loop = asyncio.get_running_loop()

        def call_next(_request: Request | None = None) -> Response:
            # Runs in a worker thread: hand the inner chain back to the event loop and wait.
            return asyncio.run_coroutine_threadsafe(inner(request), loop).result()

        try:
            return check(await run_sync_in(executor, middleware, request, call_next))
        except Exception as error:  # noqa: BLE001 - becomes a response, never escapes
            return await on_error(request, error, f"middleware {name}")

    return sync_step


def build_chain(
    middlewares: Sequence[Middleware], endpoint: Endpoint, on_error: ErrorHandler
) -> Endpoint:
    """Nest `middlewares` around `endpoint`, the first added outermost, once at start-up."""
    for middleware in reversed(middlewares):
        endpoint = wrap(middleware, endpoint, on_error)
    return endpoint
