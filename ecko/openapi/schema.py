"""Build the OpenAPI 3.1 document from an app's routes and the plans that validate requests."""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import msgspec

from ecko.app import Ecko
from ecko.forms import MULTIPART, URLENCODED
from ecko.openapi.components import (
    ProblemDetails,
    SchemaCollector,
    ValidationProblem,
)
from ecko.openapi.responses import ResponsePlan
from ecko.params import ParamField, _object_fields, _strip_optional, _upload_kind
from ecko.routing import Route

OPENAPI_VERSION = "3.1.0"

# The order of operations in a path item in the OpenAPI specification.
_METHOD_ORDER = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")
_SCALAR_SOURCES = ("path", "query", "header", "cookie")
_FORM_SOURCES = ("form", "file")
_BINARY = {"type": "string", "format": "binary"}

SecurityRequirement = str | Mapping[str, Sequence[str]]
"""A security scheme's name (no scopes) or an OpenAPI Security Requirement Object."""


class _FormPart(NamedTuple):
    """One field of a form body; `schema` indexes its queued schema, None for a file."""

    key: str
    required: bool
    schema: int | None
    many: bool
    field: ParamField | None


class _Operation:
    """One route and method, with the indexes of its schemas until they are generated."""

    def __init__(self, route: Route, method: str, operation_id: str, responses: ResponsePlan):
        self.route = route
        self.method = method
        self.operation_id = operation_id
        self.parameters: list[tuple[ParamField, int]] = []
        self.body: tuple[ParamField, int] | None = None
        self.form: list[_FormPart] = []
        self.responses = responses

    @property
    def validates(self) -> bool:
        """Say whether the route reads input, and so may answer 422."""
        return bool(self.parameters or self.body is not None or self.form)


def build_document(
    app: Ecko[Any],
    *,
    title: str = "Ecko",
    version: str = "0.1.0",
    description: str | None = None,
    summary: str | None = None,
    servers: Sequence[str | Mapping[str, Any]] | None = None,
    tags: Sequence[str | Mapping[str, Any]] | None = None,
    contact: Mapping[str, Any] | None = None,
    license: str | Mapping[str, Any] | None = None,  # noqa: A002 - OpenAPI's own name
    terms_of_service: str | None = None,
    external_docs: str | Mapping[str, Any] | None = None,
    security_schemes: Mapping[str, Mapping[str, Any]] | None = None,
    security: Sequence[SecurityRequirement] | None = None,
) -> dict[str, Any]:
    """Describe every HTTP route of `app` shown in the schema as an OpenAPI 3.1 document.

    Parameters, bodies and their constraints come from each route's `ParamPlan`, the plan
    that validates requests; response schemas come from the handlers' return annotations
    and the routes' `responses=`.

    Args:
        app: the application whose routes are described.
        title: `info.title`.
        version: `info.version`, the version of the API (not of Ecko or OpenAPI).
        description: `info.description`, Markdown allowed.
        summary: `info.summary`, one line.
        servers: base URLs ("https://api.example.com") or OpenAPI Server Objects.
        tags: tag names or OpenAPI Tag Objects (`{"name": ..., "description": ...}`),
            listed in this order by documentation tools.
        contact: `info.contact`: `{"name": ..., "url": ..., "email": ...}`.
        license: `info.license`: an SPDX identifier ("MIT") or a License Object.
        terms_of_service: `info.termsOfService`, a URL.
        external_docs: a URL or an External Documentation Object.
        security_schemes: `components.securitySchemes`, by name.
        security: the requirements of every operation whose route sets no `security=`.
    """
    schemas = SchemaCollector()
    problem_index = schemas.add(ProblemDetails)
    validation_index = schemas.add(ValidationProblem)
    operations = _collect_operations(app, schemas, problem_index)
    generated, components = schemas.generate()
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        path_item = paths.setdefault(_openapi_path(operation.route), {})
        path_item[operation.method.lower()] = _operation_object(
            operation, generated, generated[validation_index]
        )
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": _info(title, version, description, summary, contact, license, terms_of_service),
    }
    if servers:
        document["servers"] = [{"url": s} if isinstance(s, str) else dict(s) for s in servers]
    document["paths"] = paths
    document["components"] = {"schemas": dict(sorted(components.items()))}
    if security_schemes:
        document["components"]["securitySchemes"] = {
            name: dict(scheme) for name, scheme in security_schemes.items()
        }
    if security is not None:
        document["security"] = _security(security)
    if tags:
        document["tags"] = [{"name": t} if isinstance(t, str) else dict(t) for t in tags]
    if external_docs:
        document["externalDocs"] = _external_docs(external_docs)
    return document


def _info(
    title: str,
    version: str,
    description: str | None,
    summary: str | None,
    contact: Mapping[str, Any] | None,
    license: str | Mapping[str, Any] | None,  # noqa: A002 - OpenAPI's own name
    terms_of_service: str | None,
) -> dict[str, Any]:
    info: dict[str, Any] = {"title": title, "version": version}
    if summary is not None:
        info["summary"] = summary
    if description is not None:
        info["description"] = description
    if terms_of_service is not None:
        info["termsOfService"] = terms_of_service
    if contact:
        info["contact"] = dict(contact)
    if license:
        # A bare string is an SPDX identifier, which OpenAPI 3.1 takes as `identifier`.
        info["license"] = (
            {"name": license, "identifier": license} if isinstance(license, str) else dict(license)
        )
    return info


def _external_docs(external_docs: str | Mapping[str, Any]) -> dict[str, Any]:
    return {"url": external_docs} if isinstance(external_docs, str) else dict(external_docs)


def _security(requirements: Sequence[SecurityRequirement]) -> list[dict[str, list[str]]]:
    return [
        {item: []}
        if isinstance(item, str)
        else {name: list(scopes) for name, scopes in item.items()}
        for item in requirements
    ]


def _collect_operations(
    app: Ecko[Any], schemas: SchemaCollector, problem_index: int
) -> list[_Operation]:
    operations: list[_Operation] = []
    used_ids: set[str] = set()
    for route in app.routes:
        if not isinstance(route, Route) or not route.include_in_schema:
            continue
        methods = sorted(route.methods, key=_METHOD_ORDER.index)
        name = route.operation_id or str(route.name)
        for method in methods:
            base = name if len(methods) == 1 else f"{name}_{method.lower()}"
            responses = ResponsePlan(route, schemas, problem_index)
            operation = _Operation(route, method, _unique(base, used_ids), responses)
            for field in route.plan.fields:
                if field.source in _SCALAR_SOURCES:
                    operation.parameters.append((field, schemas.add(field.annotation)))
                elif field.source in _FORM_SOURCES:
                    operation.form.extend(_form_parts(field, schemas))
            body = route.plan.body
            if body is not None:
                operation.body = (body, schemas.add(body.annotation))
            operations.append(operation)
    return operations


def _unique(base: str, used: set[str]) -> str:
    """Return `base`, or `base_2`, `base_3`...: registration order decides, so ids are stable."""
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


def _operation_object(
    operation: _Operation, generated: list[dict[str, Any]], validation_schema: dict[str, Any]
) -> dict[str, Any]:
    route = operation.route
    result: dict[str, Any] = {}
    if route.tags:
        result["tags"] = list(route.tags)
    summary, description = summary_and_description(route)
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
    elif operation.form:
        result["requestBody"] = _form_body(operation.form, generated)
    validation = validation_schema if operation.validates else None
    result["responses"] = operation.responses.render(generated, validation)
    if route.deprecated:
        result["deprecated"] = True
    if route.security is not None:
        result["security"] = _security(route.security)
    return result


def summary_and_description(route: Route) -> tuple[str | None, str | None]:
    """Return the operation's summary and description.

    From the docstring, the first line is the summary and the rest the description; a
    one-line docstring is both. `summary=` and `description=` on the route win.
    """
    doc = inspect.getdoc(route.handler)
    summary, description = route.summary, route.description
    if not doc:
        return summary, description
    first_line, _, rest = doc.partition("\n")
    rest = inspect.cleandoc(rest) if rest.strip() else ""
    if summary == doc.split("\n\n")[0].replace("\n", " "):
        # Route derived the summary from the docstring's first paragraph.
        summary = first_line.strip()
    if description == doc:
        description = rest or doc
    return summary, description


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


def _with_default(field: ParamField, schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    if not field.required:
        ok, default = _json_value(field.default)
        if ok:
            schema["default"] = default
    return schema


def _parameter(field: ParamField, schema: dict[str, Any]) -> dict[str, Any]:
    marker = field.marker
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
    parameter["schema"] = _with_default(field, schema)
    examples = _examples(field)
    if examples:
        parameter["examples"] = examples
    return parameter


def _examples(field: ParamField) -> dict[str, Any]:
    marker = field.marker
    examples: dict[str, Any] = {}
    if marker is not None and marker.examples:
        for number, example in enumerate(marker.examples, start=1):
            ok, value = _json_value(example)
            if ok:
                examples[f"example{number}"] = {"value": value}
    return examples


def _request_body(field: ParamField, schema: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if field.description:
        body["description"] = field.description
    media: dict[str, Any] = {"schema": schema}
    examples = _examples(field)
    if examples:
        media["examples"] = examples
    body["content"] = {"application/json": media}
    body["required"] = field.required
    return body


def _form_parts(field: ParamField, schemas: SchemaCollector) -> list[_FormPart]:
    """Split a `Form()`/`File()` parameter into the form's fields, as the plan reads them."""
    if field.source == "file":
        return [_FormPart(field.key, field.required, None, field.multiple, field)]
    if not field.model:
        return [_FormPart(field.key, field.required, schemas.add(field.annotation), False, field)]
    # A Struct, dataclass or TypedDict filled from the whole form: one form field per
    # attribute, with the names and required flags the plan fills it with.
    model, _ = _strip_optional(field.annotation)
    parts = []
    for key, (field_type, required) in (_object_fields(model) or {}).items():
        upload = _upload_kind(field_type)
        index = None if upload is not None else schemas.add(field_type)
        parts.append(_FormPart(key, required and field.required, index, upload == "many", None))
    return parts


def _form_body(parts: list[_FormPart], generated: list[dict[str, Any]]) -> dict[str, Any]:
    """Describe `Form()` and `File()` parameters as one form body, a property per field."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for part in parts:
        if part.schema is None:
            # An upload: the part's bytes, as OpenAPI and Swagger UI's file picker expect.
            schema: dict[str, Any] = (
                {"type": "array", "items": dict(_BINARY)} if part.many else dict(_BINARY)
            )
        elif part.field is not None:
            schema = _with_default(part.field, generated[part.schema])
        else:
            schema = dict(generated[part.schema])
        if part.field is not None and part.field.description:
            schema.setdefault("description", part.field.description)
        properties[part.key] = schema
        if part.required:
            required.append(part.key)
    object_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        object_schema["required"] = required
    # Files need multipart; plain fields are read from either encoding.
    media_types = (
        [MULTIPART] if any(part.schema is None for part in parts) else [URLENCODED, MULTIPART]
    )
    content = {media_type: {"schema": object_schema} for media_type in media_types}
    return {"content": content, "required": bool(required)}


__all__ = ["OPENAPI_VERSION", "SecurityRequirement", "build_document", "summary_and_description"]
