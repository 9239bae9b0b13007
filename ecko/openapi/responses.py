"""Describe an operation's responses: the return annotation, `responses=`, and the 422 problem."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Mapping, MutableMapping
from typing import Any, Union, get_args, get_origin

from ecko.datastructures import MutableHeaders
from ecko.error_handlers import PROBLEM_JSON
from ecko.exceptions import status_phrase
from ecko.openapi.components import ProblemDetails, SchemaCollector
from ecko.responses import Response
from ecko.routing import Route

NO_ANNOTATION: Any = inspect.Parameter.empty
VALIDATION_DESCRIPTION = "Validation Error: a parameter or the body is missing or invalid"


class _Described:
    """One documented response: description, media type and the index of its schema."""

    __slots__ = ("description", "extra", "media_type", "schema")

    def __init__(
        self,
        description: str,
        media_type: str | None = None,
        schema: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.description = description
        self.media_type = media_type
        self.schema = schema
        self.extra = dict(extra) if extra else {}

    def render(self, status: str, generated: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {"description": self.description}
        # 1xx, 204 and 304 responses have no content (RFC 9110, 6.4.1 and 15.4.5).
        no_content = status.isdigit() and (int(status) < 200 or int(status) in (204, 304))
        if self.media_type is not None and not no_content:
            media: dict[str, Any] = {}
            if self.schema is not None:
                media["schema"] = generated[self.schema]
            result["content"] = {self.media_type: media}
        result.update(self.extra)
        return result


class ResponsePlan:
    """The responses of one route, with their schemas queued in a `SchemaCollector`.

    The success response takes the route's `status_code` and the return annotation; each
    `responses={status: ...}` entry adds or replaces one status.
    """

    def __init__(self, route: Route, schemas: SchemaCollector, problem_index: int) -> None:
        self.status_code = route.status_code
        self.success = _Described(_phrase(route.status_code))
        self.extra: dict[str, _Described] = {}
        self._describe_success(return_annotation(route), schemas)
        for key, value in route.responses.items():
            status = str(key)
            if status == str(self.status_code):
                self.success = _declared(status, value, schemas, problem_index)
            else:
                self.extra[status] = _declared(status, value, schemas, problem_index)

    def _describe_success(self, annotation: Any, schemas: SchemaCollector) -> None:
        success = self.success
        if annotation is NO_ANNOTATION:
            # Unannotated: most handlers return dicts; the schema says nothing more.
            success.media_type = "application/json"
            success.schema = schemas.add(Any)
            return
        if annotation is None or annotation is type(None):
            # `to_response(None)` is an empty 204 unless the route sets another status.
            if self.status_code == 200:
                self.status_code = 204
                success.description = status_phrase(204)
            return
        without_none = _without_none(annotation)
        if without_none is not annotation and self.status_code == 200:
            # `-> X | None`: returning None answers 204 No Content.
            self.extra["204"] = _Described(status_phrase(204))
        annotation = without_none
        inner = _body_of_tuple(annotation)
        if inner is not None:
            self._describe_success(inner, schemas)
            return
        if isinstance(annotation, type) and issubclass(annotation, Response):
            # A Response carries its own body and media type; only the class's is known here.
            success.media_type = annotation.media_type
            return
        if annotation is str:
            success.media_type = "text/plain"
            success.schema = schemas.add(str)
            return
        if annotation in (bytes, bytearray, memoryview):
            success.media_type = "application/octet-stream"
            return
        success.media_type = "application/json"
        success.schema = schemas.add(annotation)

    def render(
        self,
        generated: list[dict[str, Any]],
        validation: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Return the Responses Object; `validation` is the 422 schema for routes that validate."""
        status = str(self.status_code)
        responses: dict[str, Any] = {status: self.success.render(status, generated)}
        if validation is not None and "422" not in self.extra:
            responses["422"] = {
                "description": VALIDATION_DESCRIPTION,
                "content": {PROBLEM_JSON: {"schema": validation}},
            }
        for extra_status, described in self.extra.items():
            responses[extra_status] = described.render(extra_status, generated)
        return dict(sorted(responses.items(), key=lambda item: _status_order(item[0])))


def _status_order(status: str) -> tuple[int, str]:
    # Numeric codes in order, then ranges such as 4XX, then "default" (as tools list them).
    if status.isdigit():
        return (int(status), "")
    return (1000, status) if status != "default" else (2000, status)


def _declared(status: str, value: Any, schemas: SchemaCollector, problem_index: int) -> _Described:
    """Turn one `responses=` entry (a type, a description, None or a mapping) into a response."""
    phrase = _phrase(int(status)) if status.isdigit() else "Response"
    is_error = status == "default" or status[:1] in ("4", "5")
    if value is None:
        return _Described(phrase)
    if isinstance(value, str):
        # A description alone: for an error, the body Ecko's HTTPException sends.
        if is_error:
            return _Described(value, PROBLEM_JSON, problem_index)
        return _Described(value)
    if isinstance(value, Mapping):
        options = dict(value)
        description = str(options.pop("description", phrase))
        model = options.pop("model", NO_ANNOTATION)
        media_type = options.pop("media_type", None)
        if model is NO_ANNOTATION:
            return _Described(description, media_type, None, options)
        described = _model(description, model, media_type, schemas)
        described.extra = options
        return described
    return _model(phrase, value, None, schemas)


def _model(
    description: str, model: Any, media_type: str | None, schemas: SchemaCollector
) -> _Described:
    if media_type is None:
        is_problem = isinstance(model, type) and issubclass(model, ProblemDetails)
        media_type = PROBLEM_JSON if is_problem else "application/json"
    return _Described(description, media_type, schemas.add(model))


def _phrase(status: int) -> str:
    # status_phrase() says "Error" for codes without a name, which misleads below 400.
    phrase = status_phrase(status)
    return "Response" if phrase == "Error" and status < 400 else phrase


def return_annotation(route: Route) -> Any:
    """Return the handler's evaluated return annotation, or `NO_ANNOTATION`."""
    try:
        hints = typing.get_type_hints(route.handler, include_extras=True)
    except (NameError, TypeError):
        return NO_ANNOTATION
    return hints.get("return", NO_ANNOTATION)


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


__all__ = ["NO_ANNOTATION", "VALIDATION_DESCRIPTION", "ResponsePlan", "return_annotation"]
