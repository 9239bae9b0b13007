"""The proxy headers middleware: client, scheme and host from trusted proxies only."""

from __future__ import annotations

from typing import Any

import pytest

from ecko import Ecko, Request, context
from ecko.middleware import https_redirect, proxy_headers, sessions, trusted_hosts
from ecko.middleware.proxy_headers import parse_forwarded
from tests.conftest import ClientFactory

PROXY = ("127.0.0.1", 40000)
SECRET = "a-session-secret-of-at-least-32-characters"


def _app(**options: Any) -> Ecko[Any]:
    app = Ecko()
    app.use(proxy_headers(**options))

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, Any]:
        return {
            "client": list(request.client) if request.client else None,
            "scheme": request.scope["scheme"],
            "url": str(request.url),
            "host": request.headers.get("host"),
        }

    return app


def _get(
    client_for: ClientFactory, headers: Any, peer: tuple[str, int] = PROXY, **options: Any
) -> Any:
    response = client_for(_app(**options), client=peer).get("/whoami", headers=headers)
    assert response.status_code == 200
    return response.json()


def test_a_trusted_proxy_sets_client_scheme_and_host(client_for: ClientFactory) -> None:
    seen = _get(
        client_for,
        {
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-proto": "https",
            "x-forwarded-host": "api.example.com",
        },
    )

    assert seen == {
        "client": ["203.0.113.7", 0],
        "scheme": "https",
        "url": "https://api.example.com/whoami",
        "host": "api.example.com",
    }


def test_an_untrusted_peer_cannot_forge_anything(client_for: ClientFactory) -> None:
    headers = {
        "x-forwarded-for": "1.2.3.4",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "evil.com",
    }

    seen = _get(client_for, headers, peer=("198.51.100.9", 5555))

    assert seen == {
        "client": ["198.51.100.9", 5555],
        "scheme": "http",
        "url": "http://testserver/whoami",
        "host": "testserver",
    }


def test_the_right_most_untrusted_address_is_the_client(client_for: ClientFactory) -> None:
    # The client forged "6.6.6.6"; our proxy 10.0.0.2 appended what it saw, 203.0.113.7.
    headers = {"x-forwarded-for": "6.6.6.6, 203.0.113.7, 10.0.0.2"}

    seen = _get(client_for, headers, trusted=["127.0.0.1", "10.0.0.0/8"])

    assert seen["client"] == ["203.0.113.7", 0]


def test_when_every_hop_is_trusted_the_left_most_is_the_client(client_for: ClientFactory) -> None:
    headers = {"x-forwarded-for": "10.0.0.5, 10.0.0.2"}

    seen = _get(client_for, headers, trusted=["127.0.0.1", "10.0.0.0/8"])

    assert seen["client"] == ["10.0.0.5", 0]


def test_repeated_forwarded_for_headers_are_one_list(client_for: ClientFactory) -> None:
    headers = [(b"x-forwarded-for", b"6.6.6.6"), (b"x-forwarded-for", b"203.0.113.7")]

    assert _get(client_for, headers)["client"] == ["203.0.113.7", 0]


@pytest.mark.parametrize(
    ("value", "client"),
    [
        ("203.0.113.7:8080", ["203.0.113.7", 8080]),
        ("[2001:db8::1]:443", ["2001:db8::1", 443]),
        ("2001:db8::1", ["2001:db8::1", 0]),
        ("::ffff:203.0.113.7", ["203.0.113.7", 0]),
    ],
)
def test_addresses_with_ports_and_ipv6_are_read(
    client_for: ClientFactory, value: str, client: list[Any]
) -> None:
    assert _get(client_for, {"x-forwarded-for": value})["client"] == client


@pytest.mark.parametrize(
    "value",
    [
        "unknown",
        "not-an-ip",
        "1.2.3.4:port",
        "1.2.3.999",
        "",
        ",,,",
        "[::1",
        "a" * 5000,
        "1.2.3.4:99999",
    ],
)
def test_unreadable_forwarded_for_keeps_the_peer(client_for: ClientFactory, value: str) -> None:
    assert _get(client_for, {"x-forwarded-for": value})["client"] == list(PROXY)


@pytest.mark.parametrize(
    ("proto", "scheme"),
    [
        ("https", "https"),
        ("HTTPS", "https"),
        ("wss", "https"),
        ("ws", "http"),
        ("http, https", "https"),
        ("https, http", "http"),
        ("ftp", "http"),
        ("javascript", "http"),
        ("", "http"),
    ],
)
def test_forwarded_proto_takes_known_schemes_only(
    client_for: ClientFactory, proto: str, scheme: str
) -> None:
    assert _get(client_for, {"x-forwarded-proto": proto})["scheme"] == scheme


@pytest.mark.parametrize("host", ["evil.com/path", "a b", "@x", "x:99999", "", "[zz]"])
def test_malformed_forwarded_host_is_ignored(client_for: ClientFactory, host: str) -> None:
    assert _get(client_for, {"x-forwarded-host": host})["host"] == "testserver"


def test_forwarded_host_keeps_its_port(client_for: ClientFactory) -> None:
    seen = _get(client_for, {"x-forwarded-host": "Example.com:8443", "x-forwarded-proto": "https"})

    assert seen["url"] == "https://example.com:8443/whoami"


def test_non_latin_bytes_in_proxy_headers_never_fail(client_for: ClientFactory) -> None:
    headers = [
        (b"x-forwarded-for", b"\xff\xfe"),
        (b"x-forwarded-proto", b"\xe9"),
        (b"x-forwarded-host", b"\xc3\xa9.com"),
    ]

    seen = _get(client_for, headers)

    assert seen["client"] == list(PROXY)
    assert seen["scheme"] == "http"


def test_networks_and_a_star_are_trusted(client_for: ClientFactory) -> None:
    headers = {"x-forwarded-for": "203.0.113.7"}

    in_network = _get(client_for, headers, peer=("10.1.2.3", 1), trusted=["10.0.0.0/8"])
    anyone = _get(client_for, headers, peer=("198.51.100.1", 1), trusted=["*"])
    outside = _get(client_for, headers, peer=("11.0.0.1", 1), trusted=["10.0.0.0/8"])

    assert in_network["client"] == anyone["client"] == ["203.0.113.7", 0]
    assert outside["client"] == ["11.0.0.1", 1]


def test_a_peer_that_is_not_an_ip_is_not_trusted(client_for: ClientFactory) -> None:
    seen = _get(client_for, {"x-forwarded-for": "1.2.3.4"}, peer=("testclient", 50000))

    assert seen["client"] == ["testclient", 50000]


# -- RFC 7239 Forwarded ----------------------------------------------------------------------


def test_forwarded_is_read_only_when_enabled(client_for: ClientFactory) -> None:
    headers = {
        "forwarded": 'for="[2001:db8::7]:4711";proto=https;host=api.example.com',
        "x-forwarded-for": "6.6.6.6",
    }

    enabled = _get(client_for, headers, forwarded=True)
    disabled = _get(client_for, headers)

    assert enabled == {
        "client": ["2001:db8::7", 4711],
        "scheme": "https",
        "url": "https://api.example.com/whoami",
        "host": "api.example.com",
    }
    assert disabled["client"] == ["6.6.6.6", 0]
    assert disabled["scheme"] == "http"


def test_forwarded_uses_the_element_of_the_first_untrusted_hop(client_for: ClientFactory) -> None:
    headers = {
        "forwarded": "for=6.6.6.6;proto=https, for=203.0.113.7;proto=http, for=10.0.0.2;proto=https"
    }

    seen = _get(client_for, headers, trusted=["127.0.0.1", "10.0.0.0/8"], forwarded=True)

    assert seen["client"] == ["203.0.113.7", 0]
    assert seen["scheme"] == "http"


@pytest.mark.parametrize(
    "value", ["for", "for=", 'for="1.2.3.4', "for=1.2.3.4;;", "=x", "for=a b", "for=\x01"]
)
def test_malformed_forwarded_changes_nothing(client_for: ClientFactory, value: str) -> None:
    seen = _get(client_for, {"forwarded": value, "x-forwarded-proto": "https"}, forwarded=True)

    assert seen["client"] == list(PROXY)
    assert seen["scheme"] == "http"


def test_parse_forwarded_reads_quoted_values_and_elements() -> None:
    assert parse_forwarded('For="[::1]:80";Proto=https, for=unknown,,for=_hidden') == [
        {"for": "[::1]:80", "proto": "https"},
        {"for": "unknown"},
        {"for": "_hidden"},
    ]
    assert parse_forwarded('for="a\\"b"') == [{"for": 'a"b'}]
    assert parse_forwarded("for=1.2.3.4 x") is None


# -- what other parts see --------------------------------------------------------------------


def test_headers_read_before_the_middleware_are_refreshed(client_for: ClientFactory) -> None:
    app = Ecko()

    async def read_headers_early(request: Request, call_next: Any) -> Any:
        assert request.headers["host"] == "testserver"
        return await call_next()

    app.use(read_headers_early)
    app.use(proxy_headers())

    @app.get("/")
    def home(request: Request) -> str:
        return request.headers["host"]

    response = client_for(app, client=PROXY).get("/", headers={"x-forwarded-host": "a.example"})

    assert response.text == "a.example"


def test_sessions_mark_the_cookie_secure_behind_an_https_proxy(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use(proxy_headers())
    app.use(sessions(secret=SECRET))

    @app.post("/login")
    def login() -> dict[str, bool]:
        context.session["user"] = 1
        return {"ok": True}

    client = client_for(app, client=PROXY)
    secure = client.post("/login", headers={"x-forwarded-proto": "https"})
    plain = client.post("/login", headers={"x-forwarded-proto": "http"})

    assert "Secure" in secure.headers["set-cookie"]
    assert "Secure" not in plain.headers["set-cookie"]


def test_https_redirect_and_trusted_hosts_see_the_forwarded_values(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    app.use(proxy_headers())
    app.use(trusted_hosts(["api.example.com"]))
    app.use(https_redirect())

    @app.get("/")
    def home() -> str:
        return "home"

    client = client_for(app, client=PROXY, follow_redirects=False)
    forwarded = {"x-forwarded-host": "api.example.com"}

    over_https = client.get("/", headers={**forwarded, "x-forwarded-proto": "https"})
    over_http = client.get("/?a=1", headers={**forwarded, "x-forwarded-proto": "http"})
    other_host = client.get("/", headers={"x-forwarded-host": "evil.com"})

    assert over_https.text == "home"
    assert over_http.status_code == 308
    assert over_http.headers["location"] == "https://api.example.com/?a=1"
    assert other_host.status_code == 400


# -- construction ----------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["localhost", "10.0.0.0/33", "1.2.3", ""])
def test_entries_that_are_not_addresses_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        proxy_headers(trusted=[entry])


def test_an_empty_list_or_a_string_is_refused() -> None:
    with pytest.raises(ValueError, match="trusts no proxy"):
        proxy_headers(trusted=[])
    with pytest.raises(TypeError, match="takes a list"):
        proxy_headers(trusted="127.0.0.1")
