"""CORS and session headers on the wire: preflights, Vary, Set-Cookie attributes, stores."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from ecko.serialization import decode_json
from ecko.testing import LiveServer

APPS = Path(__file__).parent / "apps"
ORIGIN = "https://myapp.com"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer("cors_sessions_app:app", cwd=APPS) as live:
        yield live


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    """A fresh client (its own cookie jar) per test."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def _cookie(response: httpx.Response) -> str:
    return response.headers["set-cookie"].split(";")[0].removeprefix("session=")


def _ws_json(server: LiveServer, path: str, cookie: str | None) -> Any:
    async def ask() -> Any:
        headers = {"cookie": f"session={cookie}"} if cookie else None
        url = server.url.replace("http://", "ws://") + path
        async with connect(url, additional_headers=headers) as ws:
            return decode_json(await ws.recv())

    return asyncio.run(ask())


# -- CORS ------------------------------------------------------------------------------------


def test_preflight_is_answered_204_with_the_allowed_set(http: httpx.Client) -> None:
    response = http.options(
        "/login",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )

    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-methods"] == "GET, POST, PUT, DELETE"
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        (
            {"origin": "https://evil.example", "access-control-request-method": "POST"},
            "origin 'https://evil.example' is not allowed",
        ),
        (
            {"origin": ORIGIN, "access-control-request-method": "PATCH"},
            "method 'PATCH' is not allowed (allowed: GET, POST, PUT, DELETE)",
        ),
        (
            {
                "origin": ORIGIN,
                "access-control-request-method": "POST",
                "access-control-request-headers": "x-debug",
            },
            "header 'x-debug' is not allowed",
        ),
        (
            {"origin": "not an origin", "access-control-request-method": "GET"},
            "origin 'not an origin' is not a valid origin",
        ),
    ],
)
def test_refused_preflight_is_a_400_problem_naming_the_reason(
    http: httpx.Client, headers: dict[str, str], detail: str
) -> None:
    response = http.options("/login", headers=headers)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == f"CORS preflight refused: {detail}"
    assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/profile", 401),
        ("GET", "/missing", 404),
        ("PUT", "/login", 405),
        ("GET", "/items/abc", 422),
        ("GET", "/boom", 500),
    ],
)
def test_every_answer_to_an_allowed_origin_is_labelled(
    http: httpx.Client, method: str, path: str, status: int
) -> None:
    response = http.request(method, path, headers={"origin": ORIGIN})

    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-expose-headers"] == "x-total"
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://myapp.com.evil.example", "null", "%%%"]
)
def test_other_and_malformed_origins_get_no_cors_headers(http: httpx.Client, origin: str) -> None:
    response = http.get("/items/1", headers={"origin": origin})

    assert response.status_code == 200
    assert [name for name in response.headers if name.startswith("access-control-")] == []
    assert response.headers["vary"] == "Origin"


# -- cookie sessions -------------------------------------------------------------------------


def test_session_cookie_attributes_and_vary_on_the_wire(http: httpx.Client) -> None:
    assert http.get("/profile").status_code == 401

    login = http.post("/login", json={"user_id": 42})
    read = http.get("/profile")
    logout = http.post("/logout")

    assert login.headers["set-cookie"].split("; ")[1:] == [
        "Max-Age=1209600",
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
    ]
    assert login.headers["vary"] == "Cookie, Origin"
    assert read.json() == {"user_id": 42}
    assert "set-cookie" not in read.headers  # read only, and fresh: not sent again
    assert read.headers["vary"] == "Cookie, Origin"
    assert logout.headers["set-cookie"].startswith(
        "session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly"
    )
    assert http.get("/profile").status_code == 401


def test_cookie_is_secure_when_the_server_reports_https(http: httpx.Client) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 by default (--forwarded-allow-ips), so
    # the scope's scheme is "https" here, as behind a TLS-terminating proxy on the host.
    login = http.post("/login", json={"user_id": 1}, headers={"x-forwarded-proto": "https"})

    assert "; Secure; HttpOnly; SameSite=Lax" in login.headers["set-cookie"]


def test_tampered_and_garbage_cookies_are_an_empty_session(http: httpx.Client) -> None:
    cookie = _cookie(http.post("/login", json={"user_id": 5}))
    payload, stamp, signature = cookie.split(".")

    for bad in (f"{payload}x.{stamp}.{signature}", cookie[:-3], "garbage", "a.b.c", "%ff%00"):
        response = http.get("/profile", headers={"cookie": f"session={bad}"})
        assert response.status_code == 401, bad


def test_websocket_handshake_reads_the_cookie_session(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        cookie = _cookie(http.post("/login", json={"user_id": 8}))

    assert _ws_json(server, "/ws", cookie) == {"user_id": 8}
    assert _ws_json(server, "/ws", None) == {"user_id": None}


# -- stored sessions -------------------------------------------------------------------------


def test_stored_session_round_trip_with_regenerate_and_logout(
    http: httpx.Client, server: LiveServer
) -> None:
    first = http.post("/stored/login", json={"user_id": 1})
    first_cookie = _cookie(first)
    second = http.post("/stored/login", json={"user_id": 2})

    # Only a signed id travels, though the session holds ~10 KB.
    assert len(first.headers["set-cookie"]) < 200
    assert _cookie(second) != first_cookie  # regenerate(): a new id at each login
    assert http.get("/stored/profile").json() == {"user_id": 2}
    # The old id's record was deleted when the new one was issued.
    replay = httpx.get(
        f"{server.url}/stored/profile", headers={"cookie": f"session={first_cookie}"}
    )
    assert replay.json() == {"user_id": None}
    assert _ws_json(server, "/stored/ws", _cookie(second)) == {"user_id": 2}

    logout = http.post("/stored/logout")
    assert logout.headers["set-cookie"].startswith("session=; Max-Age=0")
    assert _ws_json(server, "/stored/ws", _cookie(second)) == {"user_id": None}
