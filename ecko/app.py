"""The Ecko application: registration API, freeze at start-up, and the ASGI entry point."""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, TypedDict, TypeVar, Unpack, cast, overload
from urllib.parse import quote, quote_from_bytes

from ecko import context as request_context
from ecko.concurrency import DEFAULT_THREADPOOL_SIZE, configure_threadpool, run_sync
from ecko.datastructures import State
from ecko.error_handlers import (
    ErrorFormatter,
    ExceptionHandlers,
    default_error_response,
    internal_error_response,
    log_unhandled,
    problem_details,
    request_id_for,
)
from ecko.exceptions import (
    AppStartedError,
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RouteDefinitionError,
    ValidationError,
    status_phrase,
)
from ecko.lifespan import Lifespan
from ecko.middleware import Middleware, build_chain
from ecko.requests import DEFAULT_MAX_BODY_SIZE, ClientDisconnected, Request
from ecko.responses import JSONResponse, RedirectResponse, Response, to_response
from ecko.routing import (
    WEBSOCKET,
    AnyRoute,
    Route,
    Router,
    RouteRegistrar,
    RouteTable,
    WebSocketRoute,
    merge_router_hooks,
    url_for,
)
from ecko.sse import DEFAULT_SHUTDOWN_DRAIN_TIMEOUT, ShutdownSignal
from ecko.types import ASGIApp, Handler, Hook, Receive, Scope, Send
from ecko.websockets import (
    DEFAULT_MAX_MESSAGE_SIZE,
    WebSocket,
    WebSocketDisconnect,
    WebSocketMessageTypeError,
    WebSocketState,
)

P = ParamSpec("P")
R = TypeVar("R")
StateT = TypeVar("StateT")
E = TypeVar("E", bound=Callable[..., Any])

logger = logging.getLogger("ecko")

_QUERY_SAFE = "&=+%/;:@,?!$'()*-._~"

LifespanContext = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]


class EckoOptions(TypedDict, total=False):
    """Keyword options of `Ecko(...)`, besides `state`."""

    debug: bool | None
    max_body_size: int | None
    max_websocket_message_size: int | None
    redirect_slashes: bool
    lifespan: LifespanContext | None
    threadpool_size: int
    error_formatter: ErrorFormatter | None
    shutdown_drain_timeout: float


def _env_debug() -> bool:
    return os.environ.get("ECKO_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def _as_async(hook: Hook) -> Callable[..., Awaitable[Any]]:
    """Return an async callable for a sync or async hook (sync ones use the threadpool)."""
    if inspect.iscoroutinefunction(hook):
        return hook
    return lambda *args: run_sync(hook, *args)


def _arity(func: Callable[..., Any]) -> int:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(
        1
        for p in parameters
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )


def _bind_request_hook(hook: Hook) -> Callable[[Any], Awaitable[Any]]:
    """Adapt a before hook taking `()` or `(request)` to one taking the connection."""
    call = _as_async(hook)
    if _arity(hook) == 0:
        return lambda _connection: call()
    return call


def _discard_background(scope: Scope) -> None:
    """Drop the request's background tasks: as in Starlette, they follow only a success."""
    background = scope.get("ecko.background")
    if background is not None:
        background.discard()


class Ecko(RouteRegistrar, Generic[StateT]):
    """An ASGI application: register routes with decorators, then serve it.

    Args:
        debug: show tracebacks in error responses; defaults to the `ECKO_DEBUG`
            environment variable (`ecko run` sets it in development), else off.
        max_body_size: largest request body in bytes (413 above it); None for no limit.
        max_websocket_message_size: largest incoming WebSocket message (closes with 1009).
        redirect_slashes: redirect `/users/` to `/users` (and back) with 308 when only
            the other exists.
        lifespan: `lifespan(app)` returning an async context manager wrapped around serving.
        threadpool_size: threads running sync handlers, hooks and middleware.
        error_formatter: `formatter(exc, problem)` replacing the problem-details error shape.
        shutdown_drain_timeout: seconds open event streams and WebSockets may go on once
            the server is told to stop (SIGTERM/SIGINT or lifespan shutdown); then they end.
        state: the object behind `app.state`; a Struct or dataclass of yours types it.
    """

    @overload
    def __init__(
        self: Ecko[State], *, state: None = None, **options: Unpack[EckoOptions]
    ) -> None: ...
    @overload
    def __init__(self: Ecko[StateT], *, state: StateT, **options: Unpack[EckoOptions]) -> None: ...
    def __init__(self, *, state: Any = None, **options: Unpack[EckoOptions]) -> None:
        super().__init__()
        unknown = options.keys() - EckoOptions.__optional_keys__
        if unknown:
            raise TypeError(
                f"Ecko() got unknown option(s) {sorted(unknown)}; "
                f"the options are {sorted(EckoOptions.__optional_keys__)} and state"
            )
        debug = options.get("debug")
        self.debug: bool = _env_debug() if debug is None else debug
        self.max_body_size = options.get("max_body_size", DEFAULT_MAX_BODY_SIZE)
        self.max_websocket_message_size = options.get(
            "max_websocket_message_size", DEFAULT_MAX_MESSAGE_SIZE
        )
        self.redirect_slashes = options.get("redirect_slashes", True)
        self.threadpool_size = options.get("threadpool_size", DEFAULT_THREADPOOL_SIZE)
        if self.threadpool_size < 1:
            raise ValueError(f"threadpool_size must be at least 1, got {self.threadpool_size}")
        # The overloads tie StateT to State when no state is given.
        self.state: StateT = cast("StateT", State() if state is None else state)
        self._lifespan_context = options.get("lifespan")
        self.shutdown_signal = ShutdownSignal(
            options.get("shutdown_drain_timeout", DEFAULT_SHUTDOWN_DRAIN_TIMEOUT)
        )
        self._error_formatter: ErrorFormatter | None = options.get("error_formatter")
        self._routes: list[AnyRoute] = []
        self._table = RouteTable()
        self._websocket_table = RouteTable()
        self._mounts: list[tuple[str, ASGIApp]] = []
        self._middleware: list[Middleware] = []
        self._asgi_middleware: list[tuple[Callable[..., ASGIApp], dict[str, Any]]] = []
        self._exception_handlers = ExceptionHandlers()
        # handler -> (async caller, takes the request): worked out once, at registration.
        self._exception_callers: dict[Callable[..., Any], tuple[Callable[..., Any], bool]] = {}
        self._startup_hooks: list[Hook] = []
        self._shutdown_hooks: list[Hook] = []
        self._frozen = False
        self._asgi: ASGIApp = self._first_call
        self._http_direct = False
        self._chain: Callable[[Request], Awaitable[Response]] = self._dispatch
        self._lifespan = Lifespan((), ())
        # Set by ecko.openapi.setup_openapi(): the core never imports the openapi package.
        self.openapi_builder: Callable[[], dict[str, Any]] | None = None

    # -- registration --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._frozen:
            raise AppStartedError(
                "The application is already serving; register routes, hooks and middleware "
                "before it starts (at import time or in a create_app() factory)"
            )

    def _register(self, path: str, handler: Handler, options: dict[str, Any]) -> None:
        route = self._build(path, handler, options)
        table = self._websocket_table if isinstance(route, WebSocketRoute) else self._table
        table.add(route)
        self._routes.append(route)

    @property
    def routes(self) -> list[AnyRoute]:
        """Every registered route, HTTP and WebSocket, in registration order."""
        return list(self._routes)

    @property
    def mounts(self) -> list[tuple[str, ASGIApp]]:
        """Mounted ASGI apps as `(prefix, app)`."""
        return list(self._mounts)

    def include(self, router: Router) -> None:
        """Add every route of `router`, with its prefix, tags and hooks."""
        self._check_open()
        for path, handler, options in router.route_specs:
            self._register(path, handler, merge_router_hooks(router, options))
        router._included_in = "the app"

    def mount(self, prefix: str, app: ASGIApp) -> None:
        """Serve any ASGI app under `prefix`; it sees `root_path` set to the prefix."""
        self._check_open()
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise RouteDefinitionError(
                f"Mount prefix {prefix!r} must start with '/' and not end with '/', e.g. '/legacy'"
            )
        if any(existing == prefix for existing, _ in self._mounts):
            raise RouteDefinitionError(f"Another app is already mounted at {prefix!r}")
        self._mounts.append((prefix, app))
        self._mounts.sort(key=lambda item: len(item[0]), reverse=True)

    def static(
        self,
        prefix: str,
        directory: str | os.PathLike[str],
        *,
        name: str | None = None,
        index: bool = False,
        serve_hidden: bool = False,
        cache_control: str | None = None,
    ) -> None:
        """Serve the files in `directory` under `prefix` (ETag, Range, 304; no escaping it).

        `name` (default: the prefix without slashes) is for `url_for(name, path=...)`; the
        other options are those of `ecko.staticfiles.StaticFiles`.
        """
        from ecko.staticfiles import StaticFiles, static_routes  # only apps serving files

        self._check_open()
        files = StaticFiles(
            directory, index=index, serve_hidden=serve_hidden, cache_control=cache_control
        )
        for path, handler, methods in static_routes(prefix, files):
            route_name = name or prefix.strip("/")
            if path.endswith("/"):
                route_name += ":index"
            self.add_route(path, handler, methods, name=route_name, include_in_schema=False)

    def url_for(self, name: str, /, **params: Any) -> str:
        """Build the path of the route called `name`, filling its parameters.

        Raises:
            KeyError: no route has that name, or `params` do not fit its template.
        """
        return url_for(self._routes, name, params)

    def openapi(self) -> dict[str, Any]:
        """Return the OpenAPI document `setup_openapi(app)` serves (`ecko openapi` prints it).

        Raises:
            RuntimeError: `setup_openapi()` was not called for this app.
        """
        if self.openapi_builder is None:
            raise RuntimeError(
                "app.openapi() needs the document set up first: call "
                "ecko.setup_openapi(app, title=..., version=...) where the app is created"
            )
        return self.openapi_builder()

    def use(self, middleware: Middleware) -> None:
        """Add a `(request, call_next)` middleware; the first added is outermost."""
        self._check_open()
        if not callable(middleware):
            raise TypeError(f"app.use() takes a middleware function, got {middleware!r}")
        self._middleware.append(middleware)

    def use_asgi(self, middleware_class: Callable[..., ASGIApp], **options: Any) -> None:
        """Wrap the app in a standard ASGI middleware: `middleware_class(app, **options)`."""
        self._check_open()
        self._asgi_middleware.append((middleware_class, options))

    def exception_handler(self, key: type[BaseException] | int) -> Callable[[E], E]:
        """Handle an exception class (and subclasses) or an HTTP error status.

        The handler takes `(exc)` or `(request, exc)` and returns anything a route may.
        """

        def decorator(handler: E) -> E:
            self._check_open()
            arity = _arity(handler)
            if arity not in (1, 2):
                raise RouteDefinitionError(
                    f"Exception handler {handler.__qualname__} must take (exc) or (request, exc)"
                )
            self._exception_callers[handler] = (_as_async(handler), arity == 2)
            self._exception_handlers.add(key, handler)
            return handler

        return decorator

    def error_formatter(self, formatter: E) -> E:
        """Replace the problem-details error shape: `formatter(exc, problem)` → response."""
        self._check_open()
        self._error_formatter = formatter
        return formatter

    def on_startup(self, hook: Callable[P, R]) -> Callable[P, R]:
        """Run `hook` (sync or async) when the server starts, in registration order."""
        self._check_open()
        self._startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: Callable[P, R]) -> Callable[P, R]:
        """Run `hook` (sync or async) when the server stops, in reverse order."""
        self._check_open()
        self._shutdown_hooks.append(hook)
        return hook

    # -- start-up ------------------------------------------------------------------------

    def _freeze(self) -> None:
        """Build everything the request path needs, once; registration closes."""
        if self._frozen:
            return
        configure_threadpool(self.threadpool_size)
        # User code (ASGI middleware constructors) runs first: if it raises, nothing has been
        # changed yet and the next ASGI event retries the whole freeze.
        asgi: ASGIApp = self._core
        for middleware_class, options in reversed(self._asgi_middleware):
            asgi = middleware_class(asgi, **options)
        self._chain = build_chain(self._middleware, self._dispatch, self._middleware_error)
        app_before = tuple(self.before_request_hooks)
        app_after = tuple(self.after_request_hooks)
        app_before_ws = tuple(self.before_websocket_hooks)
        for route in self._routes:
            if isinstance(route, Route):
                route.before_hooks = tuple(
                    _bind_request_hook(h) for h in (*app_before, *route.before_hooks)
                )
                route.after_hooks = tuple(_as_async(h) for h in (*route.after_hooks, *app_after))
            else:
                route.before_hooks = tuple(
                    _bind_request_hook(h) for h in (*app_before_ws, *route.before_hooks)
                )
        self._app_after_hooks = tuple(_as_async(h) for h in app_after)
        # A 404 nobody customised is answered directly (benchmarks/: 5% of a 404).
        self._plain_not_found = (
            self._error_formatter is None and self._exception_handlers.find(NotFound()) is None
        )
        self._table.link_fallbacks()
        # WebSockets skip the (request, call_next) chain; a middleware that can read its state
        # from the handshake (sessions) offers `open_session(scope)` for them.
        self._websocket_session_openers: tuple[Callable[[Scope], Any], ...] = tuple(
            opener
            for opener in (getattr(m, "open_session", None) for m in self._middleware)
            if callable(opener)
        )
        context = self._lifespan_context
        self._lifespan = Lifespan(
            (self.shutdown_signal.watch_signals, *self._startup_hooks),
            (*self._shutdown_hooks, self.shutdown_signal.start_drain),  # run first (reversed)
            (lambda: context(self)) if context is not None else None,
        )
        self._frozen = True
        self._asgi = asgi
        self._http_direct = not self._asgi_middleware

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (HTTP, WebSocket or lifespan)."""
        # Without ASGI middleware, HTTP skips the `_core` switch: one coroutine less per
        # request (benchmarks/: 2% of a hello-world request's instructions).
        if self._http_direct and scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await self._asgi(scope, receive, send)

    async def _first_call(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._freeze()
        await self._asgi(scope, receive, send)

    async def _core(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)

    # -- HTTP ----------------------------------------------------------------------------

    def _route_path(self, scope: Scope) -> str:
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            return path[len(root_path) :] or "/"
        return path

    def _raw_route_path(self, scope: Scope) -> bytes | None:
        """The still-encoded path below `root_path`, so `%2F` stays inside a segment."""
        raw: bytes | None = scope.get("raw_path")
        root_path: str = scope.get("root_path", "")
        if raw is None or not root_path:
            return raw
        prefix = quote(root_path).encode("ascii")
        return (raw[len(prefix) :] or b"/") if raw.startswith(prefix) else None

    def _find_mount(self, scope: Scope) -> ASGIApp | None:
        path = self._route_path(scope)
        for prefix, app in self._mounts:
            if path == prefix or path.startswith(prefix + "/"):
                # Per ASGI, `path` stays whole and `root_path` grows by the prefix.
                scope["root_path"] = scope.get("root_path", "") + prefix
                return app
        return None

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._mounts:
            mounted = self._find_mount(scope)
            if mounted is not None:
                await mounted(scope, receive, send)
                return
        scope["app"] = self
        request = Request(scope, receive, None, self.max_body_size)
        token = request_context.bind_request(request)
        try:
            response = await self._chain(request)
            await response(scope, receive, send)
            if "ecko.after_response" in scope:  # background tasks, closing uploads; logs failures
                await scope["ecko.after_response"]()
        except Exception as error:  # noqa: BLE001 - the guard: nothing escapes to the server
            fallback = internal_error_response(
                error, request, debug=False, where="sending", formatter=self._error_formatter
            )
            with contextlib.suppress(Exception):
                await fallback(scope, receive, send)
        finally:
            request_context.unbind(token)

    async def _dispatch(self, request: Request) -> Response:
        route: Route | None = None
        try:
            scope = request.scope
            path: str = scope["path"]
            if scope.get("root_path"):
                path = self._route_path(scope)
            # The static table first, inline: most requests end here, and the raw path is
            # needed by dynamic matching only (benchmarks/: 6% of a hello-world request).
            entry = self._table.static.get(path)
            values: list[str] | tuple[str, ...] = ()
            if entry is None:
                raw_path = scope.get("raw_path")
                if scope.get("root_path"):
                    raw_path = self._raw_route_path(scope)
                found = self._table.match_dynamic(path, raw_path)
                if found is None:
                    # A miss answers without raising NotFound through this frame (benchmarks/:
                    # 19% of a 404's instructions).
                    return await self._miss(request, path)
                entry, values = found
            method: str = scope["method"]
            candidate = entry.routes.get(method)  # the common case, without route_for's tuple
            if candidate is None:
                found_route = entry.route_for(method)
                if found_route is None and method == "HEAD":
                    # HEAD reuses GET's handler; the response drops the body (RFC 9110, 9.3.2).
                    found_route = entry.route_for("GET")
                if found_route is None:
                    if method == "OPTIONS":
                        allow = {"allow": entry.allow}
                        return await self._after(None, request, Response(None, 204, allow))
                    raise MethodNotAllowed(
                        f"Method {method} is not allowed here", allowed=entry.allow.split(", ")
                    )
                candidate, _, fallback_values = found_route
                if fallback_values:
                    values = fallback_values
            assert isinstance(candidate, Route)
            route = candidate
            if values:
                # Same length by construction; `strict=True` cost 2% of scenario 3 (benchmarks/).
                request.path_params = dict(zip(route.param_names, values))  # noqa: B905
            if route.max_body_size is not ...:
                request.max_body_size = route.max_body_size  # type: ignore[assignment]
                request.check_received_size()
            for hook in route.before_hooks:
                early = await hook(request)
                if early is not None:
                    response = to_response(early)
                    if response.needs_prepare:
                        await response.prepare(request.scope)
                    return await self._after(route, request, response)
            plan = route.plan
            if plan.is_empty:
                kwargs = {}
            elif plan.reads_body:
                kwargs = await plan.resolve(request)
            else:
                kwargs = plan.resolve_now(request)
            if route.is_async:
                result = await route.handler(**kwargs)
            else:
                result = await run_sync(route.handler, **kwargs)
            if type(result) is dict:  # to_response's first rule, inline (benchmarks/: 2% of hello)
                response = JSONResponse(result, route.status_code)
            else:
                response = to_response(result, route.status_code)
            if response.needs_prepare:
                await response.prepare(request.scope)
        except Exception as error:  # noqa: BLE001 - dispatch answers every failure
            _discard_background(request.scope)
            response, handled = await self._error_response(request, error)
            if not handled:
                return response
        if not (route.after_hooks if route is not None else self._app_after_hooks):
            return response  # no after hooks: skip a coroutine (benchmarks/: 3% of hello-world)
        return await self._after(route, request, response)

    async def _after(self, route: Route | None, request: Request, response: Response) -> Response:
        hooks = route.after_hooks if route is not None else self._app_after_hooks
        try:
            for hook in hooks:
                result = await hook(response)
                if not isinstance(result, Response):
                    raise TypeError(
                        f"after_request hook returned {type(result).__name__}; "
                        "it must return the response it was given (or another Response)"
                    )
                response = result
        except Exception as error:  # noqa: BLE001 - answered as a 500, never raised
            return self._internal_error(error, request, "after_request hook")
        return response

    async def _miss(self, request: Request, path: str) -> Response:
        """Answer a path no route matches: 308 to its slash twin if that exists, else 404."""
        scope = request.scope
        if self.redirect_slashes and path != "/":
            other = path[:-1] if path.endswith("/") else path + "/"
            # Most apps have no route a path ending in "/" can match: then `/x` has no twin
            # to look up (benchmarks/: 6% of a 404's instructions).
            if (
                not other.endswith("/") or self._table.matches_trailing_slash
            ) and self._table.match(other) is not None:
                query: bytes = scope.get("query_string", b"")
                # `other` is decoded: re-encode it, or "%0D%0A" in the request becomes CR/LF;
                # the query string is passed on byte for byte, escaping only what must be.
                target = quote(scope.get("root_path", "") + other)
                location = target + ("?" + quote_from_bytes(query, _QUERY_SAFE) if query else "")
                return await self._after(None, request, RedirectResponse(location, 308))
        _discard_background(scope)
        error = NotFound(f"No route matches {scope['method']} {path}")
        if self._plain_not_found:  # what _error_response would give, minus its lookups
            response = default_error_response(error, problem_details(error))
            return await self._after(None, request, response) if self._app_after_hooks else response
        response, handled = await self._error_response(request, error)
        if not handled or not self._app_after_hooks:
            return response
        return await self._after(None, request, response)

    async def _error_response(self, request: Request, error: Exception) -> tuple[Response, bool]:
        """Answer `error`: a user handler, the problem-details shape, or a logged 500.

        Returns:
            The response, and whether the error was handled (False: an unhandled 500).
        """
        handler = self._exception_handlers.find(error)
        if handler is not None:
            status = error.status_code if isinstance(error, HTTPException) else 500
            return await self._call_exception_handler(handler, request, error, status)
        if isinstance(error, HTTPException):
            try:
                return self._format_error(error), True
            except Exception as failure:  # noqa: BLE001 - a broken formatter is a logged 500
                response = internal_error_response(
                    failure, request, debug=self.debug, where="error formatter"
                )
                return response, False
        if isinstance(error, ClientDisconnected):
            return Response(None, 400), False
        fallback = self._exception_handlers.by_status.get(500)
        if fallback is not None and not self.debug:
            # Like Flask's errorhandler(500): still logged; debug mode shows the traceback.
            log_unhandled(error, request, request_id_for(request))
            return await self._call_exception_handler(fallback, request, error, 500)
        return self._internal_error(error, request), False

    async def _call_exception_handler(
        self, handler: Callable[..., Any], request: Request, error: Exception, status: int
    ) -> tuple[Response, bool]:
        try:
            call, takes_request = self._exception_callers[handler]
            result = await (call(request, error) if takes_request else call(error))
            response = to_response(result, status)
            if isinstance(error, HTTPException):
                # Allow, WWW-Authenticate, Retry-After... belong to the error, whoever renders it.
                for name, value in error.headers.items():
                    response.headers.setdefault(name, value)
            return response, True
        except Exception as failure:  # noqa: BLE001 - a broken handler is a logged 500
            where = f"exception handler {getattr(handler, '__qualname__', handler)}"
            return self._internal_error(failure, request, where), False

    def _internal_error(self, error: Exception, request: Request, where: str = "") -> Response:
        """Log `error`; answer the generic 500 (in the error formatter's shape, if any)."""
        return internal_error_response(
            error, request, debug=self.debug, where=where, formatter=self._error_formatter
        )

    def _format_error(self, error: HTTPException) -> Response:
        problem = problem_details(error)
        if self._error_formatter is None:
            return default_error_response(error, problem)
        response = to_response(self._error_formatter(error, problem), error.status_code)
        for name, value in error.headers.items():
            response.headers.setdefault(name, value)
        return response

    async def _middleware_error(self, request: Request, error: Exception, where: str) -> Response:
        if isinstance(error, HTTPException) or self._exception_handlers.find(error) is not None:
            response, _ = await self._error_response(request, error)
            return response
        return self._internal_error(error, request, where)

    # -- WebSocket -----------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._mounts:
            mounted = self._find_mount(scope)
            if mounted is not None:
                await mounted(scope, receive, send)
                return
        scope["app"] = self
        found = self._websocket_table.match(self._route_path(scope), self._raw_route_path(scope))
        if found is None:
            # No route: refuse the handshake (the server answers 403), never hang.
            with contextlib.suppress(WebSocketDisconnect):
                await WebSocket(scope, receive, send).close(1008)
            return
        entry, values = found
        route = entry.routes[WEBSOCKET]
        assert isinstance(route, WebSocketRoute)
        limit = route.max_message_size
        websocket = WebSocket(
            scope,
            receive,
            send,
            dict(zip(route.param_names, values, strict=True)),
            self.max_websocket_message_size if limit is ... else limit,  # type: ignore[arg-type]
        )
        token = request_context.bind(websocket=websocket)
        try:
            for open_session in self._websocket_session_openers:
                session = open_session(scope)
                if inspect.isawaitable(session):  # a server-side store answers over I/O
                    session = await session
                request_context.context.session = session
            await self._run_websocket(route, websocket)
        finally:
            request_context.unbind(token)

    async def _run_websocket(self, route: WebSocketRoute, websocket: WebSocket) -> None:
        try:
            for hook in route.before_hooks:
                early = await hook(websocket)
                if early is not None:
                    # As for HTTP, a hook's answer stands: here it refuses the handshake.
                    if websocket.application_state is WebSocketState.CONNECTING:
                        await websocket.send_denial_response(to_response(early))
                    return
            kwargs = await route.plan.resolve(websocket)
            await self.shutdown_signal.run(route.handler(**kwargs), lambda: websocket.close(1001))
        except WebSocketDisconnect:
            pass
        except Exception as error:  # noqa: BLE001 - every failure closes the socket cleanly
            await self._websocket_error(websocket, error)
            return
        if (
            websocket.application_state is WebSocketState.CONNECTED
            and websocket.client_state is not WebSocketState.DISCONNECTED
        ) or websocket.application_state is WebSocketState.CONNECTING:
            with contextlib.suppress(Exception):
                await websocket.close(1000)

    async def _websocket_error(self, websocket: WebSocket, error: Exception) -> None:
        accepted = websocket.application_state is WebSocketState.CONNECTED
        if isinstance(error, HTTPException):
            detail = problem_details(error)
            if isinstance(error, ValidationError):
                code = (
                    1008
                    if not accepted or not error.errors or error.errors[0]["loc"][0] != "message"
                    else 1007
                )
                reason = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors
                ) or str(error.detail)
            else:
                code, reason = 1008, str(error.detail)
            if not accepted and websocket.application_state is WebSocketState.CONNECTING:
                status = 403 if isinstance(error, ValidationError) else error.status_code
                detail["status"] = status
                detail["title"] = status_phrase(status)
                response = JSONResponse(detail, status, media_type="application/problem+json")
                with contextlib.suppress(Exception):
                    await websocket.send_denial_response(response)
                return
        elif isinstance(error, WebSocketMessageTypeError):
            # The client's doing, not a server fault: RFC 6455's "unsupported data".
            code, reason = 1003, error.reason
        else:
            log_unhandled(error, websocket, request_id_for(None))
            code = 1011
            reason = f"{type(error).__name__}: {error}" if self.debug else "Internal error"
            if not accepted and websocket.application_state is WebSocketState.CONNECTING:
                with contextlib.suppress(Exception):
                    await websocket.close(1011)
                return
        if websocket.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(code, reason)
