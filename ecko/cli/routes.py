"""`ecko routes`: list an Ecko app's routes and mounts as a table or as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from ecko.cli import CommandError
from ecko.cli.loading import load_app, parse_target
from ecko.cli.output import table
from ecko.routing import WEBSOCKET, AnyRoute

_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
_KIND_ORDER = {"http": 0, "websocket": 1, "mount": 2}
_COLUMNS = ("METHODS", "PATH", "HANDLER", "NAME", "TAGS")
_METHOD_COLOURS = {
    "GET": ("green",),
    "POST": ("yellow",),
    "PUT": ("blue",),
    "PATCH": ("cyan",),
    "DELETE": ("red",),
    "WS": ("magenta",),
    "MOUNT": ("dim",),
}


@dataclass(frozen=True)
class RouteRow:
    """One line of the listing: an HTTP route, a WebSocket route or a mounted ASGI app."""

    kind: Literal["http", "websocket", "mount"]
    methods: list[str]
    path: str
    name: str | None
    handler: str
    summary: str | None
    tags: list[str]


def print_routes(target_text: str, *, as_json: bool = False, factory: bool = False) -> int:
    """Load the Ecko app `target_text` names and print its routes sorted by path.

    Raises:
        CommandError: the target does not load, or is not an Ecko app.
    """
    from ecko.app import Ecko

    target = parse_target(target_text, factory=factory)
    app = load_app(target)
    if not isinstance(app, Ecko):
        raise CommandError(
            f"{target.text!r} is a {type(app).__name__}, not an Ecko app; "
            "`ecko routes` lists the routes of an Ecko() instance"
        )
    rows = route_rows(app.routes, app.mounts)
    if as_json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
    else:
        print(format_table(rows))
    return 0


def route_rows(routes: Iterable[AnyRoute], mounts: Iterable[tuple[str, object]]) -> list[RouteRow]:
    """Describe `routes` and `mounts` as rows sorted by path (then kind, then methods)."""
    rows = [_route_row(route) for route in routes]
    rows += [
        RouteRow("mount", [], prefix, None, _qualified_name(_described(mounted)), None, [])
        for prefix, mounted in mounts
    ]
    return sorted(rows, key=lambda row: (row.path, _KIND_ORDER[row.kind], _method_ranks(row)))


def _route_row(route: AnyRoute) -> RouteRow:
    handler = _qualified_name(route.handler)
    if WEBSOCKET in route.methods:
        return RouteRow(
            "websocket", ["WS"], route.path, route.name, handler, route.summary, list(route.tags)
        )
    methods = set(route.methods)
    if "GET" in methods:
        methods.discard("HEAD")  # HEAD follows GET; listing it on every GET route is noise
    return RouteRow(
        "http",
        _sorted_methods(methods),
        route.path,
        route.name,
        handler,
        route.summary,
        list(route.tags),
    )


def _method_ranks(row: RouteRow) -> list[tuple[int, str]]:
    return [(_rank(method), method) for method in row.methods]


def _rank(method: str) -> int:
    return _METHOD_ORDER.index(method) if method in _METHOD_ORDER else len(_METHOD_ORDER)


def _sorted_methods(methods: set[str]) -> list[str]:
    return sorted(methods, key=lambda method: (_rank(method), method))


def _described(mounted: object) -> object:
    """Name a mounted function by itself, anything else (an Ecko app, ...) by its type."""
    return mounted if callable(mounted) and hasattr(mounted, "__qualname__") else type(mounted)


def _qualified_name(value: object) -> str:
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None) or type(value).__qualname__
    return f"{module}:{qualname}" if module else str(qualname)


def format_table(rows: Iterable[RouteRow]) -> str:
    """Render rows as aligned columns: METHODS, PATH, HANDLER, NAME, TAGS (coloured on a tty)."""
    cells = [
        (
            "MOUNT" if row.kind == "mount" else ",".join(row.methods),
            row.path,
            row.handler,
            row.name or "",
            ",".join(row.tags),
        )
        for row in rows
    ]
    text = table(_COLUMNS, cells, styles=_cell_styles)
    return text + "\n(no routes)" if not cells else text


def _cell_styles(column: int, cell: str) -> tuple[str, ...]:
    if column == 0:
        return _METHOD_COLOURS.get(cell.partition(",")[0], ())
    return {1: ("bold",), 4: ("dim",)}.get(column, ())
