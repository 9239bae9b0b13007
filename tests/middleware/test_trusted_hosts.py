"""The trusted hosts middleware: 400 for Host headers naming a host not served here."""

from __future__ import annotations

from typing import Any

import pytest

from ecko import Ecko
from ecko.middleware import trusted_hosts
from ecko.middleware.trusted_hosts import split_host
from tests.conftest import ClientFactory

HOSTS = ["example.com", "*.example.com", "127.0.0.1", "::1"]


def _app(hosts: Any = HOSTS) -> Ecko[Any]:
    app = Ecko()
    app.use(trusted_hosts(hosts))

    @app.get("/")
    def home() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "EXAMPLE.com",
        "example.com:8000",
        "example.com.",
        "api.example.com",
        "a.b.example.com:443",
        "127.0.0.1:8080",
        "[::1]",
        "[0:0::1]:8000",
    ],
)
def test_listed_hosts_pass(client_for: ClientFactory, host: str) -> None:
    response = client_for(_app()).get("/", headers={"host": host})

    assert response.status_code == 200
    assert response.json() == {"ok": True}


@pytest.mark.parametrize(
    "host",
    ["evil.com", "example.com.evil.com", "notexample.com", "xexample.com", "127.0.0.2", "[::2]"],
)
def test_other_hosts_are_400_naming_the_host(client_for: ClientFactory, host: str) -> None:
    response = client_for(_app()).get("/", headers={"host": host})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith("Host ")
    assert "is not served here" in response.json()["detail"]


def test_a_wildcard_does_not_cover_the_bare_domain(client_for: ClientFactory) -> None:
    client = client_for(_app(["*.example.com"]))

    assert client.get("/", headers={"host": "example.com"}).status_code == 400
    assert client.get("/", headers={"host": "www.example.com"}).status_code == 200
    assert client.get("/", headers={"host": ".example.com"}).status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"example.com:",
        b"example.com:99999",
        b"example.com:abc",
        b"user@example.com",
        b"example.com/path",
        b"exa mple.com",
        b"example..com",
        b"[::1",
        b"[zz::1]",
        b"\xff\xfe",
        b"a" * 10_000,
    ],
)
def test_malformed_hosts_are_400_never_500(client_for: ClientFactory, raw: bytes) -> None:
    response = client_for(_app()).get("/", headers=[(b"host", raw)])

    assert response.status_code == 400
    assert response.json()["status"] == 400


def test_two_host_headers_are_refused(client_for: ClientFactory) -> None:
    headers = [(b"host", b"example.com"), (b"host", b"evil.com")]

    response = client_for(_app()).get("/", headers=headers)

    assert response.status_code == 400
    assert response.json()["detail"] == "The request needs exactly one valid Host header"


def test_a_star_allows_every_host(client_for: ClientFactory) -> None:
    client = client_for(_app(["*"]))

    assert client.get("/", headers={"host": "anything.test"}).status_code == 200
    assert client.get("/", headers=[(b"host", b"bad host")]).status_code == 200


def test_unlisted_host_is_refused_before_routing(client_for: ClientFactory) -> None:
    response = client_for(_app()).get("/missing", headers={"host": "evil.com"})

    assert response.status_code == 400


def test_split_host_normalizes_case_dot_port_and_ipv6() -> None:
    assert split_host("Example.COM.:80") == ("example.com", 80)
    assert split_host("[0:0:0:0:0:0:0:1]:8080") == ("[::1]", 8080)
    assert split_host("localhost") == ("localhost", None)
    assert split_host("bad/host") is None


@pytest.mark.parametrize(
    "entry", ["https://example.com", "example.com:8000", "*example.com", "a.*.com", "", "*.[::1]"]
)
def test_entries_that_are_not_host_names_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="trusted_hosts"):
        trusted_hosts([entry])


def test_an_empty_list_or_a_string_is_refused() -> None:
    with pytest.raises(ValueError, match="no hosts"):
        trusted_hosts([])
    with pytest.raises(TypeError, match="takes a list"):
        trusted_hosts("example.com")
