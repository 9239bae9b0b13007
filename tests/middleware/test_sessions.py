"""Signed-cookie sessions: round trips, tampering, expiry, rotation, attributes and limits."""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from ecko import Ecko, Request, context
from ecko.middleware import sessions
from ecko.middleware.sessions import (
    MAX_COOKIE_SIZE,
    MIN_SECRET_LENGTH,
    Session,
    SessionMiddleware,
    SessionTooLargeError,
    derive_key,
    sign,
    unsign,
)
from ecko.testing import LiveServer, TestClient
from tests.conftest import ClientFactory

APPS = Path(__file__).parents[1] / "e2e" / "apps"
SECRET = "a-test-secret-that-is-long-enough-0123456789"
OTHER_SECRET = "another-secret-just-as-long-as-the-first-one"


def _spec_app(middleware: SessionMiddleware | None = None) -> Ecko[Any]:
    """The Sessions example of the spec, plus a route that only reads."""
    app = Ecko()
    app.use(middleware or sessions(secret=SECRET))

    @app.post("/login")
    def login(data: dict[str, Any]) -> dict[str, bool]:
        context.session["user_id"] = data["user_id"]
        return {"logged_in": True}

    @app.get("/profile")
    def profile() -> dict[str, Any] | tuple[dict[str, str], int]:
        user_id = context.session.get("user_id")
        if not user_id:
            return {"error": "Not logged in"}, 401
        return {"user_id": user_id}

    @app.post("/logout")
    def logout() -> dict[str, bool]:
        context.session.clear()
        return {"logged_out": True}

    return app


def _cookie_client(client_for: ClientFactory, app: Ecko[Any], value: str) -> TestClient:
    return client_for(app, cookies={"session": value})


# -- the spec's round trip -------------------------------------------------------------------


def test_login_profile_logout_round_trip_from_the_spec(client_for: ClientFactory) -> None:
    app = Ecko()
    # Exactly as in the spec, secret included.
    app.use(sessions(secret="your-secret-key-min-32-chars!!"))

    @app.post("/login")
    def login(data: dict):  # type: ignore[no-untyped-def,type-arg]
        context.session["user_id"] = data["user_id"]
        return {"logged_in": True}

    @app.get("/profile")
    def profile():  # type: ignore[no-untyped-def]
        user_id = context.session.get("user_id")
        if not user_id:
            return {"error": "Not logged in"}, 401
        return {"user_id": user_id}

    @app.post("/logout")
    def logout():  # type: ignore[no-untyped-def]
        context.session.clear()
        return {"logged_out": True}

    client = client_for(app)
    assert client.get("/profile").status_code == 401
    assert client.post("/login", json={"user_id": 42}).json() == {"logged_in": True}
    assert client.get("/profile").json() == {"user_id": 42}
    assert client.post("/logout").json() == {"logged_out": True}
    assert client.get("/profile").status_code == 401
    assert "session" not in client.cookies


def test_async_handlers_share_the_same_session(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use(sessions(secret=SECRET))

    @app.post("/count")
    async def count(request: Request) -> dict[str, Any]:
        context.session["count"] = context.session.get("count", 0) + 1
        return {
            "count": context.session["count"],
            "same": request.scope["session"] is context.session,
        }

    client = client_for(app)
    assert client.post("/count").json() == {"count": 1, "same": True}
    assert client.post("/count").json() == {"count": 2, "same": True}


def test_session_holds_json_data_and_returns_it_as_json(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use(sessions(secret=SECRET))
    stored = {"name": "Ada", "roles": ["admin"], "prefs": {"dark": True}, "ratio": 0.5, "x": None}

    @app.post("/store")
    def store() -> None:
        context.session.update(stored)

    @app.get("/load")
    def load() -> dict[str, Any]:
        return dict(context.session)

    client = client_for(app)
    client.post("/store")
    assert client.get("/load").json() == stored


# -- the cookie ------------------------------------------------------------------------------


def test_cookie_attributes_by_default_over_http(client_for: ClientFactory) -> None:
    response = client_for(_spec_app()).post("/login", json={"user_id": 1})

    cookie = response.headers["set-cookie"]
    assert cookie.startswith("session=")
    assert cookie.split("; ")[1:] == ["Max-Age=1209600", "Path=/", "HttpOnly", "SameSite=Lax"]


def test_cookie_is_secure_when_the_request_came_over_https(client_for: ClientFactory) -> None:
    client = client_for(_spec_app(), base_url="https://testserver")

    cookie = client.post("/login", json={"user_id": 1}).headers["set-cookie"]

    assert "; Secure" in cookie
    assert client.get("/profile").json() == {"user_id": 1}


@pytest.mark.parametrize(
    ("options", "base_url", "expected"),
    [
        ({"secure": True}, "http://testserver", ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"]),
        ({"secure": False}, "https://testserver", ["Path=/", "HttpOnly", "SameSite=Lax"]),
        ({"samesite": "strict"}, "http://testserver", ["Path=/", "HttpOnly", "SameSite=Strict"]),
        (
            {"samesite": "none"},
            "http://testserver",
            ["Path=/", "Secure", "HttpOnly", "SameSite=None"],
        ),
        ({"samesite": None, "httponly": False}, "http://testserver", ["Path=/"]),
        (
            {"path": "/app", "domain": "example.com", "cookie_name": "sid"},
            "http://testserver",
            ["Path=/app", "Domain=example.com", "HttpOnly", "SameSite=Lax"],
        ),
    ],
)
def test_cookie_attributes_follow_the_options(
    client_for: ClientFactory, options: dict[str, Any], base_url: str, expected: list[str]
) -> None:
    app = _spec_app(sessions(secret=SECRET, max_age=None, **options))

    cookie = client_for(app, base_url=base_url).post("/login", json={"user_id": 1})
    name = options.get("cookie_name", "session")

    assert cookie.headers["set-cookie"].startswith(f"{name}=")
    assert cookie.headers["set-cookie"].split("; ")[1:] == expected


def test_invalid_cookie_options_fail_at_construction() -> None:
    with pytest.raises(ValueError, match=re.escape("samesite='none' requires secure=True")):
        sessions(secret=SECRET, samesite="none", secure=False)
    with pytest.raises(ValueError, match="samesite must be"):
        sessions(secret=SECRET, samesite="sometimes")
    with pytest.raises(ValueError, match="Cookie name"):
        sessions(secret=SECRET, cookie_name="my session")
    with pytest.raises(ValueError, match="max_age"):
        sessions(secret=SECRET, max_age=0)


def test_cookie_is_only_sent_when_the_session_changed(client_for: ClientFactory) -> None:
    app = _spec_app()

    @app.get("/touch")
    def touch() -> dict[str, Any]:
        context.session.setdefault("user_id", 99)  # present already: no change
        return {"user_id": context.session["user_id"], "modified": context.session.modified}

    client = client_for(app)
    assert "set-cookie" not in client.get("/profile").headers  # an empty session is never sent
    assert "set-cookie" in client.post("/login", json={"user_id": 5}).headers
    read = client.get("/profile")
    touched = client.get("/touch")

    assert read.json() == {"user_id": 5}
    assert "set-cookie" not in read.headers
    assert touched.json() == {"user_id": 5, "modified": False}
    assert "set-cookie" not in touched.headers


def test_clearing_the_session_deletes_the_cookie(client_for: ClientFactory) -> None:
    client = client_for(_spec_app())
    client.post("/login", json={"user_id": 5})

    response = client.post("/logout")

    cookie = response.headers["set-cookie"]
    assert cookie.startswith("session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    assert "session" not in client.cookies


def test_clearing_without_a_cookie_sends_nothing(client_for: ClientFactory) -> None:
    response = client_for(_spec_app()).post("/logout")

    assert response.json() == {"logged_out": True}
    assert "set-cookie" not in response.headers


def test_session_is_saved_on_error_responses_too(client_for: ClientFactory) -> None:
    app = _spec_app()

    @app.post("/fail-after-login")
    def fail() -> None:
        context.session["user_id"] = 3
        raise ValueError("later step failed")

    @app.exception_handler(ValueError)
    def handle(exc: ValueError) -> tuple[dict[str, str], int]:
        return {"error": str(exc)}, 400

    client = client_for(app)
    assert client.post("/fail-after-login").status_code == 400
    assert client.get("/profile").json() == {"user_id": 3}


# -- signatures, tampering, expiry -----------------------------------------------------------


def test_tampered_cookie_gives_a_fresh_session(client_for: ClientFactory) -> None:
    middleware = sessions(secret=SECRET)
    value = middleware.encode_cookie({"user_id": 1})
    _, stamp, signature = value.split(".")
    forged_payload = base64.urlsafe_b64encode(b'{"user_id":2}').rstrip(b"=").decode()
    forged = f"{forged_payload}.{stamp}.{signature}"

    client = _cookie_client(client_for, _spec_app(middleware), forged)

    assert client.get("/profile").status_code == 401
    assert _cookie_client(client_for, _spec_app(middleware), value).get("/profile").json() == {
        "user_id": 1
    }


def test_cookie_signed_with_another_secret_is_ignored(client_for: ClientFactory) -> None:
    foreign = sessions(secret=OTHER_SECRET).encode_cookie({"user_id": 1})

    client = _cookie_client(client_for, _spec_app(), foreign)

    assert client.get("/profile").status_code == 401


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c",
        "..",
        "eyJ1c2VyX2lkIjoxfQ.notanumber.sig",
        "eyJ1c2VyX2lkIjoxfQ.123.",
        "\u00e9\u00e9.1.\u00e9",
    ],
)
def test_malformed_cookies_give_a_fresh_session(client_for: ClientFactory, value: str) -> None:
    app = _spec_app()
    client = client_for(app)

    response = client.get("/profile", headers={b"cookie": f"session={value}".encode()})

    assert response.status_code == 401


def test_validly_signed_cookie_that_is_not_a_json_object_is_ignored(
    client_for: ClientFactory,
) -> None:
    value = sign(b"[1, 2, 3]", derive_key(SECRET))
    not_json = sign(b"\xff not json", derive_key(SECRET))

    for cookie in (value, not_json):
        assert _cookie_client(client_for, _spec_app(), cookie).get("/profile").status_code == 401


def test_expired_cookie_gives_a_fresh_session(client_for: ClientFactory) -> None:
    middleware = sessions(secret=SECRET, max_age=60)
    now = int(time.time())
    old = middleware.encode_cookie({"user_id": 1}, timestamp=now - 120)
    recent = middleware.encode_cookie({"user_id": 2}, timestamp=now - 30)

    expired = _cookie_client(client_for, _spec_app(middleware), old).get("/profile")
    fresh = _cookie_client(client_for, _spec_app(middleware), recent).get("/profile")

    assert expired.status_code == 401
    assert fresh.json() == {"user_id": 2}


def test_browser_sessions_have_no_max_age_and_no_server_expiry(client_for: ClientFactory) -> None:
    middleware = sessions(secret=SECRET, max_age=None)
    ancient = middleware.encode_cookie({"user_id": 7}, timestamp=0)

    client = _cookie_client(client_for, _spec_app(middleware), ancient)
    login = client_for(_spec_app(middleware)).post("/login", json={"user_id": 8})

    assert client.get("/profile").json() == {"user_id": 7}
    assert "Max-Age" not in login.headers["set-cookie"]


def test_sign_and_unsign_use_hmac_sha256_and_check_the_age() -> None:
    key = derive_key(SECRET)
    value = sign(b"data", key, timestamp=1_000)

    payload, stamp, signature = value.split(".")
    assert base64.urlsafe_b64decode(payload + "==") == b"data"
    assert stamp == "1000"
    assert len(base64.urlsafe_b64decode(signature + "=")) == 32  # a SHA-256 digest
    assert unsign(value, [key], max_age=None) == b"data"
    assert unsign(value, [key], max_age=100, now=1_100) == b"data"
    assert unsign(value, [key], max_age=100, now=1_101) is None
    assert unsign(value, [derive_key(OTHER_SECRET)], max_age=None) is None
    assert unsign(value.replace(".1000.", ".1001."), [key], max_age=None) is None
    assert derive_key(SECRET) != derive_key(OTHER_SECRET)
    assert derive_key(SECRET) == derive_key(SECRET.encode())


# -- secrets ---------------------------------------------------------------------------------


def test_rotation_signs_with_the_first_secret_and_accepts_any(client_for: ClientFactory) -> None:
    before = sessions(secret=OTHER_SECRET)
    rotated = sessions(secret=[SECRET, OTHER_SECRET])
    after = sessions(secret=SECRET)
    old_cookie = before.encode_cookie({"user_id": 1})
    new_cookie = rotated.encode_cookie({"user_id": 2})

    assert _cookie_client(client_for, _spec_app(rotated), old_cookie).get("/profile").json() == {
        "user_id": 1
    }
    assert rotated.decode_cookie(new_cookie) == {"user_id": 2}
    assert after.decode_cookie(new_cookie) == {"user_id": 2}
    assert before.decode_cookie(new_cookie) is None
    assert after.decode_cookie(old_cookie) is None


def test_short_secrets_are_refused_saying_so() -> None:
    short = "s" * (MIN_SECRET_LENGTH - 1)

    with pytest.raises(ValueError, match=f"must be at least {MIN_SECRET_LENGTH}") as caught:
        sessions(secret=short)
    assert "secrets.token_urlsafe(32)" in str(caught.value)
    assert short not in str(caught.value)  # never echo a secret into logs
    with pytest.raises(ValueError, match="Session secret #2 is 29 characters"):
        sessions(secret=[SECRET, short])
    with pytest.raises(ValueError, match="at least one secret"):
        sessions(secret=[])
    with pytest.raises(TypeError, match="str or bytes"):
        sessions(secret=[SECRET, 42])  # type: ignore[list-item]
    assert isinstance(sessions(secret="s" * MIN_SECRET_LENGTH), SessionMiddleware)
    assert isinstance(sessions(secret=b"\x00" * 32), SessionMiddleware)


# -- what may be stored ----------------------------------------------------------------------


def test_values_json_cannot_hold_are_a_clear_type_error(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = _spec_app()

    @app.post("/store-object")
    def store() -> None:
        context.session["ok"] = 1
        context.session["user"] = object()

    response = client_for(app).post("/store-object")

    assert response.status_code == 500
    assert "Session value 'user' (object) cannot be stored" in caplog.text
    with pytest.raises(TypeError, match="Session value 'handler' \\(function\\)"):
        sessions(secret=SECRET).encode_cookie({"handler": store})
    with pytest.raises(TypeError, match="Session keys must be strings"):
        sessions(secret=SECRET).encode_cookie({1: "one"})  # type: ignore[dict-item]


def test_a_session_too_large_for_a_cookie_is_a_logged_500(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = _spec_app()

    @app.post("/store-a-lot")
    def store() -> None:
        context.session["small"] = 1
        context.session["history"] = "x" * MAX_COOKIE_SIZE

    with caplog.at_level(logging.WARNING):
        response = client_for(app).post("/store-a-lot")

    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "largest keys: history, small" in warnings[0].getMessage()
    assert "SessionTooLargeError" in caplog.text
    assert "over the 4093-byte limit" in caplog.text


def test_cookie_size_limit_is_measured_on_the_signed_cookie() -> None:
    middleware = sessions(secret=SECRET)
    fits = middleware.encode_cookie({"v": "x" * 3000})
    assert len("session=" + fits) <= MAX_COOKIE_SIZE

    with pytest.raises(SessionTooLargeError, match=r"would be \d+ bytes"):
        middleware.encode_cookie({"v": "x" * 3100})


def test_a_custom_serializer_is_used_both_ways(client_for: ClientFactory) -> None:
    middleware = sessions(secret=SECRET, serializer=msgspec.msgpack)
    value = middleware.encode_cookie({"user_id": 11})

    payload = unsign(value, [derive_key(SECRET)], max_age=None)
    assert payload is not None
    assert msgspec.msgpack.decode(payload) == {"user_id": 11}
    assert _cookie_client(client_for, _spec_app(middleware), value).get("/profile").json() == {
        "user_id": 11
    }


# -- the Session dict ------------------------------------------------------------------------


def test_session_notes_every_kind_of_change() -> None:
    changes: list[Any] = [
        lambda s: s.__setitem__("b", 2),
        lambda s: s.__delitem__("a"),
        lambda s: s.clear(),
        lambda s: s.pop("a"),
        lambda s: s.pop("missing", None),  # nothing removed: no change
        lambda s: s.popitem(),
        lambda s: s.setdefault("new", 1),
        lambda s: s.setdefault("a"),  # already there: no change
        lambda s: s.update({"c": 3}),
        lambda s: s.update(d=4),
        lambda s: s.__ior__({"e": 5}),
    ]
    expected = [True, True, True, True, False, True, True, False, True, True, True]

    observed = []
    for change in changes:
        session = Session({"a": 1})
        change(session)
        observed.append(session.modified)

    assert observed == expected


def test_reading_a_session_does_not_change_it() -> None:
    session = Session({"a": 1, "b": [1]})

    assert session.get("a") == 1
    assert session["b"] == [1]
    assert "a" in session
    assert list(session.items()) == [("a", 1), ("b", [1])]
    assert session.copy() == {"a": 1, "b": [1]}
    assert session.modified is False
    session |= {"c": 1}
    assert session.modified is True
    assert isinstance(session, Session)
    assert repr(session) == "Session({'a': 1, 'b': [1], 'c': 1}, modified=True)"


def test_nested_changes_are_saved_when_marked(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use(sessions(secret=SECRET))

    @app.post("/cart/{item}")
    def add(item: str) -> list[str]:
        cart: list[str] = context.session.setdefault("cart", [])
        cart.append(item)
        context.session.modified = True
        return cart

    client = client_for(app)
    client.post("/cart/apple")
    assert client.post("/cart/pear").json() == ["apple", "pear"]


def test_open_session_reads_the_cookie_of_any_scope() -> None:
    middleware = sessions(secret=SECRET)
    value = middleware.encode_cookie({"user_id": 4})
    scope: dict[str, Any] = {
        "type": "websocket",
        "headers": [(b"cookie", f"theme=dark; session={value}".encode())],
    }

    session = middleware.open_session(scope)

    assert session == {"user_id": 4}
    assert scope["session"] is session
    assert middleware.open_session({"type": "websocket", "headers": []}) == {}


# -- over the wire ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live() -> Iterator[httpx.Client]:
    with (
        LiveServer("cors_sessions_app:app", cwd=APPS) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        yield http


def test_session_round_trip_through_a_real_server(live: httpx.Client) -> None:
    assert live.get("/profile").status_code == 401
    login = live.post("/login", json={"user_id": 42})
    assert login.json() == {"logged_in": True}
    assert "HttpOnly" in login.headers["set-cookie"]
    assert live.get("/profile").json() == {"user_id": 42}
    assert "set-cookie" not in live.get("/profile").headers
    assert live.post("/logout").headers["set-cookie"].startswith("session=; Max-Age=0")
    assert live.get("/profile").status_code == 401


def test_websocket_handshake_reads_the_session_as_ws_session_and_context(
    client_for: ClientFactory,
) -> None:
    from ecko import WebSocket

    app = Ecko()
    app.use(sessions(secret=SECRET))

    @app.post("/login")
    def login() -> dict[str, bool]:
        context.session["user_id"] = 7
        return {"logged_in": True}

    @app.websocket("/ws")
    async def ws_handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_json(
            {"ws": ws.session.get("user_id"), "context": context.session.get("user_id")}
        )

    client = client_for(app)
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"ws": None, "context": None}
    client.post("/login")
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"ws": 7, "context": 7}
