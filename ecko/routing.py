"""Path templates, routes, routers (groups under a prefix) and the matcher built once."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote, unquote_to_bytes

import msgspec

from ecko.exceptions import AppStartedError, RouteDefinitionError
from ecko.params import ParamPlan, compile_handler
from ecko.sse import DEFAULT_PING_INTERVAL, ReplayBuffer, event_stream_handler
from ecko.types import Handler, Hook

P = ParamSpec("P")
R = TypeVar("R")

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
WEBSOCKET = "WEBSOCKET"


# msgspec Structs, not dataclasses: their classes are built in C, which keeps
# `import ecko` about 2 ms cheaper (benchmarks/: the import-time target).
class Segment(msgspec.Struct, frozen=True):
    """One `/`-separated piece of a template: literal text, `{name}` or `{name:path}`."""

    text: str
    param: str | None = None
    rest: bool = False


def parse_template(path: str) -> tuple[Segment, ...]:
    """Split a path template into segments, validating its parameters.

    Raises:
        RouteDefinitionError: the template is malformed.
    """
    if not path.startswith("/"):
        raise RouteDefinitionError(f"Route path {path!r} must start with '/'")
    segments: list[Segment] = []
    seen: set[str] = set()
    parts = path[1:].split("/")
    for position, part in enumerate(parts):
        if "{" not in part and "}" not in part:
            segments.append(Segment(part))
            continue
        if not (part.startswith("{") and part.endswith("}")) or part.count("{") != 1:
            raise RouteDefinitionError(
                f"Route path {path!r}: segment {part!r} must be a whole '{{name}}'; "
                "mixing text and parameters in one segment is not supported"
            )
        name, _, kind = part[1:-1].partition(":")
        if not name.isidentifier():
            raise RouteDefinitionError(
                f"Route path {path!r}: {name!r} is not a valid parameter name"
            )
        if name in seen:
            raise RouteDefinitionError(f"Route path {path!r} uses {{{name}}} twice")
        seen.add(name)
        if kind == "path":
            if position != len(parts) - 1:
                raise RouteDefinitionError(
                    f"Route path {path!r}: {{{name}:path}} matches the rest of the path, "
                    "so it must be the last segment"
                )
            segments.append(Segment(part, name, rest=True))
        elif kind:
            raise RouteDefinitionError(
                f"Route path {path!r}: unknown converter {kind!r} in {part}; the type comes "
                f"from the handler's annotation (write {{{name}}} and annotate {name}: int), "
                "and {name:path} matches the rest of the path"
            )
        else:
            segments.append(Segment(part, name))
    return tuple(segments)


def template_shape(segments: Sequence[Segment]) -> str:
    """The template with parameter names erased: two routes with one shape collide."""
    return "/" + "/".join(
        ("{:path}" if s.rest else "{}") if s.param is not None else s.text for s in segments
    )


def _describe(handler: Callable[..., Any]) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', handler)}"


class Route:
    """An HTTP route: template, methods, handler, its compiled parameter plan and options."""

    __slots__ = (
        "after_hooks",
        "before_hooks",
        "deprecated",
        "description",
        "handler",
        "include_in_schema",
        "is_async",
        "max_body_size",
        "methods",
        "name",
        "operation_id",
        "param_names",
        "path",
        "plan",
        "responses",
        "security",
        "segments",
        "status_code",
        "summary",
        "tags",
    )

    def __init__(
        self,
        path: str,
        handler: Handler,
        methods: Iterable[str],
        *,
        name: str | None = None,
        summary: str | None = None,
        description: str | None = None,
        tags: Sequence[str] = (),
        status_code: int = 200,
        include_in_schema: bool = True,
        deprecated: bool = False,
        max_body_size: int | object | None = ...,
        before_hooks: Sequence[Hook] = (),
        after_hooks: Sequence[Hook] = (),
        operation_id: str | None = None,
        responses: Mapping[int, Any] | None = None,
        security: Sequence[str | Mapping[str, Sequence[str]]] | None = None,
    ) -> None:
        self.path = path
        self.segments = parse_template(path)
        self.param_names = tuple(s.param for s in self.segments if s.param is not None)
        self.methods = frozenset(method.upper() for method in methods)
        unknown = self.methods - HTTP_METHODS
        if unknown:
            raise RouteDefinitionError(
                f"Route {path!r}: unknown HTTP method(s) {sorted(unknown)}; "
                f"use {sorted(HTTP_METHODS)}"
            )
        if not self.methods:
            raise RouteDefinitionError(f"Route {path!r} has no methods")
        if not 100 <= status_code <= 599:
            raise RouteDefinitionError(f"Route {path!r}: status_code {status_code} is not 1xx-5xx")
        self.handler = handler
        self.name = name or getattr(handler, "__name__", path)
        doc = inspect.getdoc(handler)
        self.summary = summary or (doc.split("\n\n")[0].replace("\n", " ") if doc else None)
        self.description = description if description is not None else doc
        self.tags = tuple(tags)
        self.status_code = status_code
        self.include_in_schema = include_in_schema
        self.deprecated = deprecated
        self.max_body_size = max_body_size
        self.before_hooks = tuple(before_hooks)
        self.after_hooks = tuple(after_hooks)
        # Documentation only (ecko.openapi): extra responses by status, security requirements.
        self.operation_id = operation_id
        self.responses = dict(responses) if responses is not None else {}
        self.security = list(security) if security is not None else None
        self.is_async = inspect.iscoroutinefunction(handler)
        self.plan: ParamPlan = compile_handler(
            handler, frozenset(self.param_names), methods=self.methods
        )

    def url_path(self, **params: Any) -> str:
        """Fill the template with `params` (percent-encoded).

        Raises:
            KeyError: a parameter of the template is missing or unknown.
        """
        return _fill_template(self, params)

    def __repr__(self) -> str:
        return f"Route({self.path!r}, methods={sorted(self.methods)}, name={self.name!r})"


class WebSocketRoute:
    """A WebSocket route: template, handler, compiled parameter plan and message limit."""

    methods = frozenset({WEBSOCKET})

    def __init__(
        self,
        path: str,
        handler: Handler,
        *,
        name: str | None = None,
        max_message_size: int | object | None = ...,
        before_hooks: Sequence[Hook] = (),
    ) -> None:
        if not inspect.iscoroutinefunction(handler):
            raise RouteDefinitionError(
                f"WebSocket handler {_describe(handler)} must be 'async def': it awaits messages"
            )
        self.path = path
        self.segments = parse_template(path)
        self.param_names = tuple(s.param for s in self.segments if s.param is not None)
        self.handler = handler
        self.name = name or getattr(handler, "__name__", path)
        self.summary: str | None = None
        self.tags: tuple[str, ...] = ()
        self.include_in_schema = False
        self.max_message_size = max_message_size
        self.before_hooks = tuple(before_hooks)
        self.plan = compile_handler(
            handler, frozenset(self.param_names), methods=frozenset(), websocket=True
        )

    def url_path(self, **params: Any) -> str:
        """Fill the template with `params` (percent-encoded).

        Raises:
            KeyError: a parameter of the template is missing or unknown.
        """
        return _fill_template(self, params)

    def __repr__(self) -> str:
        return f"WebSocketRoute({self.path!r}, name={self.name!r})"


AnyRoute = Route | WebSocketRoute


def _fill_template(route: AnyRoute, params: dict[str, Any]) -> str:
    missing = set(route.param_names) - params.keys()
    extra = params.keys() - set(route.param_names)
    if missing or extra:
        raise KeyError(
            f"Route {route.name!r} ({route.path}) needs parameters {sorted(route.param_names)}; "
            f"missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    parts = [
        quote(str(params[s.param]), safe="/" if s.rest else "") if s.param else s.text
        for s in route.segments
    ]
    return "/" + "/".join(parts)


class _Node:
    """A node of the dynamic-route trie: literal children, one parameter child, a rest entry."""

    __slots__ = ("children", "entry", "param", "rest")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.entry: PathEntry | None = None
        self.rest: PathEntry | None = None


class PathEntry(msgspec.Struct):
    """Every route sharing one template shape, by method, with its `Allow` header."""

    shape: str
    routes: dict[str, AnyRoute] = msgspec.field(default_factory=dict)
    allow: str = ""
    fallback: tuple[PathEntry, tuple[str, ...]] | None = None
    """For a static path: the dynamic entry (and its values) the same path also matches."""

    def add(self, route: AnyRoute) -> None:
        """Register `route` for its methods, refusing a method already taken."""
        for method in route.methods:
            existing = self.routes.get(method)
            if existing is not None:
                raise RouteDefinitionError(
                    f"Route conflict: {method} {route.path} ({_describe(route.handler)}) "
                    f"duplicates {method} {existing.path} ({_describe(existing.handler)}); "
                    "remove one or give them different paths or methods"
                )
        for method in route.methods:
            self.routes[method] = route
        self.allow = _allow_header(set(self.routes))

    def route_for(self, method: str) -> tuple[AnyRoute, PathEntry, tuple[str, ...]] | None:
        """Find the route for `method` here, or in the dynamic entry a static path shadows."""
        route = self.routes.get(method)
        if route is not None:
            return route, self, ()
        if self.fallback is not None:
            entry, values = self.fallback
            route = entry.routes.get(method)
            if route is not None:
                return route, entry, values
        return None


def _allow_header(methods: set[str]) -> str:
    allowed = methods - {WEBSOCKET}
    if "GET" in allowed:
        allowed.add("HEAD")
    if allowed:
        allowed.add("OPTIONS")
    return ", ".join(sorted(allowed))


Match = tuple[PathEntry, list[str]]


_PERCENT = ord("%")


class RouteTable:
    """Matches paths to routes: a dict for static paths, a trie walk for dynamic ones."""

    def __init__(self) -> None:
        self.static: dict[str, PathEntry] = {}
        self.root = _Node()
        self._by_shape: dict[str, PathEntry] = {}
        self.matches_trailing_slash = False
        """Whether any path ending in "/" (other than "/" itself) can match a route here."""

    def add(self, route: AnyRoute) -> None:
        """Insert `route`, refusing a conflict with a route already present."""
        # Only a template ending in "/" or a rest-of-path parameter matches such a path.
        if (route.path != "/" and route.path.endswith("/")) or any(
            segment.rest for segment in route.segments
        ):
            self.matches_trailing_slash = True
        shape = template_shape(route.segments)
        entry = self._by_shape.get(shape)
        if entry is None:
            entry = self._by_shape[shape] = PathEntry(shape)
            if not route.param_names:
                self.static[route.path] = entry
            else:
                self._insert(route.segments, entry)
        entry.add(route)

    def _insert(self, segments: Sequence[Segment], entry: PathEntry) -> None:
        node = self.root
        for segment in segments:
            if segment.rest:
                node.rest = entry
                return
            if segment.param is not None:
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                node = node.children.setdefault(segment.text, _Node())
        node.entry = entry

    def link_fallbacks(self) -> None:
        """Let each static path fall through to the dynamic route it also matches, by method.

        As in Starlette and werkzeug, `GET /users/me` reaches `GET /users/{id}` when
        `/users/me` only has POST. Done once at start-up; `Allow` lists both.
        """
        for path, entry in self.static.items():
            found = self.match_dynamic(path)
            if found is None:
                continue
            dynamic, values = found
            entry.fallback = (dynamic, tuple(values))
            entry.allow = _allow_header(set(entry.routes) | set(dynamic.routes))

    def match(self, path: str, raw_path: bytes | None = None) -> Match | None:
        """Find the entry for `path` and the parameter values in template order.

        Args:
            path: the percent-decoded path.
            raw_path: the same path still encoded; with it, an encoded slash (`%2F`, as
                `url_for` writes one) stays inside its segment instead of splitting it.
        """
        entry = self.static.get(path)
        if entry is not None:
            return entry, []
        return self.match_dynamic(path, raw_path)

    def match_dynamic(self, path: str, raw_path: bytes | None = None) -> Match | None:
        """Match `path` against dynamic templates only."""
        if not path.startswith("/"):
            return None
        # `_PERCENT in raw_path` (an int) first: a bytes needle costs a raised and cleared
        # TypeError inside `bytes.__contains__` (benchmarks/: 3% of a dynamic route's request).
        if raw_path is not None and _PERCENT in raw_path and b"%2f" in raw_path.lower():
            parts = _split_raw_path(raw_path)
            if parts is None:
                return None
        else:
            parts = path[1:].split("/")
        values: list[str] = []
        found = _walk(self.root, parts, 0, values)
        return (found, values) if found is not None else None


def _split_raw_path(raw_path: bytes) -> list[str] | None:
    """Split an encoded path on its literal slashes, then decode each segment."""
    if not raw_path.startswith(b"/"):
        return None
    try:
        return [unquote_to_bytes(part).decode("utf-8") for part in raw_path[1:].split(b"/")]
    except UnicodeDecodeError:
        return None


def _walk(node: _Node, parts: list[str], index: int, values: list[str]) -> PathEntry | None:
    # Literal beats parameter beats rest-of-path; backtracks when a branch dead-ends.
    if index == len(parts):
        return node.entry
    part = parts[index]
    child = node.children.get(part)
    if child is not None:
        found = _walk(child, parts, index + 1, values)
        if found is not None:
            return found
    if node.param is not None and part:
        values.append(part)
        found = _walk(node.param, parts, index + 1, values)
        if found is not None:
            return found
        values.pop()
    if node.rest is not None:
        rest = "/".join(parts[index:])
        if rest:
            values.append(rest)
            return node.rest
    return None


class RouteRegistrar:
    """The registration API shared by `Ecko` and `Router`: decorators, hooks, routes."""

    def __init__(self, *, prefix: str = "", tags: Sequence[str] = ()) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise RouteDefinitionError(
                f"Prefix {prefix!r} must start with '/' and not end with '/', e.g. '/api'"
            )
        self.prefix = prefix
        self.tags = list(tags)
        self.route_specs: list[tuple[str, Handler, dict[str, Any]]] = []
        self.before_request_hooks: list[Hook] = []
        self.after_request_hooks: list[Hook] = []
        self.before_websocket_hooks: list[Hook] = []
        self._registered = RouteTable()

    def _check_open(self) -> None:
        """Raise if registration is closed (app started, router included)."""

    def add_route(
        self,
        path: str,
        handler: Handler,
        methods: Sequence[str] = ("GET",),
        *,
        name: str | None = None,
        summary: str | None = None,
        description: str | None = None,
        tags: Sequence[str] = (),
        status_code: int = 200,
        include_in_schema: bool = True,
        deprecated: bool = False,
        max_body_size: int | object | None = ...,
        operation_id: str | None = None,
        responses: Mapping[int, Any] | None = None,
        security: Sequence[str | Mapping[str, Sequence[str]]] | None = None,
    ) -> None:
        """Register `handler` for `methods` on `path`.

        Raises:
            RouteDefinitionError: the path, methods or handler signature is invalid,
                or the route conflicts with one already registered.
            AppStartedError: the application is already serving.
        """
        self._check_open()
        options = {
            "name": name,
            "summary": summary,
            "description": description,
            "tags": [*self.tags, *[tag for tag in tags if tag not in self.tags]],
            "status_code": status_code,
            "include_in_schema": include_in_schema,
            "deprecated": deprecated,
            "max_body_size": max_body_size,
            "operation_id": operation_id,
            "responses": responses,
            "security": security,
            "methods": tuple(methods),
        }
        self._register(self._full_path(path), handler, options)

    def _register(self, path: str, handler: Handler, options: dict[str, Any]) -> None:
        # Compiling here makes a bad signature or a duplicate fail at the decorator, not include().
        self._registered.add(self._build(path, handler, options))
        self.route_specs.append((path, handler, options))

    def _build(self, path: str, handler: Handler, options: dict[str, Any]) -> AnyRoute:
        if options.get("websocket"):
            return WebSocketRoute(
                path,
                handler,
                name=options["name"],
                max_message_size=options["max_message_size"],
                before_hooks=options.get("before_hooks", ()),
            )
        opts = {k: v for k, v in options.items() if k not in ("methods", "websocket")}
        return Route(path, handler, options["methods"], **opts)

    def _full_path(self, path: str) -> str:
        if not path.startswith("/"):
            raise RouteDefinitionError(f"Route path {path!r} must start with '/'")
        return self.prefix if self.prefix and path == "/" else self.prefix + path

    def route(
        self,
        path: str,
        methods: Sequence[str] = ("GET",),
        *,
        name: str | None = None,
        summary: str | None = None,
        description: str | None = None,
        tags: Sequence[str] = (),
        status_code: int = 200,
        include_in_schema: bool = True,
        deprecated: bool = False,
        max_body_size: int | object | None = ...,
        operation_id: str | None = None,
        responses: Mapping[int, Any] | None = None,
        security: Sequence[str | Mapping[str, Sequence[str]]] | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Register the decorated function for `methods` on `path`."""

        def decorator(handler: Callable[P, R]) -> Callable[P, R]:
            self.add_route(
                path,
                handler,
                methods,
                name=name,
                summary=summary,
                description=description,
                tags=tags,
                status_code=status_code,
                include_in_schema=include_in_schema,
                deprecated=deprecated,
                max_body_size=max_body_size,
                operation_id=operation_id,
                responses=responses,
                security=security,
            )
            return handler

        return decorator

    def get(self, path: str, **options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Register the decorated function for GET (and so HEAD) on `path`."""
        return self.route(path, ["GET"], **options)

    def post(self, path: str, **options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Register the decorated function for POST on `path`."""
        return self.route(path, ["POST"], **options)

    def put(self, path: str, **options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Register the decorated function for PUT on `path`."""
        return self.route(path, ["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Register the decorated function for PATCH on `path`."""
        return self.route(path, ["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Register the decorated function for DELETE on `path`."""
        return self.route(path, ["DELETE"], **options)

    def head(self, path: str, **options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Register the decorated function for HEAD on `path`."""
        return self.route(path, ["HEAD"], **options)

    def options(self, path: str, **options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Register the decorated function for OPTIONS on `path`."""
        return self.route(path, ["OPTIONS"], **options)

    def sse(
        self,
        path: str,
        *,
        ping: float | None = DEFAULT_PING_INTERVAL,
        replay: ReplayBuffer | None = None,
        retry: int | None = None,
        **options: Any,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Serve the decorated generator on GET `path` as server-sent events.

        Its parameters are resolved like any handler's; see `ecko.sse.EventStreamResponse`
        for `ping`, `replay` and `retry`. Other options are those of `route()`.
        """

        def decorator(handler: Callable[P, R]) -> Callable[P, R]:
            stream = event_stream_handler(handler, ping=ping, replay=replay, retry=retry)
            self.route(path, ["GET"], **options)(stream)
            return handler

        return decorator

    def websocket(
        self, path: str, *, name: str | None = None, max_message_size: int | object | None = ...
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Register the decorated `async def` as the WebSocket handler for `path`."""

        def decorator(handler: Callable[P, R]) -> Callable[P, R]:
            self.add_websocket_route(path, handler, name=name, max_message_size=max_message_size)
            return handler

        return decorator

    def add_websocket_route(
        self,
        path: str,
        handler: Handler,
        *,
        name: str | None = None,
        max_message_size: int | object | None = ...,
    ) -> None:
        """Register `handler` for WebSocket connections on `path`."""
        self._check_open()
        options = {"websocket": True, "name": name, "max_message_size": max_message_size}
        self._register(self._full_path(path), handler, options)

    def before_request(self, hook: Callable[P, R]) -> Callable[P, R]:
        """Run `hook` before each HTTP handler; a non-None return answers instead."""
        self._check_open()
        self.before_request_hooks.append(_check_hook(hook, "before_request", (0, 1)))
        return hook

    def after_request(self, hook: Callable[P, R]) -> Callable[P, R]:
        """Run `hook(response)` after each HTTP handler; it returns the response to send."""
        self._check_open()
        self.after_request_hooks.append(_check_hook(hook, "after_request", (1,)))
        return hook

    def before_websocket(self, hook: Callable[P, R]) -> Callable[P, R]:
        """Run `hook` before each WebSocket handler; raising an HTTPException refuses it."""
        self._check_open()
        self.before_websocket_hooks.append(_check_hook(hook, "before_websocket", (0, 1)))
        return hook


def _check_hook(hook: Hook, kind: str, arities: tuple[int, ...]) -> Hook:
    try:
        parameters = [
            p
            for p in inspect.signature(hook).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return hook
    if len(parameters) not in arities:
        expected = " or ".join(str(n) for n in arities)
        raise RouteDefinitionError(
            f"{kind} hook {_describe(hook)} takes {len(parameters)} required argument(s); "
            f"it must take {expected}"
        )
    return hook


class Router(RouteRegistrar):
    """A group of routes under a prefix, with shared tags and hooks; `app.include()` it.

    Args:
        prefix: prepended to every route path, e.g. "/api".
        tags: OpenAPI tags added to every route.
    """

    def __init__(self, prefix: str = "", *, tags: Sequence[str] = ()) -> None:
        super().__init__(prefix=prefix, tags=tags)
        self._included_in: str | None = None

    def _check_open(self) -> None:
        if self._included_in is not None:
            raise AppStartedError(
                f"Router {self.prefix or '/'!r} was already included in {self._included_in}; "
                "add its routes and hooks before app.include(router)"
            )

    def include(self, router: Router) -> None:
        """Add every route and hook of `router` (nested under this router's prefix)."""
        self._check_open()
        for path, handler, options in router.route_specs:
            self._register(self._full_path(path), handler, merge_router_hooks(router, options))
        router._included_in = f"router {self.prefix!r}"


def merge_router_hooks(router: RouteRegistrar, options: dict[str, Any]) -> dict[str, Any]:
    """Return route options with `router`'s tags and hooks around the route's own."""
    merged = dict(options)
    if options.get("websocket"):
        merged["before_hooks"] = (*router.before_websocket_hooks, *options.get("before_hooks", ()))
        return merged
    merged["tags"] = [*router.tags, *[t for t in options["tags"] if t not in router.tags]]
    # Outer hooks run first before the handler and last after it.
    merged["before_hooks"] = (*router.before_request_hooks, *options.get("before_hooks", ()))
    merged["after_hooks"] = (*options.get("after_hooks", ()), *router.after_request_hooks)
    return merged


def url_for(routes: Iterable[AnyRoute], name: str, params: dict[str, Any]) -> str:
    """Build the path of the route called `name`.

    Raises:
        KeyError: no route has that name, or its parameters do not match `params`.
    """
    for route in routes:
        if route.name == name:
            return route.url_path(**params)
    raise KeyError(f"No route is named {name!r}; pass name=... when registering it")
