"""Proxy headers middleware: take the client, scheme and host from headers a trusted proxy set."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, final

from ecko.middleware.trusted_hosts import split_host
from ecko.requests import Request
from ecko.responses import Response

__all__ = ["ProxyHeadersMiddleware", "parse_forwarded", "proxy_headers"]

CallNext = Callable[..., Awaitable[Response]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# An HTTP request can only be served as http or https; a proxy in front of WebSockets
# reports ws/wss for the same connection.
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_MAX_NODE_LENGTH = 64  # "[v6 address%zone]:port" fits; anything longer is not an address

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# RFC 7239, 4: forwarded-pair = token "=" ( token / quoted-string ), ";" between pairs of
# one element, "," between elements (one per proxy).
_FORWARDED_PAIR = re.compile(
    rf'[ \t]*(?P<name>{_TOKEN})=(?P<value>{_TOKEN}|"(?:[^"\\\r\n]|\\.)*")[ \t]*(?P<end>[;,]|$)'
)


def parse_forwarded(value: str) -> list[dict[str, str]] | None:
    """Parse an RFC 7239 `Forwarded` header into one dict per element (names lower-cased).

    Returns None when the header is malformed anywhere: a proxy's header that cannot be
    read whole cannot be trusted in part.
    """
    elements: list[dict[str, str]] = []
    element: dict[str, str] = {}
    position, length = 0, len(value)
    while position < length:
        if value[position] in " \t,":  # empty list items are allowed (RFC 9110, 5.6.1)
            position += 1
            continue
        match = _FORWARDED_PAIR.match(value, position)
        if match is None:
            return None
        text = match["value"]
        if text.startswith('"'):
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        element[match["name"].lower()] = text
        position = match.end()
        if match["end"] != ";":
            elements.append(element)
            element = {}
    if element:
        elements.append(element)
    return elements


def _parse_node(text: str) -> tuple[IPAddress, int] | None:
    """Read `1.2.3.4`, `1.2.3.4:80`, `[::1]`, `[::1]:80` or `::1`; None for anything else."""
    text = text.strip()
    if not text or len(text) > _MAX_NODE_LENGTH:
        return None
    port = "0"
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            return None
        if rest:
            if not rest.startswith(":"):
                return None
            port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host = text
    if not port.isascii() or not port.isdigit() or int(port) > 65535:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return _unmapped(address), int(port)


def _unmapped(address: IPAddress) -> IPAddress:
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; compare them as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _networks(trusted: Sequence[str]) -> tuple[bool, tuple[IPNetwork, ...]]:
    if isinstance(trusted, str):
        raise TypeError(f"proxy_headers(trusted=...) takes a list, like trusted=[{trusted!r}]")
    networks: list[IPNetwork] = []
    for entry in trusted:
        if entry == "*":
            continue
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"proxy_headers(trusted=...): {entry!r} is not an IP address or network; "
                "use addresses like '127.0.0.1' or '::1', networks like '10.0.0.0/8', "
                "or '*' to trust every peer"
            ) from None
    return "*" in trusted, tuple(networks)


@final
class ProxyHeadersMiddleware:
    """The middleware `proxy_headers()` builds."""

    def __init__(self, trusted: Sequence[str], forwarded: bool) -> None:
        self.trust_all, self.networks = _networks(trusted)
        if not self.trust_all and not self.networks:
            raise ValueError("proxy_headers(trusted=[]) trusts no proxy, so it would do nothing")
        self.forwarded = forwarded
        self._peer_is_trusted = functools.lru_cache(maxsize=256)(self._check_peer)

    def is_trusted(self, address: IPAddress) -> bool:
        """Tell whether `address` belongs to a trusted proxy."""
        return self.trust_all or any(address in network for network in self.networks)

    def _check_peer(self, host: str) -> bool:
        node = _parse_node(host)
        return node is not None and self.is_trusted(node[0])

    def _client(self, nodes: list[str]) -> tuple[str, int] | None:
        """Pick the client from proxy-appended addresses: the right-most untrusted one.

        Each trusted proxy appends the address it received the request from, so everything
        left of the first untrusted address (from the right) may be forged by the client.
        """
        for index in range(len(nodes) - 1, -1, -1):
            node = _parse_node(nodes[index])
            if node is None:
                return None  # unreadable, "unknown" or obfuscated: the client stays the peer
            if index == 0 or not self.is_trusted(node[0]):
                return str(node[0]), node[1]
        return None

    def _from_forwarded(self, values: list[str]) -> tuple[Any, str | None, str | None] | None:
        elements = parse_forwarded(", ".join(values))
        if not elements:
            return None
        # The element naming the first untrusted hop was added by the proxy that received the
        # request from it: its proto and host are what the client really used.
        chosen = elements[0]
        for element in reversed(elements):
            node = _parse_node(element.get("for", ""))
            if node is None or not self.is_trusted(node[0]):
                chosen = element
                break
        node = _parse_node(chosen.get("for", ""))
        client = (str(node[0]), node[1]) if node is not None else None
        return client, chosen.get("proto"), chosen.get("host")

    def _from_x_forwarded(self, request: Request) -> tuple[Any, str | None, str | None]:
        headers = request.headers
        nodes = [node for value in headers.getlist("x-forwarded-for") for node in value.split(",")]
        client = self._client(nodes) if nodes else None
        # Proxies that append rather than replace put the value they saw last (right-most).
        proto = _last(headers.getlist("x-forwarded-proto"))
        host = _last(headers.getlist("x-forwarded-host"))
        return client, proto, host

    def apply(self, request: Request) -> None:
        """Rewrite the request's scope from the proxy's headers; malformed values are ignored."""
        if self.forwarded:
            values = request.headers.getlist("forwarded")
            found = self._from_forwarded(values) if values else None
            if found is None:
                return
        else:
            found = self._from_x_forwarded(request)
        client, proto, host = found
        scope = request.scope
        if client is not None:
            scope["client"] = client
        scheme = _SCHEMES.get(proto.strip().lower()) if proto is not None else None
        if scheme is not None:
            scope["scheme"] = scheme
        parsed = split_host(host.strip()) if host is not None else None
        if parsed is not None:
            netloc = parsed[0] if parsed[1] is None else f"{parsed[0]}:{parsed[1]}"
            raw = [(name, value) for name, value in scope["headers"] if name != b"host"]
            raw.append((b"host", netloc.encode("latin-1")))
            # The Request was built before the chain and may hold the old headers.
            request.replace_headers(raw)

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Apply the proxy's headers when the direct peer is trusted; pass the request on."""
        peer = request.scope.get("client")
        if self.trust_all or (peer and self._peer_is_trusted(str(peer[0]))):
            self.apply(request)
        return await call_next()


def _last(values: list[str]) -> str | None:
    if not values:
        return None
    return values[-1].rpartition(",")[2]


def proxy_headers(
    trusted: Sequence[str] = ("127.0.0.1", "::1"), *, forwarded: bool = False
) -> ProxyHeadersMiddleware:
    """Build a middleware that believes `X-Forwarded-*` headers from trusted proxies only.

    When the direct peer is in `trusted`, `X-Forwarded-For` sets `request.client` (the
    right-most address that is not a trusted proxy), `X-Forwarded-Proto` sets the scheme
    (`request.url`, the Secure flag of session cookies, HSTS, `https_redirect()`), and
    `X-Forwarded-Host` replaces the Host header. Requests from other peers are left alone,
    so clients cannot forge their address. Malformed values are ignored.

    Args:
        trusted: addresses or networks ("10.0.0.0/8") of your proxies; "*" trusts every
            peer, which lets anyone who can reach the app directly forge these headers.
        forwarded: read the RFC 7239 `Forwarded` header instead of `X-Forwarded-*` when
            present. Only enable it if your proxy sets it (or strips the client's copy).

    Raises:
        ValueError: an entry is not an IP address or network, or none is given.
        TypeError: a single string was given instead of a list.
    """
    return ProxyHeadersMiddleware(trusted, forwarded)
