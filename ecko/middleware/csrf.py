"""CSRF protection: a signed double-submit token, checked on every unsafe request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, final
from urllib.parse import parse_qs, urlsplit

from ecko.context import context
from ecko.exceptions import Forbidden
from ecko.middleware.sessions import MIN_SECRET_LENGTH
from ecko.requests import Request
from ecko.responses import Response

__all__ = ["SAFE_METHODS", "SESSION_KEY", "CSRFError", "CSRFMiddleware", "csrf"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""Methods that must not change state (RFC 9110, 9.2.1), so never checked."""

SESSION_KEY = "_csrf_token"
"""Where the token is kept in `context.session` when `sessions()` runs before `csrf()`."""

DEFAULT_MAX_AGE = 365 * 24 * 60 * 60
"""The CSRF cookie lasts a year: it holds no user data, only the random token."""

# Domain separation: the same secret given to sessions() yields an unrelated key here.
_KEY_LABEL = b"ecko.middleware.csrf token key v1"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_DEFAULT_PORTS = {"http": 80, "https": 443}

CallNext = Callable[..., Awaitable[Response]]


class CSRFError(Forbidden):
    """403: an unsafe request failed the CSRF check; `reason` says which part."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"CSRF check failed: {reason}")
        self.reason = reason


def _keys(secret: str | bytes | Sequence[str | bytes]) -> tuple[bytes, ...]:
    secrets_list = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    if not secrets_list:
        raise ValueError("csrf(secret=...) needs at least one secret")
    keys: list[bytes] = []
    for item in secrets_list:
        if not isinstance(item, (str, bytes)):
            raise TypeError(f"csrf(secret=...) takes str or bytes, got {type(item).__name__}")
        if len(item) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"csrf(secret=...) must be at least {MIN_SECRET_LENGTH} characters; generate "
                "one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        material = item.encode("utf-8") if isinstance(item, str) else item
        keys.append(hmac.new(material, _KEY_LABEL, hashlib.sha256).digest())
    return tuple(keys)


def _signature(key: bytes, nonce: str) -> str:
    digest = hmac.new(key, nonce.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _same(first: str, second: str) -> bool:
    """Compare in constant time; any str is accepted (non-ASCII simply never matches)."""
    return hmac.compare_digest(first.encode("utf-8", "replace"), second.encode("utf-8", "replace"))


def _exempt_paths(paths: Sequence[str]) -> tuple[str, ...]:
    if isinstance(paths, str):
        raise TypeError(f"csrf(exempt_paths=...) takes a list, like [{paths!r}]")
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(
                f"csrf(exempt_paths=...): {path!r} must be a path starting with '/' "
                "(end it with '*' to exempt everything below it)"
            )
    return tuple(paths)


def _is_exempt(path: str, patterns: tuple[str, ...]) -> bool:
    return any(
        path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern
        for pattern in patterns
    )


def _origin(url: str) -> str | None:
    """Return `scheme://host[:port]` of `url` (default port dropped), or None if malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@final
class CSRFMiddleware:
    """The middleware `csrf()` builds; see there for the options."""

    def __init__(
        self,
        secret: str | bytes | Sequence[str | bytes],
        *,
        cookie_name: str,
        header_name: str,
        field_name: str,
        exempt_paths: Sequence[str],
        check_origin: bool,
        trusted_origins: Sequence[str],
        max_age: int | None,
        path: str,
        domain: str | None,
        secure: bool | None,
        httponly: bool,
        samesite: str | None,
    ) -> None:
        self._keys = _keys(secret)
        self.cookie_name = cookie_name
        self.header_name = header_name.lower()
        self.field_name = field_name
        self.exempt_paths = _exempt_paths(exempt_paths)
        self.check_origin = check_origin
        if isinstance(trusted_origins, str):
            raise TypeError(f"csrf(trusted_origins=...) takes a list, like [{trusted_origins!r}]")
        trusted: set[str] = set()
        for origin in trusted_origins:
            normalized = _origin(origin) if isinstance(origin, str) else None
            if normalized is None or urlsplit(origin).path not in ("", "/") or "?" in origin:
                raise ValueError(
                    f"csrf(trusted_origins=...): {origin!r} must be 'scheme://host[:port]', "
                    "like 'https://admin.example.com'"
                )
            trusted.add(normalized)
        self.trusted_origins = frozenset(trusted)
        self._cookie: dict[str, Any] = {
            "max_age": max_age,
            "path": path,
            "domain": domain,
            "httponly": httponly,
            "samesite": samesite,
        }
        self.secure = secure
        # Set one throwaway cookie now so a bad name or attribute fails at start-up.
        none_site = samesite is not None and samesite.lower() == "none"
        self._none_site = none_site
        Response().set_cookie(
            cookie_name, "probe", secure=bool(secure) or none_site, **self._cookie
        )

    def new_token(self) -> str:
        """Make a fresh token: a random nonce and its signature, `nonce.signature`."""
        nonce = secrets.token_urlsafe(32)
        return f"{nonce}.{_signature(self._keys[0], nonce)}"

    def is_valid(self, token: str) -> bool:
        """Tell whether `token` was made by `new_token()` with one of the secrets."""
        nonce, dot, signature = token.partition(".")
        if not dot or not nonce.isascii() or not signature:
            return False
        # Check every key (no early exit) so timing says nothing about which one matched.
        results = [_same(signature, _signature(key, nonce)) for key in self._keys]
        return any(results)

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Expose `context.csrf_token`; refuse unsafe requests whose token does not match."""
        cookie = request.cookies.get(self.cookie_name)
        valid_cookie = cookie is not None and self.is_valid(cookie)
        session = request.scope.get("session")
        fresh_session_token = False
        if isinstance(session, MutableMapping):
            token, fresh_session_token = self._session_token(session)
        else:
            session = None
            token = cookie if cookie is not None and valid_cookie else self.new_token()
        context.csrf_token = token
        try:
            if request.method not in SAFE_METHODS and not _is_exempt(
                request.path, self.exempt_paths
            ):
                if self.check_origin and request.scope.get("scheme") == "https":
                    self._check_origin(request)
                if session is None:
                    self._check_cookie(cookie, valid_cookie)
                elif fresh_session_token:
                    raise CSRFError(
                        "the session held no CSRF token (new or expired session); "
                        "load the page with the form again"
                    )
                submitted = await self._submitted_token(request)
                if submitted is None:
                    raise CSRFError(
                        f"no CSRF token was sent; send it in the {self.header_name} header "
                        f"or the {self.field_name!r} form field"
                    )
                if not _same(submitted, token):
                    against = "the CSRF cookie" if session is None else "the session's"
                    raise CSRFError(f"the CSRF token does not match {against}")
            response = await call_next()
        except CSRFError as error:
            if cookie != token:
                # The 403 hands out a good cookie, so reloading the form fixes it.
                error.headers["set-cookie"] = self._cookie_header(request, token)
            raise
        if cookie != token:
            self._set_cookie(request, response, token)
        return response

    def _session_token(self, session: MutableMapping[str, Any]) -> tuple[str, bool]:
        """Return the session's token, and whether it was just made (none was stored)."""
        stored = session.get(SESSION_KEY)
        if isinstance(stored, str) and self.is_valid(stored):
            return stored, False
        # Never adopt the cookie's token: a sibling subdomain may have planted a valid token
        # of its own there. The session (its cookie signed by sessions()) is the reference.
        token = self.new_token()
        session[SESSION_KEY] = token
        return token, True

    @staticmethod
    def _check_cookie(cookie: str | None, valid_cookie: bool) -> None:
        if cookie is None:
            raise CSRFError(
                "the CSRF cookie is missing; load the page with the form again "
                "(cookies must be enabled)"
            )
        if not valid_cookie:
            raise CSRFError("the CSRF cookie is invalid (it was not made by this site)")

    def _set_cookie(self, request: Request, response: Response, token: str) -> None:
        secure = self.secure
        if secure is None:
            secure = request.scope.get("scheme") == "https" or self._none_site
        response.set_cookie(self.cookie_name, token, secure=secure, **self._cookie)

    def _cookie_header(self, request: Request, token: str) -> str:
        probe = Response()
        self._set_cookie(request, probe, token)
        return probe.headers["set-cookie"]

    def _check_origin(self, request: Request) -> None:
        """Refuse an HTTPS request sent from another site's page (Origin, else Referer)."""
        headers = request.headers
        host = headers.get("host", "")
        own = _origin(f"https://{host}") if host else None
        sent = headers.get("origin")
        if sent is not None:
            origin = _origin(sent)
            if origin is None or (origin != own and origin not in self.trusted_origins):
                raise CSRFError(f"the request came from origin {sent[:100]!r}, not this site")
            return
        referer = headers.get("referer")
        if referer is None:
            # Browsers send Origin or Referer on cross-site HTTPS posts; Django's rule too.
            raise CSRFError("an HTTPS request without Origin must carry a Referer header")
        origin = _origin(referer)
        if origin is None or (origin != own and origin not in self.trusted_origins):
            raise CSRFError("the Referer header points to another site")

    async def _submitted_token(self, request: Request) -> str | None:
        """Return the token from the header, else from the form body (None if absent)."""
        header = request.headers.get(self.header_name)
        if header is not None:
            return header
        content_type = request.content_type
        if content_type not in _FORM_TYPES:
            return None
        if content_type == "multipart/form-data":
            # Parsed once and cached: the handler's request.form() gets the same FormData.
            value = (await request.form()).get(self.field_name)
            return value if isinstance(value, str) else None
        # Urlencoded forms are small: read the body whole (cached), so the handler can
        # still call request.body() as well as request.form().
        try:
            text = (await request.body()).decode("utf-8")
            fields = parse_qs(text, keep_blank_values=True, max_num_fields=1000)
        except (UnicodeDecodeError, ValueError):
            return None
        values = fields.get(self.field_name)
        return values[0] if values else None


def csrf(
    secret: str | bytes | Sequence[str | bytes],
    *,
    cookie_name: str = "csrftoken",
    header_name: str = "X-CSRF-Token",
    field_name: str = "csrf_token",
    exempt_paths: Sequence[str] = (),
    check_origin: bool = True,
    trusted_origins: Sequence[str] = (),
    max_age: int | None = DEFAULT_MAX_AGE,
    path: str = "/",
    domain: str | None = None,
    secure: bool | None = None,
    httponly: bool = False,
    samesite: str | None = "lax",
) -> CSRFMiddleware:
    """Build a middleware protecting cookie-authenticated apps from cross-site requests.

    Each client gets a random token, signed with `secret`, in a cookie; the current one is
    `context.csrf_token` for templates. POST, PUT, PATCH and DELETE requests must send it
    back in the `X-CSRF-Token` header or the `csrf_token` form field, else they get a 403
    problem naming what is wrong. Another site can make the browser send the cookie but
    cannot read it, so it cannot send the token.

    A sibling subdomain can plant a cookie for your domain. The signature stops it from
    choosing the token; with `sessions()` added before `csrf()`, the token is also kept
    in the session (under `SESSION_KEY`) and checked against it, so even a genuine token
    from the attacker's own visit does not pass. Without sessions, only the signature
    stands: it stops made-up tokens, not a genuine one replayed from another visit.

    Args:
        secret: the signing secret (at least 32 characters), or a list to rotate them:
            the first signs, any of them verifies.
        cookie_name: the cookie holding the token.
        header_name: the request header scripts send the token in.
        field_name: the form field HTML forms send the token in.
        exempt_paths: paths never checked: exact, or a prefix ending with `*` (webhooks).
        check_origin: on HTTPS, also refuse requests whose `Origin` (or, without one,
            `Referer`) is not this site or one of `trusted_origins`.
        trusted_origins: other origins allowed to post, as `scheme://host[:port]`.
        max_age: seconds the cookie lasts; None for a browser-session cookie.
        path: the cookie's path.
        domain: the cookie's domain; None for this host only.
        secure: send the cookie over HTTPS only; None sets it when the request came
            over HTTPS.
        httponly: hide the cookie from JavaScript; off by default so scripts can copy it
            into the header (templates use `context.csrf_token` either way).
        samesite: "lax", "strict", "none" or None.

    Raises:
        ValueError: a secret is too short, or an option is malformed.
        TypeError: a list option was given as a single string.
    """
    return CSRFMiddleware(
        secret,
        cookie_name=cookie_name,
        header_name=header_name,
        field_name=field_name,
        exempt_paths=exempt_paths,
        check_origin=check_origin,
        trusted_origins=trusted_origins,
        max_age=max_age,
        path=path,
        domain=domain,
        secure=secure,
        httponly=httponly,
        samesite=samesite,
    )
