"""The exceptions users raise and catch: HTTP errors, validation errors, setup errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypedDict


class FieldError(TypedDict):
    """One invalid input: where it was (`loc`), what is wrong (`msg`), a stable `type`."""

    loc: list[str | int]
    msg: str
    type: str


# RFC 9110 names; Python's table uses the older names before 3.13.
_PHRASES = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}


def status_phrase(status_code: int) -> str:
    """Return the reason phrase for `status_code` ("Not Found"), or "Error" if unknown."""
    phrase = _PHRASES.get(status_code)
    if phrase is None:
        # Imported here: the common phrases are above (~0.5 ms of `import ecko`, benchmarks/).
        from http import HTTPStatus

        try:
            phrase = HTTPStatus(status_code).phrase
        except ValueError:
            phrase = "Error"
        if 100 <= status_code <= 599:
            # Remembered: the enum lookup cost 7% of every 404's instructions (benchmarks/).
            _PHRASES[status_code] = phrase
    return phrase


class HTTPException(Exception):
    """An error that becomes an HTTP response with `status_code` and `detail`.

    Args:
        status_code: the HTTP status to answer with.
        detail: a human-readable explanation; defaults to the status phrase.
        headers: extra response headers (for example `Retry-After`).
    """

    status_code: ClassVar[int] = 500
    default_detail: ClassVar[str | None] = None

    def __init__(
        self,
        status_code: int,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not 400 <= int(status_code) <= 599:
            raise ValueError(
                f"HTTPException needs an error status (400-599), got {status_code}; "
                "return a response for other statuses"
            )
        self.status_code = int(status_code)  # type: ignore[misc]
        if detail is None:
            detail = self.default_detail or status_phrase(self.status_code)
        self.detail: Any = detail
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, detail={self.detail!r})"


class _FixedStatusError(HTTPException):
    """An HTTP error whose status is its class: `NotFound("User not found")`."""

    def __init__(self, detail: Any = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(self.status_code, detail, headers)


class BadRequest(_FixedStatusError):
    """400 Bad Request."""

    status_code = 400


class Unauthorized(_FixedStatusError):
    """401 Unauthorized."""

    status_code = 401


class Forbidden(_FixedStatusError):
    """403 Forbidden."""

    status_code = 403


class NotFound(_FixedStatusError):
    """404 Not Found."""

    status_code = 404


class MethodNotAllowed(_FixedStatusError):
    """405 Method Not Allowed; `allowed` becomes the `Allow` header."""

    status_code = 405

    def __init__(
        self,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        allowed: Sequence[str] = (),
    ) -> None:
        merged = dict(headers or {})
        if allowed:
            merged.setdefault("Allow", ", ".join(allowed))
        super().__init__(detail, merged)
        self.allowed = tuple(allowed)


class Conflict(_FixedStatusError):
    """409 Conflict."""

    status_code = 409


class PayloadTooLarge(_FixedStatusError):
    """413 Content Too Large: the request body exceeds the configured limit."""

    status_code = 413


class UnsupportedMediaType(_FixedStatusError):
    """415 Unsupported Media Type: the body's Content-Type is not one the route reads."""

    status_code = 415


class ValidationError(_FixedStatusError):
    """422 Unprocessable Content, listing every invalid field in `errors`."""

    status_code = 422
    default_detail = "Request validation failed"

    def __init__(
        self,
        errors: Sequence[FieldError] | str | None = None,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(errors, str):
            detail, errors = errors, None
        super().__init__(detail, headers)
        self.errors: list[FieldError] = list(errors or [])


class TooManyRequests(_FixedStatusError):
    """429 Too Many Requests."""

    status_code = 429


class InternalServerError(_FixedStatusError):
    """500 Internal Server Error."""

    status_code = 500


class RouteDefinitionError(Exception):
    """A route, handler signature or hook cannot be registered as written."""


class AppStartedError(RuntimeError):
    """The application is already serving; routes, hooks and middleware are frozen."""


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
