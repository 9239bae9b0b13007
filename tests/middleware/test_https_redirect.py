"""The HTTPS redirect middleware: 308 from http to https, keeping host, path and query."""

from __future__ import annotations

from typing import Any

import pytest

from ecko import Ecko, Request
from ecko.middleware import https_redirect
from ecko.testing import TestClient
from tests.conftest import ClientFactory


def _app(**options: Any) -> Ecko[Any]:
    app = Ecko()
    app.use(https_redirect(**options))

    @app.get("/items/{name}")
    def item(name: str, request: Request) -> dict[str, str]:
        return {"name": name, "url": str(request.url)}

    @app.post("/items")
    async def create(request: Request) -> dict[str, str]:
        return {"body": (await request.body()).decode()}

    return app


def test_http_get_is_redirected_with_308_keeping_path_and_query(client_for: ClientFactory) -> None:
    client = client_for(_app(), follow_redirects=False)

    response = client.get("/items/a%2Fb?q=1&x=%20y", headers={"host": "example.com"})

    assert response.status_code == 308
    assert response.headers["location"] == "https://example.com/items/a%2Fb?q=1&x=%20y"
    assert response.content == b""


def test_post_is_redirected_with_308_so_method_and_body_are_kept(
    client_for: ClientFactory,
) -> None:
    response = client_for(_app(), follow_redirects=False).post("/items", content=b"data")

    assert response.status_code == 308
    assert response.headers["location"] == "https://testserver/items"


@pytest.mark.parametrize(
    ("host", "location"),
    [
        ("example.com:80", "https://example.com/items/x"),
        ("example.com:8080", "https://example.com/items/x"),
        ("[::1]:8000", "https://[::1]/items/x"),
        ("EXAMPLE.com", "https://example.com/items/x"),
    ],
)
def test_the_port_becomes_the_https_port(
    client_for: ClientFactory, host: str, location: str
) -> None:
    response = client_for(_app(), follow_redirects=False).get("/items/x", headers={"host": host})

    assert response.headers["location"] == location


def test_a_custom_https_port_is_kept(client_for: ClientFactory) -> None:
    response = client_for(_app(https_port=8443), follow_redirects=False).get(
        "/items/x?a=1", headers={"host": "h.test"}
    )

    assert response.headers["location"] == "https://h.test:8443/items/x?a=1"


def test_https_requests_pass_through() -> None:
    with TestClient(_app(), base_url="https://example.com") as client:
        response = client.get("/items/x")

    assert response.status_code == 200
    assert response.json() == {"name": "x", "url": "https://example.com/items/x"}


def test_unknown_paths_redirect_too(client_for: ClientFactory) -> None:
    response = client_for(_app(), follow_redirects=False).get(
        "/nowhere", headers={"host": "example.com"}
    )

    assert response.status_code == 308
    assert response.headers["location"] == "https://example.com/nowhere"


@pytest.mark.parametrize(
    "raw", [b"evil.com/x", b"a b", b"host\\x", b"\xff", b"example.com:99999", b"", b"@evil.com"]
)
def test_a_malformed_host_is_400_not_a_redirect_elsewhere(
    client_for: ClientFactory, raw: bytes
) -> None:
    response = client_for(_app(), follow_redirects=False).get("/items/x", headers=[(b"host", raw)])

    assert response.status_code == 400
    assert "location" not in response.headers


def test_odd_bytes_in_path_and_query_stay_percent_encoded(client_for: ClientFactory) -> None:
    response = client_for(_app(), follow_redirects=False).get(
        "/items/%C3%A9%0D%0A?next=%0D%0Aset-cookie:x", headers={"host": "example.com"}
    )

    assert response.status_code == 308
    assert response.headers["location"] == (
        "https://example.com/items/%C3%A9%0D%0A?next=%0D%0Aset-cookie:x"
    )


@pytest.mark.parametrize("port", [0, 70000, True, "443"])
def test_invalid_ports_are_refused(port: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="https_port"):
        https_redirect(https_port=port)


def test_a_client_following_the_redirect_resends_the_post_body(
    client_for: ClientFactory,
) -> None:
    response = client_for(_app(), follow_redirects=True).post("/items", content=b"data")

    assert response.status_code == 200
    assert response.json() == {"body": "data"}
    assert [r.status_code for r in response.history] == [308]
    assert str(response.url) == "https://testserver/items"
