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
                result = await middleware(request, call_next)
                # `check` only when it fails: a call less per request (benchmarks/: 1% of
                # scenario 9).
                return result if isinstance(result, Response) else check(result)
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


# -- built-in middleware, imported on first use ----------------------------------------------
# `from ecko.middleware import cors, sessions` gives the factory functions without `import ecko`
# paying for cors.py and sessions.py. The submodules share the factories' names, and importing
# a submodule sets the package attribute to the module object, so the package's module class
# keeps the factory there instead.

import importlib  # noqa: E402 - kept with the only code that uses it, below the chain
import sys  # noqa: E402 - likewise
import types  # noqa: E402 - likewise
from typing import TYPE_CHECKING  # noqa: E402 - likewise

if TYPE_CHECKING:  # for type checkers; at run time __getattr__ below imports them on first use
    from ecko.middleware.compression import compression as compression
    from ecko.middleware.cors import cors as cors
    from ecko.middleware.csrf import csrf as csrf
    from ecko.middleware.https_redirect import https_redirect as https_redirect
    from ecko.middleware.proxy_headers import proxy_headers as proxy_headers
    from ecko.middleware.rate_limit import rate_limit as rate_limit
    from ecko.middleware.request_id import request_id as request_id
    from ecko.middleware.security_headers import security_headers as security_headers
    from ecko.middleware.sessions import sessions as sessions
    from ecko.middleware.timeout import timeout as timeout
    from ecko.middleware.trusted_hosts import trusted_hosts as trusted_hosts

_BUILT_IN = {
    "compression": "ecko.middleware.compression",
    "cors": "ecko.middleware.cors",
    "csrf": "ecko.middleware.csrf",
    "https_redirect": "ecko.middleware.https_redirect",
    "proxy_headers": "ecko.middleware.proxy_headers",
    "rate_limit": "ecko.middleware.rate_limit",
    "request_id": "ecko.middleware.request_id",
    "security_headers": "ecko.middleware.security_headers",
    "sessions": "ecko.middleware.sessions",
    "timeout": "ecko.middleware.timeout",
    "trusted_hosts": "ecko.middleware.trusted_hosts",
}
"""The built-in middleware factories: `name -> module`, each module defining `name`."""


def __getattr__(name: str) -> Any:
    """Import a built-in middleware factory (`cors`, `sessions`, ...) on first use."""
    module_name = _BUILT_IN.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    factory = getattr(importlib.import_module(module_name), name)
    globals()[name] = factory
    return factory


class _Package(types.ModuleType):
    """The package's module type: a submodule import leaves the factory as the attribute."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _BUILT_IN and isinstance(value, types.ModuleType):
            module, value = value, getattr(value, name)
            # Dotted paths walk attributes ("ecko.middleware.cors.CORSMiddleware" in a logging
            # dictConfig or a pickle): the factory carries its module's public names for them.
            for public in getattr(module, "__all__", ()):
                value.__dict__.setdefault(public, getattr(module, public))
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
