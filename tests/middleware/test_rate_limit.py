"""The rate_limit middleware: quotas per key, 429 with Retry-After, RateLimit-* headers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ecko import Ecko, Request
from ecko.middleware import proxy_headers, rate_limit
from ecko.middleware.rate_limit import (
    MemoryRateLimitBackend,
    Rate,
    RateLimitBackend,
    RateLimitResult,
    client_ip,
    parse_rate,
)
from ecko.testing import LiveServer
from tests.conftest import ClientFactory


class Clock:
    """A settable time source, so windows pass without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _app(rate: str = "3/minute", **options: Any) -> Ecko[Any]:
    app = Ecko()
    app.use(rate_limit(rate, **options))

    @app.get("/items")
    def items() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/items")
    def create() -> dict[str, bool]:
        return {"created": True}

    @app.get("/health")
    def health() -> str:
        return "up"

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("handler failed")

    return app


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100/minute", Rate(100, 60.0)),
        ("1/second", Rate(1, 1.0)),
        ("5 / hour", Rate(5, 3600.0)),
        ("1000/day", Rate(1000, 86400.0)),
        ("10/minutes", Rate(10, 60.0)),
        ("5/10 seconds", Rate(5, 10.0)),
        ("20 per Minute", Rate(20, 60.0)),
    ],
)
def test_rates_are_parsed(text: str, expected: Rate) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize(
    "text", ["", "100", "100/fortnight", "minute/100", "-1/minute", "0/minute", "1.5/second"]
)
def test_malformed_rate_is_refused_at_construction_with_the_format(text: str) -> None:
    with pytest.raises(ValueError, match=r"'N/unit'|above 0"):
        rate_limit(text)


def test_bad_options_are_refused() -> None:
    with pytest.raises(TypeError, match="takes a list"):
        rate_limit("1/second", exempt_paths="/health")
    with pytest.raises(ValueError, match="starting with '/'"):
        rate_limit("1/second", exempt_paths=["health"])
    with pytest.raises(TypeError, match="function of the request"):
        rate_limit("1/second", key="ip")  # type: ignore[arg-type]


# -- the in-memory backend -------------------------------------------------------------------


def test_memory_backend_allows_the_quota_then_refuses_until_a_slot_frees() -> None:
    clock = Clock()
    backend = MemoryRateLimitBackend(clock=clock)

    async def hits(count: int) -> list[RateLimitResult]:
        return [await backend.hit("k", 3, 60) for _ in range(count)]

    first = asyncio.run(hits(4))
    assert [(r.allowed, r.remaining) for r in first] == [
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
    ]
    assert first[0].reset == pytest.approx(20)  # one request's worth: 60 s / 3
    assert first[2].reset == pytest.approx(60)  # the whole quota
    assert first[3].reset == pytest.approx(20)  # the next slot
    clock.now += 20
    assert [(r.allowed, r.remaining) for r in asyncio.run(hits(2))] == [(True, 0), (False, 0)]
    clock.now += 60
    assert asyncio.run(hits(1))[0].remaining == 2


def test_memory_backend_first_hit_is_allowed_despite_float_rounding() -> None:
    # At such times (now + 60) - 60 > now: a strict comparison refused a fresh client.
    now = next(x / 7 for x in range(10**6, 10**7) if (x / 7 + 60) - 60 > x / 7)
    backend = MemoryRateLimitBackend(clock=lambda: now)
    result = asyncio.run(backend.hit("k", 1, 60))
    assert (result.allowed, result.remaining) == (True, 0)
    assert result.reset == pytest.approx(60)


def test_header_seconds_ignore_float_noise(client_for: ClientFactory) -> None:
    now = next(x / 7 for x in range(10**6, 10**7) if (x / 7 + 60) - 60 > x / 7)
    backend = MemoryRateLimitBackend(clock=lambda: now)
    client = client_for(_app("1/minute", backend=backend))
    assert client.get("/items").headers["ratelimit-reset"] == "60"
    assert client.get("/items").headers["retry-after"] == "60"


def test_memory_backend_counts_keys_apart() -> None:
    backend = MemoryRateLimitBackend(clock=Clock())

    async def run() -> tuple[bool, bool]:
        await backend.hit("a", 1, 60)
        return (await backend.hit("a", 1, 60)).allowed, (await backend.hit("b", 1, 60)).allowed

    assert asyncio.run(run()) == (False, True)


def test_memory_backend_forgets_expired_keys_and_stays_bounded() -> None:
    clock = Clock()
    backend = MemoryRateLimitBackend(max_keys=100, clock=clock)

    async def run() -> None:
        for number in range(250):
            await backend.hit(f"client-{number}", 5, 10)

    asyncio.run(run())
    assert len(backend) == 100  # least recently seen evicted past max_keys
    clock.now += 11
    asyncio.run(backend.hit("late", 5, 10))
    assert len(backend) == 1  # every other key's quota was whole again: swept


def test_memory_backend_satisfies_the_protocol() -> None:
    backend: RateLimitBackend = MemoryRateLimitBackend()
    assert asyncio.run(backend.hit("k", 1, 1)).allowed


# -- the middleware --------------------------------------------------------------------------


def test_responses_carry_ratelimit_headers(client_for: ClientFactory) -> None:
    client = client_for(_app())
    response = client.get("/items")
    assert response.status_code == 200
    assert response.headers["ratelimit-limit"] == "3"
    assert response.headers["ratelimit-remaining"] == "2"
    assert response.headers["ratelimit-reset"] == "20"
    assert client.get("/items").headers["ratelimit-remaining"] == "1"


def test_over_the_quota_is_429_problem_with_retry_after(client_for: ClientFactory) -> None:
    client = client_for(_app("2/minute"))
    assert [client.get("/items").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/items")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-limit"] == "2"
    body = refused.json()
    assert body["status"] == 429
    assert "2 per minute" in body["detail"]


def test_every_method_and_path_shares_the_clients_quota(client_for: ClientFactory) -> None:
    client = client_for(_app("2/minute"))
    assert client.get("/items").status_code == 200
    assert client.post("/items").status_code == 200
    assert client.get("/health").status_code == 429


def test_error_responses_carry_the_headers_too(client_for: ClientFactory) -> None:
    client = client_for(_app(), raise_server_exceptions=False)
    assert client.get("/boom").headers["ratelimit-remaining"] == "2"
    assert client.get("/missing").headers["ratelimit-remaining"] == "1"


def test_exempt_paths_and_methods_are_not_counted(client_for: ClientFactory) -> None:
    client = client_for(_app("1/minute", exempt_paths=["/health"], exempt_methods=["POST"]))
    for _ in range(3):
        health = client.get("/health")
        assert health.status_code == 200
        assert "ratelimit-limit" not in health.headers
        assert client.post("/items").status_code == 200
    assert client.get("/items").status_code == 200
    assert client.get("/items").status_code == 429


def test_prefix_exemption(client_for: ClientFactory) -> None:
    client = client_for(_app("1/minute", exempt_paths=["/heal*"]))
    assert [client.get("/health").status_code for _ in range(3)] == [200, 200, 200]


def test_key_function_receives_the_request_and_none_skips(client_for: ClientFactory) -> None:
    def by_api_key(request: Request) -> str | None:
        return request.headers.get("x-api-key")

    client = client_for(_app("1/minute", key=by_api_key))
    assert client.get("/items", headers={"x-api-key": "a"}).status_code == 200
    assert client.get("/items", headers={"x-api-key": "a"}).status_code == 429
    assert client.get("/items", headers={"x-api-key": "b"}).status_code == 200
    anonymous = client.get("/items")
    assert anonymous.status_code == 200
    assert "ratelimit-limit" not in anonymous.headers


def test_async_key_function(client_for: ClientFactory) -> None:
    async def by_user(request: Request) -> str:
        return request.query_params.get("user", "anonymous")

    client = client_for(_app("1/minute", key=by_user))
    assert client.get("/items?user=ann").status_code == 200
    assert client.get("/items?user=bob").status_code == 200
    assert client.get("/items?user=ann").status_code == 429


def test_headers_can_be_turned_off(client_for: ClientFactory) -> None:
    client = client_for(_app("1/minute", headers=False))
    assert "ratelimit-limit" not in client.get("/items").headers
    refused = client.get("/items")
    assert refused.status_code == 429
    assert "ratelimit-limit" not in refused.headers
    assert refused.headers["retry-after"] == "60"


def test_two_limits_on_one_backend_count_apart(client_for: ClientFactory) -> None:
    backend = MemoryRateLimitBackend()
    app = _app("5/second", backend=backend)
    app.use(rate_limit("2/minute", backend=backend))
    client = client_for(app)
    assert [client.get("/items").status_code for _ in range(3)] == [200, 200, 429]


def test_client_ip_keys_by_the_peer_address(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/ip")
    def ip(request: Request) -> str:
        return client_ip(request)

    assert client_for(app).get("/ip").text == "testclient"


def test_behind_proxy_headers_each_forwarded_client_has_its_quota(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    app.use(proxy_headers(trusted=["127.0.0.1"]))
    app.use(rate_limit("1/minute"))

    @app.get("/items")
    def items() -> str:
        return "ok"

    client = client_for(app, client=("127.0.0.1", 50000))

    def get(forwarded_for: str) -> int:
        return client.get("/items", headers={"x-forwarded-for": forwarded_for}).status_code

    assert [get("203.0.113.1"), get("203.0.113.2"), get("203.0.113.1")] == [200, 200, 429]


def test_a_backend_of_your_own_plugs_in(client_for: ClientFactory) -> None:
    class Always:
        """Refuses everything: shows the Protocol is all a backend needs."""

        def __init__(self) -> None:
            self.keys: list[str] = []

        async def hit(self, key: str, limit: int, window: float) -> RateLimitResult:
            self.keys.append(key)
            return RateLimitResult(False, 0, 2.5)

    backend = Always()
    refused = client_for(_app(backend=backend)).get("/items")
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "3")
    assert backend.keys == ["3/60s:testclient"]


# -- through a real server -------------------------------------------------------------------

APP_SOURCE = """
from ecko import Ecko
from ecko.middleware import proxy_headers, rate_limit

app = Ecko()
app.use(rate_limit("3/minute"))


@app.get("/items")
def items() -> dict[str, bool]:
    return {"ok": True}
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("rate_limit_app")
    (folder / "rate_limit_app.py").write_text(APP_SOURCE)
    with (
        LiveServer("rate_limit_app:app", cwd=folder) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        yield http


def test_headers_and_429_on_the_wire(live: httpx.Client) -> None:
    statuses = [live.get("/items") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in statuses] == ["2", "1", "0", "0"]
    assert statuses[3].headers["retry-after"] == "20"
    assert statuses[3].json()["status"] == 429
