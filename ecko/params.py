"""Compile handler signatures into parameter plans and resolve them per request."""

from __future__ import annotations

import copy
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, TypedDict, Union, Unpack, get_args, get_origin

import msgspec

from ecko.background import BackgroundTasks, background_tasks_for
from ecko.exceptions import FieldError, RouteDefinitionError, UnsupportedMediaType, ValidationError
from ecko.forms import FormData, UploadFile
from ecko.requests import HTTPConnection, Request
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

    Users create these through the markers `Query`, `Path`, `Header`, `Cookie`, `Body`,
    `Form` and `File`.

    Args:
        source: "query", "path", "header", "cookie", "body", "form" or "file".
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

    def __init__(
        self,
        source: str,
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
        self.source = source
        # `Query(...)` means "required", as in FastAPI.
        self.default = _MISSING if default is Ellipsis else default
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
        return f"{self.source.title()}({default})"


class ParamOptions(TypedDict, total=False):
    """The keyword options every marker takes; `Param` describes each."""

    alias: str | None
    description: str | None
    deprecated: bool
    examples: Sequence[Any] | None
    ge: float | None
    gt: float | None
    le: float | None
    lt: float | None
    min_length: int | None
    max_length: int | None
    pattern: str | None
    allow_inf_nan: bool


# The markers are functions typed `-> Any`, as in FastAPI, so that `page: int = Query(1)`
# type-checks: a class would make the default a `Query`, which mypy refuses for an `int`.


def Query(default: Any = _MISSING, **options: Unpack[ParamOptions]) -> Any:  # noqa: N802 - used like a class
    """Take the parameter from the query string (`?name=value`); options as for `Param`."""
    return Param("query", default, **options)


def Path(default: Any = _MISSING, **options: Unpack[ParamOptions]) -> Any:  # noqa: N802 - used like a class
    """Take the parameter from the path template (`/items/{name}`); options as for `Param`."""
    return Param("path", default, **options)


def Header(default: Any = _MISSING, **options: Unpack[ParamOptions]) -> Any:  # noqa: N802 - used like a class
    """Take the parameter from a request header (`user_agent` → `user-agent`), as for `Param`."""
    return Param("header", default, **options)


def Cookie(default: Any = _MISSING, **options: Unpack[ParamOptions]) -> Any:  # noqa: N802 - used like a class
    """Take the parameter from a request cookie; options as for `Param`."""
    return Param("cookie", default, **options)


def Body(default: Any = _MISSING, **options: Unpack[ParamOptions]) -> Any:  # noqa: N802 - used like a class
    """Take the parameter from the JSON request body; options as for `Param`."""
    return Param("body", default, **options)


def Form(default: Any = _MISSING, **options: Unpack[ParamOptions]) -> Any:  # noqa: N802 - used like a class
    """Take the parameter from a form field (urlencoded or multipart); options as for `Param`.

    On a msgspec Struct, dataclass or TypedDict parameter, fill it from the whole form.
    """
    return Param("form", default, **options)


def File(default: Any = _MISSING, **options: Unpack[ParamOptions]) -> Any:  # noqa: N802 - used like a class
    """Take an `UploadFile` or `list[UploadFile]` from a multipart form, as for `Param`."""
    return Param("file", default, **options)


class ParamField(msgspec.Struct, frozen=True):
    """One compiled handler parameter: where it comes from and how it is converted."""

    name: str
    # "path" | "query" | "header" | "cookie" | "body" | "form" | "file" | "request" | "websocket"
    # | "background"; a "form" field with `model` set is a Struct/dataclass filled from the form.
    source: str
    key: str
    annotation: Any
    default: Any
    required: bool
    multiple: bool = False
    boolean: bool = False
    finite_only: bool = False
    marker: Param | None = None
    model: bool = False

    @property
    def description(self) -> str | None:
        """The documentation given by the marker, if any."""
        return self.marker.description if self.marker else None


def _is_dataclass(value: Any) -> bool:
    """Say whether `value` is a dataclass or an instance of one, as `dataclasses.is_dataclass`.

    Checked by its marker attribute, so `import ecko` does not load `dataclasses` (~1 ms).
    """
    cls = value if isinstance(value, type) else type(value)
    return hasattr(cls, "__dataclass_fields__")


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
        issubclass(inner, msgspec.Struct) or _is_dataclass(inner) or typing.is_typeddict(inner)
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
    constraints: dict[str, Any] = dict(marker.constraints)
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
        lengths: dict[str, Any] = {
            k: constraints.pop(k) for k in ("min_length", "max_length") if k in constraints
        }
        items = get_args(inner)
        if constraints:
            meta = msgspec.Meta(**constraints)
            # `tuple[int, ...]` keeps its Ellipsis; each item of a fixed tuple is constrained.
            items = tuple(item if item is Ellipsis else Annotated[item, meta] for item in items)
        container: Any = get_origin(inner)
        inner = container[items if len(items) > 1 else items[0]]
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
        annotation = Annotated[(base, *kept)] if kept else base
    if isinstance(default, Param):
        marker = default
        default = default.default
    elif marker is not None and default is _MISSING:
        default = marker.default
    return annotation, marker, default


def _describe(handler: Callable[..., Any]) -> str:
    module = getattr(handler, "__module__", "?")
    return f"{module}.{getattr(handler, '__qualname__', repr(handler))}"


def _type_hints(handler: Callable[..., Any]) -> dict[str, Any]:
    """Evaluate the handler's annotations, also finding names local to where it was defined.

    With `from __future__ import annotations`, a Struct declared inside a function is not
    in the handler's globals; the frames registering the route (the decorator's callers)
    still hold it. This runs once per route, at registration.
    """
    try:
        return typing.get_type_hints(handler, include_extras=True)
    except NameError as error:
        frame = inspect.currentframe()
        try:
            for _ in range(_FRAMES_SEARCHED):
                frame = frame.f_back if frame is not None else None
                if frame is None:
                    break
                if frame.f_globals is getattr(handler, "__globals__", None):
                    try:
                        return typing.get_type_hints(
                            handler, include_extras=True, localns=dict(frame.f_locals)
                        )
                    except NameError:
                        continue
        finally:
            del frame
        raise error


_FRAMES_SEARCHED = 12


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
        hints = _type_hints(handler)
    except (NameError, TypeError) as error:
        raise RouteDefinitionError(
            f"Cannot read the type hints of {where}: {error}; import every annotated type "
            "at module level so Ecko can resolve it when the route is registered"
        ) from error
    fields: list[ParamField] = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            stars = "*" if parameter.kind is parameter.VAR_POSITIONAL else "**"
            raise RouteDefinitionError(
                f"{where} takes {stars}{parameter.name}; handlers declare each parameter by name"
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise RouteDefinitionError(
                f"{where}: parameter {parameter.name!r} is positional-only; remove the '/'"
            )
        annotation = hints.get(parameter.name, Any)
        fields.append(
            _compile_field(
                parameter.name,
                annotation,
                parameter.default,
                path_params,
                methods,
                websocket,
                where,
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
    if inner is BackgroundTasks:
        if websocket:
            raise RouteDefinitionError(
                f"{where}: parameter {name!r}: BackgroundTasks run after an HTTP response; "
                "a WebSocket handler can await the work itself"
            )
        return ParamField(name, "background", name, annotation, _MISSING, True)
    if marker is None and _upload_kind(annotation) is not None:
        return _compile_form_field(name, annotation, marker, default, methods, websocket, where)
    if marker is not None and marker.source in ("form", "file"):
        return _compile_form_field(name, annotation, marker, default, methods, websocket, where)
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
    wire_name = marker.alias if marker is not None and marker.alias else name
    if source == "path" and wire_name not in path_params:
        raise RouteDefinitionError(
            f"{where}: parameter {name!r} is marked Path() but the route path has no "
            f"{{{wire_name}}}; add it to the path or mark the parameter Query()"
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
    else:
        _check_text_type(name, annotation, source, where)
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
    try:
        constrained = _constrained(annotation, marker)
    except (TypeError, ValueError) as error:
        raise RouteDefinitionError(f"{where}: parameter {name!r}: {error}") from error
    return ParamField(
        name=name,
        source=source,
        key=key,
        annotation=constrained,
        default=default,
        required=default is _MISSING,
        multiple=multiple,
        boolean=_is_kind(annotation, bool),
        finite_only=(_is_kind(annotation, float) or _is_kind(annotation, Decimal))
        and not (marker and marker.allow_inf_nan),
        marker=marker,
    )


def _upload_kind(annotation: Any) -> str | None:
    """Return "one" for `UploadFile`, "many" for `list[UploadFile]` (optional or not), else None."""
    inner, _ = _strip_optional(annotation)
    if inner is UploadFile:
        return "one"
    if get_origin(inner) in (list, Sequence) and get_args(inner):
        item, _ = _strip_optional(get_args(inner)[0])
        if item is UploadFile:
            return "many"
    return None


def _compile_form_field(
    name: str,
    annotation: Any,
    marker: Param | None,
    default: Any,
    methods: frozenset[str],
    websocket: bool,
    where: str,
) -> ParamField:
    """Compile a `Form()` field, a form model or a file (`UploadFile`, `File()`)."""
    if websocket or not methods & BODY_METHODS:
        raise RouteDefinitionError(
            f"{where}: parameter {name!r} would be read from a form body, which "
            f"{'WebSocket' if websocket else '/'.join(sorted(methods))} requests do not carry; "
            "use POST/PUT/PATCH/DELETE"
        )
    kind = _upload_kind(annotation)
    key = marker.alias if marker is not None and marker.alias else name
    inner, optional = _strip_optional(annotation)
    if default is _MISSING and optional:
        default = None
    common: dict[str, Any] = {"default": default, "required": default is _MISSING}
    if kind is not None:
        return ParamField(
            name, "file", key, annotation, multiple=kind == "many", marker=marker, **common
        )
    if marker is not None and marker.source == "file":
        raise RouteDefinitionError(
            f"{where}: parameter {name!r} is marked File() but typed {annotation!r}; "
            "annotate it UploadFile, list[UploadFile] or UploadFile | None"
        )
    if is_body_type(annotation) and not _is_sequence(annotation):
        fields = _object_fields(inner)
        if fields is None:
            raise RouteDefinitionError(
                f"{where}: parameter {name!r} of type {annotation!r} cannot be filled from a "
                "form; use a msgspec Struct, dataclass or TypedDict of text fields and files"
            )
        for field_name, (field_type, _) in fields.items():
            if _upload_kind(field_type) is None:
                _check_text_type(f"{name}.{field_name}", field_type, "form", where)
        return ParamField(name, "form", key, annotation, marker=marker, model=True, **common)
    _check_text_type(name, annotation, "form", where)
    try:
        constrained = _constrained(annotation, marker)
    except (TypeError, ValueError) as error:
        raise RouteDefinitionError(f"{where}: parameter {name!r}: {error}") from error
    return ParamField(
        name,
        "form",
        key,
        constrained,
        multiple=_is_sequence(annotation),
        boolean=_is_kind(annotation, bool),
        finite_only=(_is_kind(annotation, float) or _is_kind(annotation, Decimal))
        and not (marker and marker.allow_inf_nan),
        marker=marker,
        **common,
    )


_TEXT_TYPES = (
    msgspec.inspect.AnyType,
    msgspec.inspect.NoneType,
    msgspec.inspect.StrType,
    msgspec.inspect.IntType,
    msgspec.inspect.FloatType,
    msgspec.inspect.BoolType,
    msgspec.inspect.DecimalType,
    msgspec.inspect.UUIDType,
    msgspec.inspect.DateTimeType,
    msgspec.inspect.DateType,
    msgspec.inspect.TimeType,
    msgspec.inspect.TimeDeltaType,
    msgspec.inspect.EnumType,
    msgspec.inspect.LiteralType,
)
_TEXT_TYPE_NAMES = (
    "str, int, float, bool, Decimal, UUID, datetime, date, time, timedelta, Enum, Literal, "
    "X | None, or a list, tuple or set of these"
)


def _text_type_problem(info: msgspec.inspect.Type, *, sequence: bool) -> str | None:
    """Name the part of `info` a string cannot be converted to, or return None."""
    if isinstance(info, msgspec.inspect.Metadata):
        return _text_type_problem(info.type, sequence=sequence)
    if isinstance(info, _TEXT_TYPES):
        return None
    if isinstance(info, msgspec.inspect.CustomType):
        # `object` accepts anything, as Any does; other classes msgspec cannot build from text.
        return None if info.cls is object else info.cls.__qualname__
    if isinstance(info, msgspec.inspect.UnionType):
        problems = (_text_type_problem(item, sequence=sequence) for item in info.types)
        return next((problem for problem in problems if problem is not None), None)
    if sequence and isinstance(info, msgspec.inspect.CollectionType):
        return _text_type_problem(info.item_type, sequence=False)
    if sequence and isinstance(info, msgspec.inspect.TupleType):
        problems = (_text_type_problem(item, sequence=False) for item in info.item_types)
        return next((problem for problem in problems if problem is not None), None)
    return type(info).__name__.removesuffix("Type").lower() or repr(info)


def _check_text_type(name: str, annotation: Any, source: str, where: str) -> None:
    """Refuse a path, query, header or cookie type that no text value converts to."""
    try:
        info = msgspec.inspect.type_info(annotation)
    except (TypeError, ValueError) as error:
        raise RouteDefinitionError(f"{where}: parameter {name!r}: {error}") from error
    # Repeated keys make lists only in the query string, headers and forms.
    problem = _text_type_problem(info, sequence=source in ("query", "header", "form"))
    if problem is not None:
        raise RouteDefinitionError(
            f"{where}: parameter {name!r} of type {annotation!r} cannot be read from the "
            f"{source} ({problem} is not built from text); use {_TEXT_TYPE_NAMES}"
        )


def _custom_types(info: Any, seen: set[int]) -> list[type]:
    """Return the classes inside a body type that msgspec can only treat as opaque."""
    if id(info) in seen:
        return []
    seen.add(id(info))
    if isinstance(info, msgspec.inspect.CustomType):
        return [] if info.cls is object else [info.cls]
    found: list[type] = []
    for attribute in info.__struct_fields__:
        value = getattr(info, attribute)
        for child in value if isinstance(value, tuple) else (value,):
            if isinstance(child, msgspec.inspect.Field):
                child = child.type
            if isinstance(child, msgspec.inspect.Type):
                found.extend(_custom_types(child, seen))
    return found


def _is_query_sequence(annotation: Any, methods: frozenset[str]) -> bool:
    """`tags: list[str]` on a GET route is `?tags=a&tags=b`, not a body."""
    return _is_sequence(annotation) and not methods & BODY_METHODS


def _default_factory(default: Any) -> Any:
    if isinstance(default, (list, dict, set, bytearray)) or _is_dataclass(default):
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
        "background_names",
        "body",
        "body_decoder",
        "body_fields",
        "fields",
        "finite_names",
        "form_fields",
        "handler",
        "injected",
        "is_empty",
        "reads_body",
        "reads_cookies",
        "reads_headers",
        "scalars",
        "struct_type",
    )

    def __init__(self, handler: Callable[..., Any], fields: list[ParamField]) -> None:
        self.handler = handler
        self.fields = tuple(fields)
        self.injected = tuple(
            (field.name, field.source)
            for field in fields
            if field.source in ("request", "websocket")
        )
        bodies = [field for field in fields if field.source == "body"]
        if len(bodies) > 1:
            names = ", ".join(repr(field.name) for field in bodies)
            raise RouteDefinitionError(
                f"{_describe(handler)} reads {names} from the JSON body; a body is one value, so "
                "declare one msgspec Struct holding them all"
            )
        self.body: ParamField | None = bodies[0] if bodies else None
        self.form_fields = tuple(field for field in fields if field.source in ("form", "file"))
        if self.body is not None and self.form_fields:
            raise RouteDefinitionError(
                f"{_describe(handler)} reads {self.body.name!r} from a JSON body and "
                f"{self.form_fields[0].name!r} from a form; a request has one body, so choose one"
            )
        self.background_names = tuple(
            field.name for field in fields if field.source == "background"
        )
        self.scalars = tuple(
            field for field in fields if field.source in ("path", "query", "header", "cookie")
        )
        self.finite_names = tuple(field.name for field in self.scalars if field.finite_only)
        self.reads_headers = any(field.source == "header" for field in self.scalars)
        self.reads_cookies = any(field.source == "cookie" for field in self.scalars)
        self.is_empty = not fields
        # Without a body to await, `resolve_now` serves: a coroutine less per request
        # (benchmarks/: 2% of a request with path and query parameters).
        self.reads_body = self.body is not None or bool(self.form_fields)
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
                    f"{error}; use {_TEXT_TYPE_NAMES}"
                ) from error
        self.body_decoder: msgspec.json.Decoder[Any] | None = None
        self.body_fields: dict[str, tuple[Any, bool]] | None = None
        if self.body is not None:
            try:
                self.body_decoder = msgspec.json.Decoder(self.body.annotation)
                # Evaluated now so a validation error never evaluates type hints per request.
                self.body_fields = _object_fields(_strip_optional(self.body.annotation)[0])
                custom = _custom_types(msgspec.inspect.type_info(self.body.annotation), set())
            except (TypeError, ValueError) as error:
                raise RouteDefinitionError(
                    f"{_describe(handler)}: body parameter {self.body.name!r} has a type msgspec "
                    f"cannot decode: {error}"
                ) from error
            if custom:
                names = ", ".join(sorted({cls.__qualname__ for cls in custom}))
                raise RouteDefinitionError(
                    f"{_describe(handler)}: body parameter {self.body.name!r} uses {names}, which "
                    "JSON cannot be decoded into; use a msgspec Struct, dataclass or TypedDict"
                )

    def _raw_values(self, connection: HTTPConnection) -> dict[str, Any]:
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
                value = [_to_bool(item) for item in value] if field.multiple else _to_bool(value)
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
                    {
                        "loc": loc,
                        "msg": "Expected a finite number, got nan or inf",
                        "type": "value_error",
                    }
                )
                continue
            try:
                msgspec.convert(value, field.annotation, strict=False)
            except msgspec.ValidationError as error:
                errors.append(_field_error(loc, error))
        return errors

    def resolve_now(self, connection: HTTPConnection) -> dict[str, Any]:
        """Resolve a plan that reads no body (`reads_body` false), without awaiting.

        Raises:
            ValidationError: one or more parameters are missing or invalid; all are listed.
        """
        errors: list[FieldError] = []
        kwargs = self._scalar_kwargs(connection, errors)
        if errors:
            raise ValidationError(errors)
        self._inject(connection, kwargs)
        return kwargs

    async def resolve(self, connection: HTTPConnection) -> dict[str, Any]:
        """Read, convert and validate every parameter of the handler from `connection`.

        Raises:
            ValidationError: one or more parameters are missing or invalid; all are listed.
            UnsupportedMediaType: the body is not JSON.
            PayloadTooLarge: the body is over the size limit.
        """
        errors: list[FieldError] = []
        kwargs = self._scalar_kwargs(connection, errors)
        if self.body is not None:
            assert isinstance(connection, Request)
            body_error = await self._read_body(connection, kwargs)
            errors.extend(body_error)
        if self.form_fields:
            assert isinstance(connection, Request)
            errors.extend(_form_values(await connection.form(), self.form_fields, kwargs))
        if errors:
            raise ValidationError(errors)
        self._inject(connection, kwargs)
        return kwargs

    def _scalar_kwargs(
        self, connection: HTTPConnection, errors: list[FieldError]
    ) -> dict[str, Any]:
        """Convert the path, query, header and cookie parameters; add what is wrong to `errors`."""
        if self.struct_type is None:
            return {}
        raw = self._raw_values(connection)
        try:
            if self.finite_names and any(_has_non_finite(raw.get(n)) for n in self.finite_names):
                raise msgspec.ValidationError("nan or inf where a finite number is expected")
            values = msgspec.convert(raw, self.struct_type, strict=False)
        except msgspec.ValidationError:
            # Slow path, on bad input only: check field by field to report them all.
            errors.extend(self._scalar_errors(raw))
            return {}
        # The Struct's fields are the scalar parameters: one C call instead of a getattr
        # per field (benchmarks/: 3% of a request with 4 query params).
        return msgspec.structs.asdict(values)

    def _inject(self, connection: HTTPConnection, kwargs: dict[str, Any]) -> None:
        """Add the connection and background tasks the handler asks for."""
        for name, _source in self.injected:
            kwargs[name] = connection
        if self.background_names:
            tasks = background_tasks_for(connection.scope)
            for name in self.background_names:
                kwargs[name] = tasks

    async def _read_body(self, request: Request, kwargs: dict[str, Any]) -> list[FieldError]:
        field = self.body
        assert field is not None
        content_type = request.content_type
        if (
            content_type
            and content_type != "application/json"
            and not content_type.endswith("+json")
        ):
            raise UnsupportedMediaType(
                f"Expected a JSON body (Content-Type: application/json), got {content_type!r}"
            )
        body = await request.body()
        if not body.strip():
            if field.required:
                return [
                    {"loc": ["body"], "msg": "A JSON request body is required", "type": "missing"}
                ]
            kwargs[field.name] = copy.deepcopy(field.default)
            return []
        try:
            assert self.body_decoder is not None
            kwargs[field.name] = self.body_decoder.decode(body)
        except msgspec.ValidationError as error:
            return _body_errors(body, self.body_fields, error)
        except msgspec.DecodeError as error:
            message = str(error)
            if "(byte " not in message:
                # msgspec names the byte of every error but truncation, which is at the end.
                message = f"{message} (byte {len(body)})"
            return [{"loc": ["body"], "msg": f"Invalid JSON: {message}", "type": "json_invalid"}]
        except UnicodeDecodeError:
            return [{"loc": ["body"], "msg": _utf8_error(body), "type": "json_invalid"}]
        except RecursionError:
            return [
                {
                    "loc": ["body"],
                    "msg": "The JSON body is nested too deeply",
                    "type": "json_invalid",
                }
            ]
        return []


def _form_values(
    form: FormData, fields: Sequence[ParamField], kwargs: dict[str, Any]
) -> list[FieldError]:
    """Convert each form field, file and form model into `kwargs`; return the errors."""
    errors: list[FieldError] = []
    for field in fields:
        loc: list[str | int] = ["form", field.key]
        if field.model:
            errors.extend(_form_model(form, field, kwargs))
            continue
        values = _given(form.getlist(field.key))
        if not values:
            if field.required:
                errors.append({"loc": loc, "msg": "Field required", "type": "missing"})
            else:
                kwargs[field.name] = copy.deepcopy(field.default)
            continue
        value: Any = values if field.multiple else values[-1]
        if field.source == "file":
            if not all(isinstance(item, UploadFile) for item in values):
                errors.append(
                    {"loc": loc, "msg": "Expected a file, got a text field", "type": "type_error"}
                )
            else:
                kwargs[field.name] = value
            continue
        if not all(isinstance(item, str) for item in values):
            errors.append(
                {"loc": loc, "msg": "Expected a text field, got a file", "type": "type_error"}
            )
            continue
        if field.boolean:
            value = [_to_bool(item) for item in value] if field.multiple else _to_bool(value)
        if field.finite_only and _has_non_finite(value):
            errors.append(
                {
                    "loc": loc,
                    "msg": "Expected a finite number, got nan or inf",
                    "type": "value_error",
                }
            )
            continue
        try:
            kwargs[field.name] = msgspec.convert(value, field.annotation, strict=False)
        except msgspec.ValidationError as error:
            errors.append(_field_error(loc, error))
    return errors


def _given(values: list[Any]) -> list[Any]:
    """Drop what a browser sends for an empty input: "" and a file part with no file chosen."""
    return [
        value
        for value in values
        if value != ""
        and not (isinstance(value, UploadFile) and not value.filename and not value.size)
    ]


def _form_model(form: FormData, field: ParamField, kwargs: dict[str, Any]) -> list[FieldError]:
    """Fill a Struct, dataclass or TypedDict parameter from the whole form."""
    model, _ = _strip_optional(field.annotation)
    field_types = _object_fields(model)
    assert field_types is not None
    raw: dict[str, Any] = {}
    for key, (field_type, _) in field_types.items():
        values = _given(form.getlist(key))
        if not values:
            continue
        many = _is_sequence(field_type)
        if _is_kind(field_type, bool):
            values = [_to_bool(value) if isinstance(value, str) else value for value in values]
        raw[key] = values if many else values[-1]
    try:
        kwargs[field.name] = msgspec.convert(raw, model, strict=False)
        return []
    except msgspec.ValidationError as error:
        first = _field_error(["form"], error)
    errors: list[FieldError] = []
    for key, (field_type, required) in field_types.items():
        if key not in raw:
            if required:
                errors.append({"loc": ["form", key], "msg": "Field required", "type": "missing"})
            continue
        try:
            msgspec.convert(raw[key], field_type, strict=False)
        except msgspec.ValidationError as field_error:
            errors.append(_field_error(["form", key], field_error))
    return errors or [first]


def _to_bool(value: str) -> Any:
    lowered = value.strip().lower()
    if lowered in _TRUE_WORDS:
        return True
    if lowered in _FALSE_WORDS:
        return False
    return value


def _utf8_error(body: bytes) -> str:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"Invalid JSON: the body is not valid UTF-8 (byte {error.start})"
    return "Invalid JSON: the body is not valid UTF-8"


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_non_finite(item) for item in value)
    return isinstance(value, str) and value.strip().lower() in _NON_FINITE


def _body_errors(
    body: bytes, field_types: dict[str, tuple[Any, bool]] | None, error: msgspec.ValidationError
) -> list[FieldError]:
    """List every invalid top-level field of an object body, not just the first."""
    # msgspec's own message is the answer only when no field is found wrong below: built
    # then, not up front (benchmarks/: 10% of an invalid body's instructions).
    if field_types is None:
        return [_field_error(["body"], error)]
    try:
        document = decode_json(body)
    except (msgspec.DecodeError, RecursionError):
        return [_field_error(["body"], error)]
    except UnicodeDecodeError:
        # The first type error came before an invalid UTF-8 byte: report the bytes.
        return [{"loc": ["body"], "msg": _utf8_error(body), "type": "json_invalid"}]
    if not isinstance(document, dict):
        return [_field_error(["body"], error)]
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
    return errors or [_field_error(["body"], error)]


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
    if _is_dataclass(model):
        import dataclasses  # the user's model is a dataclass, so the module is loaded already

        return {
            item.name: (
                hints[item.name],
                item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING,
            )
            for item in dataclasses.fields(model)  # type: ignore[arg-type]  # _is_dataclass checked it
        }
    required = getattr(model, "__required_keys__", frozenset(hints))
    return {name: (hint, name in required) for name, hint in hints.items()}


def _is_model(model: type) -> bool:
    return _is_dataclass(model) or typing.is_typeddict(model)


__all__ = [
    "Body",
    "Cookie",
    "File",
    "Form",
    "Header",
    "Param",
    "ParamField",
    "ParamOptions",
    "ParamPlan",
    "Path",
    "Query",
    "compile_handler",
    "is_body_type",
]
