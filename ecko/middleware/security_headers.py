"""Security headers middleware: HSTS, framing, referrer, CSP and permission headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import final

from ecko.datastructures import check_header_value
from ecko.requests import Request
from ecko.responses import Response

__all__ = [
    "DEFAULT_CONTENT_SECURITY_POLICY",
    "DEFAULT_PERMISSIONS_POLICY",
    "SecurityHeadersMiddleware",
    "security_headers",
]

CallNext = Callable[..., Awaitable[Response]]

DEFAULT_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
    "object-src 'none'"
)
"""Same-origin resources only, no plugins, never framed: strict for an API, workable for HTML
that keeps its scripts and styles in files served by the app."""

DEFAULT_PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
"""Browser features pages from this app never need, switched off for them and their frames."""

_FRAME_OPTIONS = ("DENY", "SAMEORIGIN")  # ALLOW-FROM is obsolete: browsers ignore it
_REFERRER_POLICIES = frozenset(
    (
        "no-referrer",
        "no-referrer-when-downgrade",
        "origin",
        "origin-when-cross-origin",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
    )
)
_OPENER_POLICIES = frozenset(("same-origin", "same-origin-allow-popups", "unsafe-none"))


def _check(argument: str, header: str, value: str | None) -> str | None:
    """Refuse a header value that is not text or could break the header block."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"security_headers({argument}=...) must be a str or None, got {value!r}")
    if not value.strip():
        raise ValueError(f"security_headers({argument}=...) is empty; pass None to leave it out")
    try:
        return check_header_value(header, value)
    except ValueError as error:
        raise ValueError(f"security_headers({argument}=...): {error}") from None


def _check_hsts(value: str | None) -> str | None:
    value = _check("hsts", "strict-transport-security", value)
    if value is not None:
        directives = [part.strip().lower() for part in value.split(";")]
        max_age = [part for part in directives if part.startswith("max-age=")]
        if len(max_age) != 1 or not max_age[0][8:].strip('"').isdigit():
            raise ValueError(
                f"security_headers(hsts={value!r}) needs one max-age in seconds, as in "
                "'max-age=31536000; includeSubDomains'"
            )
    return value


def _check_choice(
    argument: str, header: str, value: str | None, allowed: frozenset[str]
) -> str | None:
    value = _check(argument, header, value)
    if value is not None:
        for token in value.split(","):
            if token.strip().lower() not in allowed:
                choices = ", ".join(sorted(allowed))
                raise ValueError(
                    f"security_headers({argument}={value!r}): {token.strip()!r} is not one of "
                    f"{choices}"
                )
    return value


@final
class SecurityHeadersMiddleware:
    """The middleware `security_headers()` builds: the header list is fixed at construction."""

    def __init__(
        self,
        hsts: str | None,
        frame_options: str | None,
        referrer_policy: str | None,
        content_security_policy: str | None,
        permissions_policy: str | None,
        cross_origin_opener_policy: str | None,
    ) -> None:
        self.hsts = _check_hsts(hsts)
        frame_options = _check("frame_options", "x-frame-options", frame_options)
        if frame_options is not None:
            if frame_options.upper() not in _FRAME_OPTIONS:
                raise ValueError(
                    f"security_headers(frame_options={frame_options!r}) must be 'DENY' or "
                    "'SAMEORIGIN' (or None); for finer control use CSP frame-ancestors"
                )
            frame_options = frame_options.upper()
        headers = {
            "x-frame-options": frame_options,
            "referrer-policy": _check_choice(
                "referrer_policy", "referrer-policy", referrer_policy, _REFERRER_POLICIES
            ),
            "content-security-policy": _check(
                "content_security_policy", "content-security-policy", content_security_policy
            ),
            "permissions-policy": _check(
                "permissions_policy", "permissions-policy", permissions_policy
            ),
            "cross-origin-opener-policy": _check_choice(
                "cross_origin_opener_policy",
                "cross-origin-opener-policy",
                cross_origin_opener_policy,
                _OPENER_POLICIES,
            ),
        }
        self.headers = tuple((name, value) for name, value in headers.items() if value is not None)

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Add each configured header the response does not already carry."""
        response = await call_next()
        response_headers = response.headers
        for name, value in self.headers:
            if name not in response_headers:
                response_headers.append_validated(name, value)
        # RFC 6797, 7.2: HSTS sent over plain HTTP is ignored, and it would be misleading.
        if (
            self.hsts is not None
            and request.scope.get("scheme") == "https"
            and "strict-transport-security" not in response_headers
        ):
            response_headers.append_validated("strict-transport-security", self.hsts)
        return response


def security_headers(
    hsts: str | None = "max-age=31536000; includeSubDomains",
    frame_options: str | None = "DENY",
    referrer_policy: str | None = "strict-origin-when-cross-origin",
    content_security_policy: str | None = DEFAULT_CONTENT_SECURITY_POLICY,
    permissions_policy: str | None = DEFAULT_PERMISSIONS_POLICY,
    cross_origin_opener_policy: str | None = "same-origin",
) -> SecurityHeadersMiddleware:
    """Build a middleware that adds browser security headers to every response.

    A header the handler (or an inner middleware) already set is left as it is, so one
    route can loosen or tighten a policy. Pass None to leave a header out.

    Args:
        hsts: `Strict-Transport-Security`, sent on HTTPS responses only (one year and
            subdomains by default). Add `; preload` only once every subdomain serves HTTPS.
        frame_options: `X-Frame-Options`: "DENY" or "SAMEORIGIN".
        referrer_policy: `Referrer-Policy`.
        content_security_policy: `Content-Security-Policy`; the default allows same-origin
            resources only, which blocks the inline script of the OpenAPI docs page (see
            the docs for a policy that fits it).
        permissions_policy: `Permissions-Policy`.
        cross_origin_opener_policy: `Cross-Origin-Opener-Policy`.

    Raises:
        ValueError: a value is empty, holds CR, LF or NUL, or is not one the header accepts.
        TypeError: a value is not a str or None.
    """
    return SecurityHeadersMiddleware(
        hsts,
        frame_options,
        referrer_policy,
        content_security_policy,
        permissions_policy,
        cross_origin_opener_policy,
    )
