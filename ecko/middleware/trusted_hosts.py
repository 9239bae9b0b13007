"""Trusted hosts middleware: refuse requests whose Host header names a host not served here."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import final

from ecko.exceptions import BadRequest
from ecko.requests import Request
from ecko.responses import Response

__all__ = ["TrustedHostsMiddleware", "split_host", "trusted_hosts"]

CallNext = Callable[..., Awaitable[Response]]

# RFC 9110, 7.2: Host = uri-host [ ":" port ]. A registered name is kept to the characters
# DNS names and common internal names use; an IPv6 literal sits in brackets (RFC 3986, 3.2.2).
_HOST = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>[0-9]{1,5}))?",
)
_MAX_HOST_LENGTH = 255 + 6  # a DNS name is at most 253 characters; room for ":65535"


def split_host(value: str) -> tuple[str, int | None] | None:
    """Split a Host value into (lower-cased host, port), or None if it is malformed.

    A trailing dot (`example.com.`, the fully qualified form) is dropped; an IPv6 literal
    keeps its brackets.
    """
    if not value or len(value) > _MAX_HOST_LENGTH:
        return None
    match = _HOST.fullmatch(value)
    if match is None:
        return None
    host, port_text = match["host"].lower(), match["port"]
    if host.startswith("["):
        try:
            host = f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            return None
    else:
        host = host[:-1] if host.endswith(".") else host
        if not host or host.startswith(".") or ".." in host:
            return None
    port = None
    if port_text is not None:
        port = int(port_text)
        if not 0 < port < 65536:
            return None
    return host, port


def _pattern(host: str) -> str:
    """Check an allowed-host pattern; return it normalized (lower case, no trailing dot)."""
    if not isinstance(host, str):
        raise TypeError(f"trusted_hosts() takes host names as strings, got {host!r}")
    if host == "*":
        return host
    wildcard = host.startswith("*.")
    name = host[2:] if wildcard else host
    if ":" in name and not name.startswith("["):
        # A bare IPv6 address: compare it in the bracketed form clients send.
        with contextlib.suppress(ValueError):
            name = f"[{ipaddress.IPv6Address(name).compressed}]"
    parsed = split_host(name)
    if parsed is None or parsed[1] is not None or "*" in name:
        raise ValueError(
            f"trusted_hosts(): {host!r} is not a host name; use names without scheme or port, "
            "like 'example.com', '*.example.com' (its subdomains) or '*' (any host)"
        )
    if wildcard and name.startswith("["):
        raise ValueError(f"trusted_hosts(): {host!r}: a wildcard applies to names, not addresses")
    return f"*.{parsed[0]}" if wildcard else parsed[0]


@final
class TrustedHostsMiddleware:
    """The middleware `trusted_hosts()` builds: exact names in a set, wildcard suffixes."""

    def __init__(self, hosts: Sequence[str]) -> None:
        if isinstance(hosts, str):
            raise TypeError(f"trusted_hosts() takes a list, like trusted_hosts([{hosts!r}])")
        patterns = [_pattern(host) for host in hosts]
        if not patterns:
            raise ValueError("trusted_hosts() was given no hosts, so it would refuse every request")
        self.any_host = "*" in patterns
        self.exact = frozenset(pattern for pattern in patterns if not pattern.startswith("*"))
        # "*.example.com" matches "api.example.com" (any depth), never "example.com" itself.
        self.suffixes = tuple(pattern[1:] for pattern in patterns if pattern.startswith("*."))

    def is_allowed(self, host: str) -> bool:
        """Tell whether `host` (lower-cased, without port) is served."""
        return host in self.exact or any(
            host.endswith(suffix) and len(host) > len(suffix) for suffix in self.suffixes
        )

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Refuse a missing, malformed or unlisted Host with 400; pass the rest on."""
        if self.any_host:
            return await call_next()
        values = request.headers.getlist("host")
        parsed = split_host(values[0]) if len(values) == 1 else None
        if parsed is None:
            # RFC 9112, 3.2: a request without exactly one valid Host is answered 400.
            raise BadRequest("The request needs exactly one valid Host header")
        if not self.is_allowed(parsed[0]):
            shown = parsed[0] if len(parsed[0]) <= 100 else parsed[0][:100] + "..."
            raise BadRequest(f"Host {shown!r} is not served here")
        return await call_next()


def trusted_hosts(hosts: Sequence[str]) -> TrustedHostsMiddleware:
    """Build a middleware that answers 400 unless the Host header names one of `hosts`.

    Protects against Host header attacks (poisoned password-reset links, cache poisoning)
    when the app builds absolute URLs from `request.url`. Ports are ignored and names are
    compared case-insensitively.

    Args:
        hosts: the names served: `"example.com"` (exactly), `"*.example.com"` (any
            subdomain, not `example.com` itself: list both if both are served), IP
            addresses, or `"*"` (any host: the middleware does nothing).

    Raises:
        ValueError: an entry is not a host name (a URL, a port, a misplaced `*`), or the list
            is empty.
        TypeError: a single string was given instead of a list.
    """
    return TrustedHostsMiddleware(hosts)
