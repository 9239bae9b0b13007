"""Rate limiting: a quota per client (`"100/minute"`), 429 past it, `RateLimit-*` headers."""

from __future__ import annotations

import inspect
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple, Protocol, final

from ecko.exceptions import TooManyRequests
from ecko.requests import Request
from ecko.responses import Response

__all__ = [
    "MemoryRateLimitBackend",
    "Rate",
    "RateLimitBackend",
    "RateLimitMiddleware",
    "RateLimitResult",
    "client_ip",
    "parse_rate",
    "rate_limit",
]

CallNext = Callable[..., Awaitable[Response]]
KeyFunction = Callable[[Request], str | None] | Callable[[Request], Awaitable[str | None]]

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
# "100/minute", "100 per minute", "5/10 seconds", "1000/day": count, optional multiplier, unit.
_RATE = re.compile(
    r"\s*(?P<count>[0-9]+)\s*(?:/|\s+per\s+)\s*(?P<multiplier>[0-9]+)?\s*"
    r"(?P<unit>second|minute|hour|day)s?\s*",
    re.IGNORECASE,
)


_TOLERANCE = 1e-6  # seconds; far below any rate's interval, far above float rounding


class Rate(NamedTuple):
    """A quota: `limit` requests per `window` seconds."""

    limit: int
    window: float


def parse_rate(rate: str) -> Rate:
    """Parse `"N/second"`, `"N/minute"`, `"N/hour"`, `"N/day"` (or `"N/10 seconds"`).

    Raises:
        ValueError: `rate` is not in that form, or its numbers are zero.
    """
    match = _RATE.fullmatch(rate) if isinstance(rate, str) else None
    if match is None:
        raise ValueError(
            f"rate_limit({rate!r}): write the rate as 'N/unit' with unit second, minute, "
            "hour or day, like '100/minute' or '5/10 seconds'"
        )
    count = int(match["count"])
    multiplier = int(match["multiplier"] or 1)
    if count == 0 or multiplier == 0:
        raise ValueError(f"rate_limit({rate!r}): the count and the period must be above 0")
    return Rate(count, float(multiplier * _UNITS[match["unit"].lower()]))


class RateLimitResult(NamedTuple):
    """What a backend answers for one hit."""

    allowed: bool
    """Whether this request fits the quota (it was counted only if so)."""
    remaining: int
    """Requests still allowed right now."""
    reset: float
    """Seconds until the quota is whole again; when refused, until the next request fits."""


class RateLimitBackend(Protocol):
    """Counts hits per key; a shared backend (Redis) makes the limit hold across processes."""

    async def hit(self, key: str, limit: int, window: float) -> RateLimitResult:
        """Count one request for `key` against `limit` per `window` seconds."""
        ...


@final
class MemoryRateLimitBackend:
    """Keep counters in this process with GCRA: one timestamp per key, old keys dropped.

    GCRA (the generic cell rate algorithm) lets a client spend its whole quota at once,
    then one request every `window / limit` seconds: a sliding window without storing
    each request. Each process counts on its own; with several workers, each allows the
    full quota.

    Args:
        max_keys: keys kept at most; past it, the least recently seen are forgotten
            (those clients start afresh) so that memory stays bounded.
        clock: the time source in seconds (monotonic by default).
    """

    def __init__(
        self, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys}")
        self.max_keys = max_keys
        self._clock = clock
        # key -> theoretical arrival time: when the client's quota is whole again. Ordered by
        # last hit, so evicting the least recently seen is popitem(last=False), O(1).
        self._arrivals: OrderedDict[str, float] = OrderedDict()
        self._next_sweep = clock()

    def __len__(self) -> int:
        return len(self._arrivals)

    async def hit(self, key: str, limit: int, window: float) -> RateLimitResult:
        """Count one request for `key` against `limit` per `window` seconds."""
        # No await below: under one event loop the read-modify-write is atomic.
        arrivals = self._arrivals
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now, window)
        interval = window / limit
        stored = arrivals.get(key)
        if stored is None:
            if len(arrivals) >= self.max_keys:
                arrivals.popitem(last=False)
            arrival = now
        else:
            arrivals.move_to_end(key)
            arrival = max(stored, now)
        new_arrival = arrival + interval
        # Allowed while the quota, spent up to new_arrival, still fits in one window. The
        # tolerance absorbs rounding: (now + 60) - 60 is not always `now` in floating point.
        backlog = new_arrival - now
        if backlog > window + _TOLERANCE:
            arrivals[key] = arrival
            return RateLimitResult(False, 0, backlog - window)
        arrivals[key] = new_arrival
        remaining = min(int((window - backlog) / interval + _TOLERANCE), limit - 1)
        return RateLimitResult(True, max(remaining, 0), backlog)

    def _sweep(self, now: float, window: float) -> None:
        """Forget every key whose quota is whole again (they would start afresh anyway)."""
        for key in [key for key, at in self._arrivals.items() if at <= now]:
            del self._arrivals[key]
        # One pass over the keys, at most once per window (or minute): O(1) per hit amortized.
        self._next_sweep = now + min(window, 60.0)


def _seconds(delay: float) -> int:
    """Round a delay up to whole seconds, so waiting that long is never early."""
    # Float noise is not a second more: 60.00000000003 is 60.
    return max(0, math.ceil(delay - _TOLERANCE))


def client_ip(request: Request) -> str:
    """Key requests by the client's address (`request.client`; see `proxy_headers()`)."""
    client = request.client
    return client[0] if client is not None else "unknown"


def _matches(path: str, patterns: Sequence[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("*"):
            if path.startswith(pattern[:-1]):
                return True
        elif path == pattern:
            return True
    return False


def _check_paths(paths: Sequence[str], factory: str) -> tuple[str, ...]:
    if isinstance(paths, str):
        raise TypeError(f"{factory}(exempt_paths=...) takes a list, like [{paths!r}]")
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(
                f"{factory}(exempt_paths=...): {path!r} must be a path starting with '/' "
                "(end it with '*' to exempt everything below it)"
            )
    return tuple(paths)


@final
class RateLimitMiddleware:
    """The middleware `rate_limit()` builds; see there for the options."""

    def __init__(
        self,
        rate: str,
        *,
        key: KeyFunction,
        backend: RateLimitBackend | None,
        exempt_paths: Sequence[str],
        exempt_methods: Sequence[str],
        headers: bool,
        scope: str | None,
    ) -> None:
        self.rate = parse_rate(rate)
        if not callable(key):
            raise TypeError(f"rate_limit(key=...) takes a function of the request, got {key!r}")
        self.key = key
        self._key_is_async = inspect.iscoroutinefunction(key)
        self.backend: RateLimitBackend = backend or MemoryRateLimitBackend()
        self.exempt_paths = _check_paths(exempt_paths, "rate_limit")
        if isinstance(exempt_methods, str):
            raise TypeError(
                f"rate_limit(exempt_methods=...) takes a list, like [{exempt_methods!r}]"
            )
        self.exempt_methods = frozenset(method.upper() for method in exempt_methods)
        self.headers = headers
        # Limits sharing a backend count apart unless given the same scope.
        limit, window = self.rate
        self._prefix = f"{scope if scope is not None else f'{limit}/{window:g}s'}:"

    def _headers(self, result: RateLimitResult) -> dict[str, str]:
        if not self.headers:
            return {}
        # draft-ietf-httpapi-ratelimit-headers: delta seconds.
        return {
            "ratelimit-limit": str(self.rate.limit),
            "ratelimit-remaining": str(result.remaining),
            "ratelimit-reset": str(_seconds(result.reset)),
        }

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Count the request against its client's quota; refuse it with 429 past the quota."""
        if request.method in self.exempt_methods or _matches(request.path, self.exempt_paths):
            return await call_next()
        key = self.key(request)
        if self._key_is_async:
            key = await key  # type: ignore[misc]
        if key is None:
            return await call_next()
        if not isinstance(key, str):
            raise TypeError(f"rate_limit(key=...) must return a str or None, got {key!r}")
        result = await self.backend.hit(self._prefix + key, *self.rate)
        headers = self._headers(result)
        if not result.allowed:
            retry_after = str(max(1, _seconds(result.reset)))
            raise TooManyRequests(
                f"Too many requests: the limit is {self._describe()}; "
                f"retry in {retry_after} second(s)",
                headers={**headers, "retry-after": retry_after},
            )
        response = await call_next()
        for name, value in headers.items():
            response.headers[name] = value
        return response

    def _describe(self) -> str:
        limit, window = self.rate
        for unit, seconds in reversed(_UNITS.items()):
            if window == seconds:
                return f"{limit} per {unit}"
        return f"{limit} per {window:g} seconds"


def rate_limit(
    rate: str,
    *,
    key: KeyFunction = client_ip,
    backend: RateLimitBackend | None = None,
    exempt_paths: Sequence[str] = (),
    exempt_methods: Sequence[str] = ("OPTIONS",),
    headers: bool = True,
    scope: str | None = None,
) -> RateLimitMiddleware:
    """Build a middleware allowing each client `rate` requests, answering 429 past it.

    Every counted response carries `RateLimit-Limit`, `RateLimit-Remaining` and
    `RateLimit-Reset`; a refused request gets a 429 problem with `Retry-After` too.

    Args:
        rate: the quota, as `"100/minute"` (units: second, minute, hour, day; also
            `"5/10 seconds"`).
        key: `key(request)` (sync or async) naming whom the request counts for; the
            default is the client's IP address. Returning None lets the request through
            uncounted.
        backend: where counts live (default: a new `MemoryRateLimitBackend`).
        exempt_paths: paths never counted: exact, or a prefix ending with `*`.
        exempt_methods: methods never counted (CORS preflights by default).
        headers: send the `RateLimit-*` headers.
        scope: a name under which the counts are kept; middleware sharing a backend
            and a scope share a quota (default: one per rate).

    Raises:
        ValueError: `rate` is malformed, or an exempt path does not start with `/`.
    """
    return RateLimitMiddleware(
        rate,
        key=key,
        backend=backend,
        exempt_paths=exempt_paths,
        exempt_methods=exempt_methods,
        headers=headers,
        scope=scope,
    )
