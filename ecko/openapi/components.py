"""Collect the types a document describes and turn them into schemas with one msgspec call."""

from __future__ import annotations

from typing import Any

import msgspec

from ecko.exceptions import FieldError

REF_TEMPLATE = "#/components/schemas/{name}"


class ProblemDetails(msgspec.Struct):
    """An error as RFC 9457 problem details, the shape of Ecko's default error responses."""

    type: str
    title: str
    status: int
    detail: Any


class ValidationProblem(ProblemDetails):
    """A 422 error: problem details listing every invalid input in `errors`."""

    errors: list[FieldError]


class SchemaCollector:
    """Types to describe, collected over the whole app, turned into schemas by one msgspec call.

    One call to `msgspec.json.schema_components` lets msgspec share components (a Struct used
    by two routes is described once) and name them without clashes.
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


__all__ = ["REF_TEMPLATE", "ProblemDetails", "SchemaCollector", "ValidationProblem"]
