"""HTTPS redirect middleware: answer plain-HTTP requests with a 308 to the same URL over HTTPS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import final
from urllib.parse import quote, quote_from_bytes

from ecko.exceptions import BadRequest
from ecko.middleware.trusted_hosts import split_host
from ecko.requests import Request
from ecko.responses import RedirectResponse, Response

__all__ = ["HTTPSRedirectMiddleware", "https_redirect"]

CallNext = Callable[..., Awaitable[Response]]

# Characters left as they are in the redirect's path and query: reserved ones keep their
# meaning and existing escapes stay escaped; anything else (spaces, raw bytes) is encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


@final
class HTTPSRedirectMiddleware:
    """The middleware `https_redirect()` builds."""

    def __init__(self, https_port: int) -> None:
        if isinstance(https_port, bool) or not isinstance(https_port, int):
            raise TypeError(f"https_redirect(https_port=...) must be an int, got {https_port!r}")
        if not 0 < https_port < 65536:
            raise ValueError(f"https_redirect(https_port=...) must be 1-65535, not {https_port}")
        self.port_suffix = "" if https_port == 443 else f":{https_port}"

    def location(self, request: Request) -> str:
        """Return the HTTPS URL for `request`: same host, path and query.

        Raises:
            BadRequest: the Host header is malformed (it would end up in the Location).
        """
        scope = request.scope
        host_header = request.headers.get("host")
        if host_header is None:
            server = scope.get("server")
            host_header = str(server[0]) if server else "localhost"
            if ":" in host_header:
                host_header = f"[{host_header}]"
        parsed = split_host(host_header)
        if parsed is None:
            raise BadRequest("The Host header is not a valid host name")
        raw_path: bytes | None = scope.get("raw_path")
        if raw_path:
            # The path as the client sent it, so an encoded "%2F" stays inside its segment.
            path = quote_from_bytes(raw_path, _PATH_SAFE)
        else:
            path = quote(scope.get("path", "/"), _PATH_SAFE)
        query: bytes = scope.get("query_string", b"")
        tail = "?" + quote_from_bytes(query, _QUERY_SAFE) if query else ""
        return f"https://{parsed[0]}{self.port_suffix}{path or '/'}{tail}"

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Redirect `http` requests with 308 (method and body kept); pass `https` ones on."""
        if request.scope.get("scheme", "http") != "http":
            return await call_next()
        return RedirectResponse(self.location(request), 308)


def https_redirect(https_port: int = 443) -> HTTPSRedirectMiddleware:
    """Build a middleware that redirects every plain-HTTP request to HTTPS with 308.

    308 keeps the method and body (a POST stays a POST). The redirect keeps the host, path
    and query string; the port becomes `https_port` (left out when 443). Behind a proxy that
    terminates TLS, add `proxy_headers()` before this middleware so `X-Forwarded-Proto`
    sets the scheme, or every request looks like plain HTTP and redirects forever.

    WebSocket connections do not pass through function middleware, so `ws://` is not
    redirected to `wss://`; let the proxy or load balancer refuse plain WebSockets.

    Raises:
        ValueError: `https_port` is not a port number.
    """
    return HTTPSRedirectMiddleware(https_port)
