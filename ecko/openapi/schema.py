"""Build the OpenAPI 3.1 document from an app's routes and the plans that validate requests."""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, Union, get_args, get_origin

import msgspec

from ecko.app import Ecko
from ecko.datastructures import MutableHeaders
from ecko.error_handlers import PROBLEM_JSON
from ecko.exceptions import FieldError, status_phrase
from ecko.params import ParamField
from ecko.responses import Response
from ecko.routing import Route

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{name}"

# The order of operations in a path item in the OpenAPI specification.
_METHOD_ORDER = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")
_NO_ANNOTATION: Any = inspect.Parameter.empty


class ProblemDetails(msgspec.Struct):
    """An error as RFC 9457 problem details, the shape of Ecko's default error responses."""

    type: str
    title: str
    status: int
    detail: Any


class ValidationProblem(ProblemDetails):
    """A 422 error: problem details listing every invalid input in `errors`."""

    errors: list[FieldError]


class _Schemas:
    """Types to describe, collected over the whole app, turned into schemas by one msgspec call.

    One call lets msgspec share components (a Struct used by two routes is described once)
    and name them without clashes.
    """

    def __init__(self) -> None:
        self.types: list[Any] = []

    def add(self, annotation: Any) -> int:
        """Queue `annotation` and return its index in `generate()`'s list."""
        self.types.append(annotation)
        return len(self.types) - 1

    def generate(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Return each queued type's schema and the shared component schemas."""
        try:
            schemas, components = msgspec.json.schema_components(
                self.types, ref_template=REF_TEMPLATE
            )
        except (TypeError, ValueError):
            # A type msgspec cannot describe (a custom class in a return annotation) is
            # documented as any value, rather than failing the whole document.
            usable = [kind if _describable(kind) else Any for kind in self.types]
            schemas, components = msgspec.json.schema_components(usable, ref_template=REF_TEMPLATE)
        return list(schemas), dict(components)


def _describable(annotation: Any) -> bool:
    try:
        msgspec.json.schema_components([annotation], ref_template=REF_TEMPLATE)
    except (TypeError, ValueError):
        return False
    return True


class _Operation:
    """One route and method, with the indexes of its schemas until they are generated."""

    def __init__(self, route: Route, method: str, operation_id: str) -> None:
        self.route = route
        self.method = method
        self.operation_id = operation_id
        self.parameters: list[tuple[ParamField, int]] = []
        self.body: tuple[ParamField, int] | None = None
        self.status_code = route.status_code
        self.media_type: str | None = None
        self.response_schema: int | None = None


def build_document(
    app: Ecko[Any],
    *,
    title: str = "Ecko",
    version: str = "0.1.0",
    description: str | None = None,
    servers: Sequence[str | Mapping[str, Any]] | None = None,
    tags: Sequence[str | Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Describe every HTTP route of `app` shown in the schema as an OpenAPI 3.1 document.

    Parameters, bodies and their constraints come from each route's `ParamPlan`, the plan
    that validates requests; response schemas come from the handlers' return annotations.

    Args:
        app: the application whose routes are described.
        title: `info.title`.
        version: `info.version`, the version of the API (not of Ecko or OpenAPI).
        description: `info.description`, Markdown allowed.
        servers: base URLs ("https://api.example.com") or OpenAPI Server Objects.
        tags: tag names or OpenAPI Tag Objects (`{"name": ..., "description": ...}`),
            listed in this order by documentation tools.
    """
    schemas = _Schemas()
    schemas.add(ProblemDetails)
    validation_index = schemas.add(ValidationProblem)
    operations = _collect_operations(app, schemas)
    generated, components = schemas.generate()
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        path_item = paths.setdefault(_openapi_path(operation.route), {})
        path_item[operation.method.lower()] = _operation_object(
            operation, generated, generated[validation_index]
        )
    info: dict[str, Any] = {"title": title, "version": version}
    if description is not None:
        info["description"] = description
    document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
    if servers:
        document["servers"] = [{"url": s} if isinstance(s, str) else dict(s) for s in servers]
    document["paths"] = paths
    document["components"] = {"schemas": dict(sorted(components.items()))}
    if tags:
        document["tags"] = [{"name": t} if isinstance(t, str) else dict(t) for t in tags]
    return document


def _collect_operations(app: Ecko[Any], schemas: _Schemas) -> list[_Operation]:
    operations: list[_Operation] = []
    used_ids: set[str] = set()
    for route in app.routes:
        if not isinstance(route, Route) or not route.include_in_schema:
            continue
        methods = sorted(route.methods, key=_METHOD_ORDER.index)
        name = str(route.name)
        for method in methods:
            base = name if len(methods) == 1 else f"{name}_{method.lower()}"
            operation = _Operation(route, method, _unique(base, used_ids))
            for field in route.plan.scalars:
                operation.parameters.append((field, schemas.add(field.annotation)))
            body = route.plan.body
            if body is not None:
                operation.body = (body, schemas.add(body.annotation))
            _describe_success(operation, _return_annotation(route), schemas)
            operations.append(operation)
    return operations


def _unique(base: str, used: set[str]) -> str:
    candidate, number = base, 1
    while candidate in used:
        number += 1
        candidate = f"{base}_{number}"
    used.add(candidate)
    return candidate


def _openapi_path(route: Route) -> str:
    # `{name:path}` is Ecko's rest-of-path parameter; OpenAPI templates only know `{name}`.
    parts = [f"{{{s.param}}}" if s.param is not None else s.text for s in route.segments]
    return "/" + "/".join(parts)


def _return_annotation(route: Route) -> Any:
    try:
        hints = typing.get_type_hints(route.handler, include_extras=True)
    except (NameError, TypeError):
        return _NO_ANNOTATION
    return hints.get("return", _NO_ANNOTATION)


def _without_none(annotation: Any) -> Any:
    """Return `X` for `X | None`: None answers 204, described by the success status alone."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_headers_type(annotation: Any) -> bool:
    origin = get_origin(annotation) or annotation
    return origin in (dict, Mapping, MutableMapping, MutableHeaders)


def _body_of_tuple(annotation: Any) -> Any:
    """Return `X` for `tuple[X, int]`, `tuple[X, int, headers]`, `tuple[X, headers]`, else None.

    `to_response()` reads such tuples as a body with a status and/or headers.
    """
    if get_origin(annotation) is not tuple:
        return None
    args = get_args(annotation)
    status_or_headers = len(args) == 2 and (args[1] is int or _is_headers_type(args[1]))
    status_and_headers = len(args) == 3 and args[1] is int and _is_headers_type(args[2])
    return args[0] if status_or_headers or status_and_headers else None


def _describe_success(operation: _Operation, annotation: Any, schemas: _Schemas) -> None:
    """Set the success status, media type and schema from the handler's return annotation."""
    if annotation is _NO_ANNOTATION:
        # Unannotated: most handlers return dicts; the schema says nothing more.
        operation.media_type = "application/json"
        operation.response_schema = schemas.add(Any)
        return
    if annotation is None or annotation is type(None):
        # `to_response(None)` is an empty 204 unless the route sets another status.
        if operation.status_code == 200:
            operation.status_code = 204
        return
    annotation = _without_none(annotation)
    inner = _body_of_tuple(annotation)
    if inner is not None:
        _describe_success(operation, inner, schemas)
        return
    if isinstance(annotation, type) and issubclass(annotation, Response):
        # A Response carries its own body and media type; only the class's is known here.
        operation.media_type = annotation.media_type
        return
    if annotation is str:
        operation.media_type = "text/plain"
        operation.response_schema = schemas.add(str)
        return
    if annotation in (bytes, bytearray, memoryview):
        operation.media_type = "application/octet-stream"
        return
    operation.media_type = "application/json"
    operation.response_schema = schemas.add(annotation)


def _operation_object(
    operation: _Operation, generated: list[dict[str, Any]], validation_schema: dict[str, Any]
) -> dict[str, Any]:
    route = operation.route
    result: dict[str, Any] = {}
    if route.tags:
        result["tags"] = list(route.tags)
    summary, description = _summary_and_description(route)
    if summary:
        result["summary"] = summary
    if description:
        result["description"] = description
    result["operationId"] = operation.operation_id
    parameters = [_parameter(field, generated[index]) for field, index in operation.parameters]
    declared = {field.key for field, _ in operation.parameters if field.source == "path"}
    for name in route.param_names:
        if name not in declared:
            # Not a handler argument, but the template still has it (request.path_params).
            parameters.append(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            )
    if parameters:
        result["parameters"] = parameters
    if operation.body is not None:
        field, index = operation.body
        result["requestBody"] = _request_body(field, generated[index])
    result["responses"] = _responses(operation, generated, validation_schema)
    if route.deprecated:
        result["deprecated"] = True
    return result


def _summary_and_description(route: Route) -> tuple[str | None, str | None]:
    """The route's summary and description, without repeating the docstring's first paragraph."""
    description = route.description
    if description is not None and description == inspect.getdoc(route.handler):
        # Route derives both from the docstring: the summary is its first paragraph.
        _, _, rest = description.partition("\n\n")
        if rest.strip():
            description = rest.strip()
    return route.summary, description


def _json_value(value: Any) -> tuple[bool, Any]:
    """Return `(True, value as JSON builtins)`, or `(False, None)` when JSON cannot hold it."""
    try:
        builtins = msgspec.to_builtins(value)
    except (TypeError, ValueError):
        return False, None
    # JSON has no nan or inf: msgspec would write null, which contradicts a number schema.
    return (False, None) if _has_non_finite(builtins) else (True, builtins)


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(item) for item in value)
    return False


def _parameter(field: ParamField, schema: dict[str, Any]) -> dict[str, Any]:
    marker = field.marker
    schema = dict(schema)
    if not field.required:
        ok, default = _json_value(field.default)
        if ok:
            schema["default"] = default
    parameter: dict[str, Any] = {
        "name": field.key,
        "in": field.source,
        # OpenAPI requires path parameters; a path value is always present when a route matches.
        "required": field.required or field.source == "path",
    }
    if field.description:
        parameter["description"] = field.description
    if marker is not None and marker.deprecated:
        parameter["deprecated"] = True
    if field.source == "query" and field.multiple:
        # `?tag=a&tag=b`: what ParamPlan reads with QueryParams.getlist().
        parameter["style"] = "form"
        parameter["explode"] = True
    parameter["schema"] = schema
    if marker is not None and marker.examples:
        examples = {}
        for number, example in enumerate(marker.examples, start=1):
            ok, value = _json_value(example)
            if ok:
                examples[f"example{number}"] = {"value": value}
        if examples:
            parameter["examples"] = examples
    return parameter


def _request_body(field: ParamField, schema: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if field.description:
        body["description"] = field.description
    body["content"] = {"application/json": {"schema": schema}}
    body["required"] = field.required
    return body


def _responses(
    operation: _Operation, generated: list[dict[str, Any]], validation_schema: dict[str, Any]
) -> dict[str, Any]:
    status = operation.status_code
    success: dict[str, Any] = {"description": status_phrase(status)}
    # 1xx, 204 and 304 responses have no content (RFC 9110, 6.4.1).
    if operation.media_type is not None and status >= 200 and status not in (204, 304):
        media: dict[str, Any] = {}
        if operation.response_schema is not None:
            media["schema"] = generated[operation.response_schema]
        success["content"] = {operation.media_type: media}
    responses: dict[str, Any] = {str(status): success}
    if operation.parameters or operation.body is not None:
        responses["422"] = {
            "description": "Validation Error: a parameter or the body is missing or invalid",
            "content": {PROBLEM_JSON: {"schema": validation_schema}},
        }
    return responses


__all__ = ["OPENAPI_VERSION", "ProblemDetails", "ValidationProblem", "build_document"]
