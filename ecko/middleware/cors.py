"""CORS middleware: answer preflight requests and add Access-Control headers to every response."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import final

from ecko.datastructures import Headers
from ecko.exceptions import BadRequest
from ecko.requests import Request
from ecko.responses import Response

__all__ = ["DEFAULT_METHODS", "SAFELISTED_HEADERS", "CORSMiddleware", "add_vary", "cors"]

DEFAULT_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
"""The methods `cors()` allows unless told otherwise."""

SAFELISTED_HEADERS = ("accept", "accept-language", "content-language", "content-type")
"""Request headers always allowed; `content-type` included so JSON bodies work."""

# An origin as browsers serialize it (RFC 6454, 6.1): scheme "://" host [":" port], nothing
# after. `*` stays out of the host on purpose: wildcard subdomains go through the regex.
_ORIGIN = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://"
    r"(?P<host>[a-z0-9_.-]+|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110, 5.6.2
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_CACHE_SIZE = 1024  # bounded: origins are chosen by clients, an unbounded cache leaks
_SHOWN_LENGTH = 100  # an origin quoted in an error is cut here: it comes from the client
# Origins no allow-list means to include: a regex matching them matches any site.
_PROBE_ORIGINS = (
    "https://attacker.example",
    "https://ecko-cors-probe.invalid",
    "http://attacker.example:8080",
)


class _AnyOrigin(str):
    """The type of `cors()`'s default `origins="*"`, told apart from a `"*"` passed in."""

    __slots__ = ()


_DEFAULT_ORIGINS = _AnyOrigin("*")

CallNext = Callable[..., Awaitable[Response]]


def _normalize_origin(origin: str) -> str:
    """Return `origin` as browsers send it: lower-case, without the scheme's default port.

    Raises:
        ValueError: `origin` is not `scheme://host[:port]`.
    """
    if not isinstance(origin, str):
        raise TypeError(f"CORS origins must be strings, got {origin!r}")
    match = _ORIGIN.fullmatch(origin)
    if match is None:
        hint = ""
        if "*" in origin:
            hint = (
                "; for wildcard subdomains use origin_regex=r'https://[a-z0-9-]+\\.example\\.com'"
            )
        elif origin == "null":
            hint = "; 'null' is sent by sandboxed pages and local files, any site can produce it"
        elif origin.endswith("/") or ("://" in origin and origin.count("/") > 2):
            hint = "; drop the path and any trailing slash"
        raise ValueError(
            f"CORS origin {origin!r} must be 'scheme://host[:port]' "
            f"(like 'https://myapp.com' or 'http://localhost:3000') or '*'{hint}"
        )
    scheme, host, port = match["scheme"].lower(), match["host"].lower(), match["port"]
    if port is not None:
        if not 0 < int(port) < 65536:
            raise ValueError(f"CORS origin {origin!r} has an invalid port {port}")
        port = str(int(port))  # "0443" is port 443
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _tokens(values: Sequence[str], what: str, *, upper: bool = False) -> tuple[str, ...]:
    """Check `values` are HTTP tokens (or "*"); return them normalized, duplicates dropped."""
    if isinstance(values, str):
        raise TypeError(f"cors({what}=...) takes a list, like {what}=[{values!r}]")
    result: dict[str, None] = {}
    for value in values:
        if not isinstance(value, str) or not _TOKEN.fullmatch(value):
            raise ValueError(f"cors({what}=...): {value!r} is not a valid name")
        result[value.upper() if upper else value.lower()] = None
    return tuple(result)


def _shown(origin: str) -> str:
    """Quote a client's origin for an error message, cut to a readable length."""
    return repr(origin if len(origin) <= _SHOWN_LENGTH else origin[:_SHOWN_LENGTH] + "...")


def _check_origins(
    origins: str | Sequence[str],
    origin_regex: str | re.Pattern[str] | None,
    allow_credentials: bool,
) -> tuple[bool, frozenset[str], re.Pattern[str] | None]:
    """Validate the origin arguments; return (any origin, listed origins, compiled regex)."""
    if origins is _DEFAULT_ORIGINS:
        # The default "*" gives way to a regex: cors(origin_regex=...) allows its matches only.
        origins = () if origin_regex is not None else ("*",)
    elif isinstance(origins, str):
        origins = (origins,)
    wildcard = "*" in origins
    if wildcard and len(origins) > 1:
        raise ValueError("cors(origins=...): '*' already allows every origin; pass '*' alone")
    if wildcard and origin_regex is not None:
        raise ValueError("cors(): origin_regex has no effect with origins='*'; drop one")
    if wildcard and allow_credentials:
        # Never reflect an arbitrary origin with credentials: any site could act as the user.
        raise ValueError(
            "cors(allow_credentials=True) needs the allowed origins listed: with origins='*' "
            "any website could make requests as your signed-in users. List them, as in "
            "cors(origins=['https://myapp.com'], allow_credentials=True)"
        )
    listed = frozenset(_normalize_origin(origin) for origin in origins if origin != "*")
    if not wildcard and not listed and origin_regex is None:
        raise ValueError(
            "cors() was given no origins, so it would allow none; pass origins=[...], "
            "origins='*' or origin_regex"
        )
    if isinstance(origin_regex, str):
        try:
            origin_regex = re.compile(origin_regex)
        except re.error as error:
            raise ValueError(f"cors(origin_regex=...) is not a valid regex: {error}") from None
    if (
        allow_credentials
        and origin_regex is not None
        and any(origin_regex.fullmatch(probe) for probe in _PROBE_ORIGINS)
    ):
        raise ValueError(
            f"cors(origin_regex={origin_regex.pattern!r}, allow_credentials=True) would let any "
            "website make requests as your signed-in users: the pattern matches any site's "
            "origin. Match your own hosts only, as in r'https://[a-z0-9-]+\\.myapp\\.com'"
        )
    return wildcard, listed, origin_regex


def add_vary(response: Response, name: str) -> None:
    """Add `name` to the response's `Vary` header unless it is there already (or `*`)."""
    existing = response.headers.getlist("vary")
    if not existing:
        response.headers["vary"] = name
        return
    tokens = {token.strip().lower() for value in existing for token in value.split(",")}
    if name.lower() not in tokens and "*" not in tokens:
        response.headers["vary"] = ", ".join([*existing, name])


@final
class CORSMiddleware:
    """The middleware `cors()` builds: every header worked out once, lookups per request."""

    def __init__(
        self,
        origins: str | Sequence[str],
        methods: Sequence[str],
        headers: Sequence[str],
        expose_headers: Sequence[str],
        allow_credentials: bool,
        max_age: int,
        origin_regex: str | re.Pattern[str] | None,
    ) -> None:
        self.any_origin, self.origins, pattern = _check_origins(
            origins, origin_regex, allow_credentials
        )
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ValueError(f"cors(max_age=...) must be whole seconds >= 0, got {max_age!r}")
        self.methods = _tokens(methods, "methods", upper=True)
        self.any_method = "*" in self.methods
        self._method_set = frozenset(self.methods)
        allowed_headers = _tokens(headers, "headers")
        self.any_header = "*" in allowed_headers
        self.headers = frozenset((*SAFELISTED_HEADERS, *allowed_headers)) - {"*"}
        exposed = _tokens(expose_headers, "expose_headers")
        if allow_credentials and "*" in exposed:
            raise ValueError(
                "cors(expose_headers=['*']) is read literally on credentialed requests; "
                "list the header names to expose"
            )
        # Answers for an allowed origin, besides Allow-Origin itself.
        self._actual_headers: list[tuple[str, str]] = []
        if allow_credentials:
            self._actual_headers.append(("access-control-allow-credentials", "true"))
        if exposed:
            self._actual_headers.append(("access-control-expose-headers", ", ".join(exposed)))
        self._preflight_headers = [("access-control-max-age", str(max_age))]
        if not self.any_method:
            self._preflight_headers.append(
                ("access-control-allow-methods", ", ".join(self.methods))
            )
        if not self.any_header:
            self._preflight_headers.append(
                ("access-control-allow-headers", ", ".join(sorted(self.headers)))
            )
        if allow_credentials:
            self._preflight_headers.append(("access-control-allow-credentials", "true"))
        # With any origin the answer is the same for all of them: no Vary needed.
        self._vary_origin = not self.any_origin
        self._denial_headers = {"vary": "Origin"} if self._vary_origin else None
        self._pattern = pattern
        # Per distinct Origin value: parsing and the regex run once, not on every request.
        self._origin_allowed = functools.lru_cache(maxsize=_CACHE_SIZE)(self._check_origin)

    def _check_origin(self, origin: str) -> bool:
        try:
            normalized = _normalize_origin(origin)
        except ValueError:
            return False  # malformed ("null", a path, garbage): never allowed by name
        if normalized in self.origins:
            return True
        return self._pattern is not None and self._pattern.fullmatch(normalized) is not None

    def is_allowed(self, origin: str) -> bool:
        """Tell whether requests from `origin` may read responses.

        Origins are compared on scheme, host and port, as browsers serialize them: case and
        a default port do not matter, and a malformed origin is never allowed by name.
        """
        return self.any_origin or origin in self.origins or self._origin_allowed(origin)

    def _refusals(self, origin: str, method: str, names: list[str]) -> list[str]:
        """Say what a preflight asks for that is not allowed ([] when all is)."""
        refusals: list[str] = []
        if not self.is_allowed(origin):
            if _ORIGIN.fullmatch(origin):
                refusals.append(f"origin {_shown(origin)} is not allowed")
            else:
                refusals.append(f"origin {_shown(origin)} is not a valid origin")
        if not _TOKEN.fullmatch(method):
            refusals.append(f"method {_shown(method)} is not a valid method name")
        elif not self.any_method and method not in self._method_set:
            allowed = ", ".join(self.methods)
            refusals.append(f"method {method!r} is not allowed (allowed: {allowed})")
        invalid = [name for name in names if not _TOKEN.fullmatch(name)]
        if invalid:
            refusals.append(f"header {_shown(invalid[0])} is not a valid header name")
        elif not self.any_header:
            refused = [name for name in names if name not in self.headers]
            if len(refused) == 1:
                refusals.append(f"header {refused[0]!r} is not allowed")
            elif refused:
                refusals.append(f"headers {', '.join(map(repr, refused))} are not allowed")
        return refusals

    def preflight(self, origin: str, request_headers: Headers) -> Response:
        """Answer a preflight: 204 with what is allowed.

        Raises:
            BadRequest: the origin, method or a header is not allowed (each one named).
        """
        method = request_headers["access-control-request-method"]
        requested = request_headers.get("access-control-request-headers", "")
        names = [name.strip().lower() for name in requested.split(",") if name.strip()]
        refusals = self._refusals(origin, method, names)
        if refusals:
            detail = f"CORS preflight refused: {'; '.join(refusals)}"
            raise BadRequest(detail, headers=self._denial_headers)
        response = Response(None, 204, self._preflight_headers)
        response.headers["access-control-allow-origin"] = "*" if self.any_origin else origin
        if self.any_method:
            response.headers["access-control-allow-methods"] = method
            add_vary(response, "Access-Control-Request-Method")
        if self.any_header and names:
            response.headers["access-control-allow-headers"] = ", ".join(names)
            add_vary(response, "Access-Control-Request-Headers")
        if self._vary_origin:
            add_vary(response, "Origin")
        return response

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Answer a preflight before routing; label any other response for allowed origins."""
        request_headers = request.headers
        origin = request_headers.get("origin")
        if (
            origin is not None
            and request.method == "OPTIONS"
            and "access-control-request-method" in request_headers
        ):
            return self.preflight(origin, request_headers)
        response = await call_next()
        if origin is not None and self.is_allowed(origin):
            response_headers = response.headers
            response_headers["access-control-allow-origin"] = "*" if self.any_origin else origin
            for name, value in self._actual_headers:
                response_headers[name] = value
        if self._vary_origin:
            # Whether Allow-Origin is sent depends on Origin, even on requests without one:
            # a shared cache must not hand one origin's answer to another.
            add_vary(response, "Origin")
        return response


def cors(
    origins: str | Sequence[str] = _DEFAULT_ORIGINS,
    methods: Sequence[str] = DEFAULT_METHODS,
    headers: Sequence[str] = (),
    expose_headers: Sequence[str] = (),
    allow_credentials: bool = False,
    max_age: int = 600,
    origin_regex: str | re.Pattern[str] | None = None,
) -> CORSMiddleware:
    """Build a middleware that answers CORS preflights and labels responses for browsers.

    A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
    before routing: 204 with the allowed methods, headers and max age, or 400 naming what
    is not allowed. Every other response to an allowed origin, errors included, gets
    `Access-Control-Allow-Origin`.

    Args:
        origins: allowed origins as `scheme://host[:port]` (a list, or one string);
            `"*"` (the default, unless `origin_regex` is given) allows any origin, answered
            with `*`. Compared on scheme, host and port, ignoring case and default ports.
        methods: allowed methods; `["*"]` allows any, echoing the one asked for.
        headers: request headers allowed besides the CORS-safelisted ones (Accept,
            Accept-Language, Content-Language, Content-Type); `["*"]` allows any.
        expose_headers: response headers scripts in the browser may read.
        allow_credentials: let browsers send cookies and read the answer; needs listed
            origins or a regex matching only your hosts, never `*`.
        max_age: seconds browsers may cache a preflight answer.
        origin_regex: origins matching this pattern as a whole (`re.fullmatch`, against
            the lower-case origin without a default port) are allowed too.

    Raises:
        ValueError: an argument is malformed, or `allow_credentials=True` is combined with
            every origin (`*`, or a regex matching any site), which would let any site act
            as your signed-in users.
        TypeError: `methods`, `headers` or `expose_headers` was given as a single string.
    """
    return CORSMiddleware(
        origins, methods, headers, expose_headers, allow_credentials, max_age, origin_regex
    )
