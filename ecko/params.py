"""Compile handler signatures into parameter plans and resolve them per request."""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Union, final, get_args, get_origin

import msgspec

from ecko.exceptions import FieldError, RouteDefinitionError, UnsupportedMediaType, ValidationError
from ecko.requests import Request
from ecko.serialization import decode_json
from ecko.websockets import WebSocket

_MISSING: Any = inspect.Parameter.empty
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_TRUE_WORDS = {"true": True, "1": True, "yes": True, "on": True}
_FALSE_WORDS = {"false": False, "0": False, "no": False, "off": False}
_NON_FINITE = frozenset({"nan", "inf", "infinity", "+inf", "-inf", "+infinity", "-infinity"})
_ERROR_PATH = re.compile(r" - at `\$(.*)`$")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


class Param:
    """Where a handler parameter comes from, with its default, alias, docs and constraints.

    Args:
        default: the value when the client sends none; omit it to make the parameter required.
        alias: the name on the wire, when it differs from the Python name.
        description: shown in the OpenAPI document.
        deprecated: marks the parameter deprecated in the OpenAPI document.
        examples: example values for the OpenAPI document.
        ge: minimum (inclusive); gt, le and lt likewise.
        min_length: the shortest accepted string or sequence; max_length likewise.
        pattern: a regular expression strings must match (searched, not anchored).
        allow_inf_nan: accept `nan` and `inf` for floats (refused by default).
    """

    source: str = ""

    def __init__(
        self,
        default: Any = _MISSING,
        *,
        alias: str | None = None,
        description: str | None = None,
        deprecated: bool = False,
        examples: Sequence[Any] | None = None,
        ge: float | None = None,
        gt: float | None = None,
        le: float | None = None,
        lt: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        allow_inf_nan: bool = False,
    ) -> None:
        self.default = default
        self.alias = alias
        self.description = description
        self.deprecated = deprecated
        self.examples = list(examples) if examples is not None else None
        self.constraints = {
            key: value
            for key, value in (
                ("ge", ge),
                ("gt", gt),
                ("le", le),
                ("lt", lt),
                ("min_length", min_length),
                ("max_length", max_length),
                ("pattern", pattern),
            )
            if value is not None
        }
        self.allow_inf_nan = allow_inf_nan

    def __repr__(self) -> str:
        default = "" if self.default is _MISSING else repr(self.default)
        return f"{type(self).__name__}({default})"


@final
class Query(Param):
    """Take the parameter from the query string (`?name=value`)."""

    source = "query"


@final
class Path(Param):
    """Take the parameter from the path template (`/items/{name}`)."""

    source = "path"


@final
class Header(Param):
    """Take the parameter from a request header (`user_agent` → `user-agent`)."""

    source = "header"


@final
class Cookie(Param):
    """Take the parameter from a request cookie."""

    source = "cookie"


@final
class Body(Param):
    """Take the parameter from the JSON request body."""

    source = "body"


@dataclasses.dataclass(frozen=True, slots=True)
class ParamField:
    """One compiled handler parameter: where it comes from and how it is converted."""

    name: str
    source: str  # "path" | "query" | "header" | "cookie" | "body" | "request" | "websocket"
    key: str
    annotation: Any
    default: Any
    required: bool
    multiple: bool = False
    boolean: bool = False
    finite_only: bool = False
    marker: Param | None = None

    @property
    def description(self) -> str | None:
        """The documentation given by the marker, if any."""
        return self.marker.description if self.marker else None


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    """Return `(inner, is_optional)` for `X | None` (and Annotated around it)."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) != len(get_args(annotation)):
            inner = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
            return inner, True
    return annotation, False


def is_body_type(annotation: Any) -> bool:
    """Say whether a type is read from a JSON body: dict, list, Struct, dataclass, TypedDict."""
    inner, _ = _strip_optional(annotation)
    origin = get_origin(inner) or inner
    if origin in (dict, list, Mapping, Sequence, tuple, set, frozenset):
        return origin in (dict, Mapping) or inner is list or origin is list
    return isinstance(inner, type) and (
        issubclass(inner, msgspec.Struct)
        or dataclasses.is_dataclass(inner)
        or typing.is_typeddict(inner)
    )


def _is_sequence(annotation: Any) -> bool:
    inner, _ = _strip_optional(annotation)
    return (get_origin(inner) or inner) in (list, tuple, set, frozenset, Sequence)


def _is_kind(annotation: Any, kind: type) -> bool:
    inner, _ = _strip_optional(annotation)
    if _is_sequence(inner):
        args = get_args(inner)
        inner = args[0] if args else str
        inner, _ = _strip_optional(inner)
    return inner is kind


def _constrained(annotation: Any, marker: Param | None) -> Any:
    """Attach the marker's constraints and docs to `annotation` as msgspec.Meta."""
    if marker is None:
        return annotation
    constraints = dict(marker.constraints)
    docs: dict[str, Any] = {}
    if marker.description:
        docs["description"] = marker.description
    if marker.examples:
        docs["examples"] = marker.examples
    if not constraints and not docs:
        return annotation
    inner, optional = _strip_optional(annotation)
    if _is_sequence(inner) and get_args(inner):
        # Lengths constrain the sequence; bounds and patterns constrain its items.
        lengths = {k: constraints.pop(k) for k in ("min_length", "max_length") if k in constraints}
        item = get_args(inner)[0]
        if constraints:
            item = Annotated[item, msgspec.Meta(**constraints)]
        container = get_origin(inner)
        inner = container[item] if container is not Sequence else Sequence[item]  # type: ignore[index]
        constraints = lengths
    inner = Annotated[inner, msgspec.Meta(**constraints, **docs)]
    return inner | None if optional else inner


def _unwrap_marker(annotation: Any, default: Any) -> tuple[Any, Param | None, Any]:
    """Split `Annotated[T, Query(...)]` / `x: T = Query(...)` into (type, marker, default)."""
    marker: Param | None = None
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        kept = []
        for extra in extras:
            if isinstance(extra, Param):
                marker = extra
            else:
                kept.append(extra)
        annotation = Annotated[(base, *kept)] if kept else base  # type: ignore[valid-type]
    if isinstance(default, Param):
        marker = default
        default = default.default
    elif marker is not None and default is _MISSING:
        default = marker.default
    return annotation, marker, default


def _describe(handler: Callable[..., Any]) -> str:
    module = getattr(handler, "__module__", "?")
    return f"{module}.{getattr(handler, '__qualname__', repr(handler))}"


def compile_handler(
    handler: Callable[..., Any],
    path_params: frozenset[str],
    *,
    methods: frozenset[str] = frozenset({"GET"}),
    websocket: bool = False,
) -> ParamPlan:
    """Build the plan that turns a request into keyword arguments for `handler`.

    Raises:
        RouteDefinitionError: a parameter's type cannot come from where it is declared.
    """
    where = _describe(handler)
    try:
        signature = inspect.signature(handler)
        hints = typing.get_type_hints(handler, include_extras=True)
    except (NameError, TypeError) as error:
        raise RouteDefinitionError(
            f"Cannot read the type hints of {where}: {error}; import every annotated type "
            "at module level so Ecko can resolve it when the route is registered"
        ) from error
    fields: list[ParamField] = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise RouteDefinitionError(
                f"{where} takes *{parameter.name}; handlers declare each parameter by name"
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise RouteDefinitionError(
                f"{where}: parameter {parameter.name!r} is positional-only; remove the '/'"
            )
        annotation = hints.get(parameter.name, Any)
        fields.append(
            _compile_field(
                parameter.name, annotation, parameter.default, path_params, methods, websocket, where
            )
        )
    # Path parameters the handler does not declare stay readable in `request.path_params`.
    return ParamPlan(handler, fields)


def _compile_field(
    name: str,
    annotation: Any,
    default: Any,
    path_params: frozenset[str],
    methods: frozenset[str],
    websocket: bool,
    where: str,
) -> ParamField:
    annotation, marker, default = _unwrap_marker(annotation, default)
    inner, optional = _strip_optional(annotation)
    if isinstance(inner, type) and issubclass(inner, Request):
        return ParamField(name, "request", name, annotation, _MISSING, True)
    if isinstance(inner, type) and issubclass(inner, WebSocket):
        if not websocket:
            raise RouteDefinitionError(
                f"{where}: parameter {name!r} is a WebSocket but the route is HTTP; "
                "register it with @app.websocket(path)"
            )
        return ParamField(name, "websocket", name, annotation, _MISSING, True)
    if marker is not None:
        source = marker.source
    elif name in path_params:
        source = "path"
    elif is_body_type(annotation) and not _is_query_sequence(annotation, methods):
        source = "body"
    else:
        source = "query"
    if source == "path" and name not in path_params and (marker is None or marker.alias is None):
        raise RouteDefinitionError(
            f"{where}: parameter {name!r} is marked Path() but the route path has no "
            f"{{{name}}}; add it to the path or mark the parameter Query()"
        )
    if source == "body":
        if websocket:
            raise RouteDefinitionError(
                f"{where}: WebSocket handlers have no request body; receive messages with "
                f"ws.receive_json(type=...) instead of parameter {name!r}"
            )
        if not methods & BODY_METHODS:
            raise RouteDefinitionError(
                f"{where}: parameter {name!r} would be read from the JSON body, but "
                f"{'/'.join(sorted(methods))} requests carry none; use POST/PUT/PATCH/DELETE "
                "or mark it Query()"
            )
    elif is_body_type(annotation) and not _is_sequence(annotation):
        raise RouteDefinitionError(
            f"{where}: parameter {name!r} of type {annotation!r} cannot come from the "
            f"{source}; only scalar types and lists of them can; read it from the body with Body()"
        )
    if marker is not None and marker.alias:
        key = marker.alias
    elif source == "header":
        key = name.replace("_", "-")
    else:
        key = name
    if source == "header":
        key = key.lower()
    if default is _MISSING and optional and source != "path":
        default = None
    multiple = source in ("query", "header") and _is_sequence(annotation)
    return ParamField(
        name=name,
        source=source,
        key=key,
        annotation=_constrained(annotation, marker),
        default=default,
        required=default is _MISSING,
        multiple=multiple,
        boolean=_is_kind(annotation, bool),
        finite_only=_is_kind(annotation, float) and not (marker and marker.allow_inf_nan),
        marker=marker,
    )


def _is_query_sequence(annotation: Any, methods: frozenset[str]) -> bool:
    """`tags: list[str]` on a GET route is `?tags=a&tags=b`, not a body."""
    return _is_sequence(annotation) and not methods & BODY_METHODS


def _default_factory(default: Any) -> Any:
    if isinstance(default, (list, dict, set, bytearray)) or dataclasses.is_dataclass(default):
        # A mutable default is copied per request, never shared between requests.
        return msgspec.field(default_factory=functools.partial(copy.deepcopy, default))
    return default


def _field_error(loc: list[str | int], error: Exception) -> FieldError:
    message = str(error)
    match = _ERROR_PATH.search(message)
    if match:
        message = message[: match.start()]
        loc = loc + [
            int(index) if index else key for key, index in _PATH_PART.findall(match.group(1))
        ]
    if message.startswith("Object missing required field"):
        kind = "missing"
    elif message.startswith("Expected `") and ", got `" in message:
        kind = "type_error"
    else:
        kind = "value_error"
    return {"loc": loc, "msg": message, "type": kind}


class ParamPlan:
    """How one handler's keyword arguments are read from a request, compiled once."""

    __slots__ = (
        "body",
        "fields",
        "finite_names",
        "handler",
        "injected",
        "is_empty",
        "reads_cookies",
        "reads_headers",
        "scalars",
        "struct_type",
    )

    def __init__(self, handler: Callable[..., Any], fields: list[ParamField]) -> None:
        self.handler = handler
        self.fields = tuple(fields)
        self.injected = tuple(
            (field.name, field.source) for field in fields if field.source in ("request", "websocket")
        )
        bodies = [field for field in fields if field.source == "body"]
        if len(bodies) > 1:
            names = ", ".join(repr(field.name) for field in bodies)
            raise RouteDefinitionError(
                f"{_describe(handler)} reads {names} from the JSON body; a body is one value, so "
                "declare one msgspec Struct holding them all"
            )
        self.body: ParamField | None = bodies[0] if bodies else None
        self.scalars = tuple(
            field for field in fields if field.source in ("path", "query", "header", "cookie")
        )
        self.finite_names = tuple(field.name for field in self.scalars if field.finite_only)
        self.reads_headers = any(field.source == "header" for field in self.scalars)
        self.reads_cookies = any(field.source == "cookie" for field in self.scalars)
        self.is_empty = not fields
        self.struct_type: type[msgspec.Struct] | None = None
        if self.scalars:
            struct_fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
                (field.name, field.annotation)
                if field.required
                else (field.name, field.annotation, _default_factory(field.default))
                for field in self.scalars
            ]
            try:
                self.struct_type = msgspec.defstruct(
                    f"{getattr(handler, '__name__', 'handler')}_params", struct_fields, kw_only=True
                )
                # Building the decoder validates every type and constraint now, not per request.
                msgspec.json.Decoder(self.struct_type)
            except (TypeError, ValueError) as error:
                raise RouteDefinitionError(
                    f"{_describe(handler)}: a parameter type cannot be read from a request: "
                    f"{error}; use str, int, float, bool, Decimal, UUID, datetime, date, time, "
                    "Enum, Literal, X | None, or lists of these"
                ) from error
        if self.body is not None:
            try:
                msgspec.json.Decoder(self.body.annotation)
            except TypeError as error:
                raise RouteDefinitionError(
                    f"{_describe(handler)}: body parameter {self.body.name!r} has a type msgspec "
                    f"cannot decode: {error}"
                ) from error

    def _raw_values(self, connection: Request | WebSocket) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        query = connection.query_params
        headers = connection.headers if self.reads_headers else None
        cookies = connection.cookies if self.reads_cookies else None
        path = connection.path_params
        for field in self.scalars:
            source = field.source
            value: Any
            if source == "query":
                value = query.getlist(field.key) if field.multiple else query.get(field.key)
            elif source == "path":
                value = path.get(field.key)
            elif source == "header":
                assert headers is not None
                value = headers.getlist(field.key) if field.multiple else headers.get(field.key)
            else:
                assert cookies is not None
                value = cookies.get(field.key)
            if value is None or (field.multiple and not value):
                continue
            if field.boolean:
                value = (
                    [_to_bool(item) for item in value] if field.multiple else _to_bool(value)
                )
            raw[field.name] = value
        return raw

    def _scalar_errors(self, raw: dict[str, Any]) -> list[FieldError]:
        errors: list[FieldError] = []
        for field in self.scalars:
            loc: list[str | int] = [field.source, field.key]
            if field.name not in raw:
                if field.required:
                    errors.append({"loc": loc, "msg": "Field required", "type": "missing"})
                continue
            value = raw[field.name]
            if field.finite_only and _has_non_finite(value):
                errors.append(
                    {"loc": loc, "msg": "Expected a finite number, got nan or inf", "type": "value_error"}
                )
                continue
            try:
                msgspec.convert(value, field.annotation, strict=False)
            except msgspec.ValidationError as error:
                errors.append(_field_error(loc, error))
        return errors

    async def resolve(self, connection: Request | WebSocket) -> dict[str, Any]:
        """Read, convert and validate every parameter of the handler from `connection`.

        Raises:
            ValidationError: one or more parameters are missing or invalid; all are listed.
            UnsupportedMediaType: the body is not JSON.
            PayloadTooLarge: the body is over the size limit.
        """
        kwargs: dict[str, Any] = {}
        errors: list[FieldError] = []
        if self.struct_type is not None:
            raw = self._raw_values(connection)
            try:
                if self.finite_names and any(_has_non_finite(raw.get(n)) for n in self.finite_names):
                    raise msgspec.ValidationError("nan or inf where a finite number is expected")
                values = msgspec.convert(raw, self.struct_type, strict=False)
            except msgspec.ValidationError:
                # Slow path, on bad input only: check field by field to report them all.
                errors = self._scalar_errors(raw)
            else:
                for field in self.scalars:
                    kwargs[field.name] = getattr(values, field.name)
        if self.body is not None:
            assert isinstance(connection, Request)
            body_error = await self._read_body(connection, kwargs)
            errors.extend(body_error)
        if errors:
            raise ValidationError(errors)
        for name, source in self.injected:
            kwargs[name] = connection
        return kwargs

    async def _read_body(self, request: Request, kwargs: dict[str, Any]) -> list[FieldError]:
        field = self.body
        assert field is not None
        content_type = request.content_type
        if content_type and content_type != "application/json" and not content_type.endswith("+json"):
            raise UnsupportedMediaType(
                f"Expected a JSON body (Content-Type: application/json), got {content_type!r}"
            )
        body = await request.body()
        if not body.strip():
            if field.required:
                return [{"loc": ["body"], "msg": "A JSON request body is required", "type": "missing"}]
            kwargs[field.name] = copy.deepcopy(field.default)
            return []
        try:
            kwargs[field.name] = decode_json(body, field.annotation)
        except msgspec.ValidationError as error:
            return _body_errors(body, field.annotation, error)
        except msgspec.DecodeError as error:
            return [{"loc": ["body"], "msg": f"Invalid JSON: {error}", "type": "json_invalid"}]
        except RecursionError:
            return [{"loc": ["body"], "msg": "The JSON body is nested too deeply", "type": "json_invalid"}]
        return []


def _to_bool(value: str) -> Any:
    lowered = value.strip().lower()
    if lowered in _TRUE_WORDS:
        return True
    if lowered in _FALSE_WORDS:
        return False
    return value


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_non_finite(item) for item in value)
    return isinstance(value, str) and value.strip().lower() in _NON_FINITE


def _body_errors(body: bytes, annotation: Any, error: msgspec.ValidationError) -> list[FieldError]:
    """List every invalid top-level field of an object body, not just the first."""
    first = _field_error(["body"], error)
    inner, _ = _strip_optional(annotation)
    field_types = _object_fields(inner)
    if field_types is None:
        return [first]
    try:
        document = decode_json(body)
    except (msgspec.DecodeError, RecursionError):
        return [first]
    if not isinstance(document, dict):
        return [first]
    errors: list[FieldError] = []
    for key, (field_type, required) in field_types.items():
        if key not in document:
            if required:
                errors.append({"loc": ["body", key], "msg": "Field required", "type": "missing"})
            continue
        try:
            msgspec.convert(document[key], field_type)
        except msgspec.ValidationError as field_error:
            errors.append(_field_error(["body", key], field_error))
    return errors or [first]


@functools.cache
def _object_fields(model: Any) -> dict[str, tuple[Any, bool]] | None:
    """Map an object type's wire names to `(type, required)`, or None for other types."""
    if not isinstance(model, type):
        return None
    if issubclass(model, msgspec.Struct):
        return {
            info.encode_name: (info.type, info.required) for info in msgspec.structs.fields(model)
        }
    hints = typing.get_type_hints(model, include_extras=True) if _is_model(model) else None
    if hints is None:
        return None
    if dataclasses.is_dataclass(model):
        return {
            item.name: (
                hints[item.name],
                item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING,
            )
            for item in dataclasses.fields(model)
        }
    required = getattr(model, "__required_keys__", frozenset(hints))
    return {name: (hint, name in required) for name, hint in hints.items()}


def _is_model(model: type) -> bool:
    return dataclasses.is_dataclass(model) or typing.is_typeddict(model)


__all__ = [
    "Body",
    "Cookie",
    "Header",
    "Param",
    "ParamField",
    "ParamPlan",
    "Path",
    "Query",
    "compile_handler",
    "is_body_type",
]
