"""Signed-cookie sessions: round trips, tampering, expiry, rotation, attributes and limits."""

from __future__ import annotations

import asyncio
import base64
import datetime
import inspect
import logging
import re
import time
import uuid
from typing import Any

import pytest

from ecko import Ecko, Request, WebSocket, context
from ecko.middleware import sessions
from ecko.middleware.sessions import (
    DEFAULT_MAX_AGE,
    MAX_COOKIE_SIZE,
    MIN_SECRET_LENGTH,
    Session,
    SessionMiddleware,
    SessionTooLargeError,
    derive_key,
    sign,
    unsign,
)
from ecko.testing import TestClient
from tests.conftest import ClientFactory

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


def _cookie(response: Any) -> str:
    """The session cookie's value in a response's Set-Cookie."""
    return str(response.headers["set-cookie"]).split(";")[0].removeprefix("session=")


# -- the spec's round trip -------------------------------------------------------------------


def test_login_profile_logout_round_trip_from_the_spec(client_for: ClientFactory) -> None:
    app = Ecko()
    # As in the spec, with the full example's secret: the short one is refused (issue 4).
    app.use(sessions(secret="change-me-in-production-use-env-var"))

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
        (
            {"https_only": True},
            "http://testserver",
            ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"],
        ),
        ({"https_only": False}, "https://testserver", ["Path=/", "HttpOnly", "SameSite=Lax"]),
        ({"same_site": "strict"}, "http://testserver", ["Path=/", "HttpOnly", "SameSite=Strict"]),
        (
            {"same_site": "none"},
            "http://testserver",
            ["Path=/", "Secure", "HttpOnly", "SameSite=None"],
        ),
        ({"same_site": None}, "http://testserver", ["Path=/", "HttpOnly"]),
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
    with pytest.raises(ValueError, match=re.escape("same_site='none') needs the Secure")):
        sessions(secret=SECRET, same_site="none", https_only=False)
    with pytest.raises(ValueError, match=re.escape("same_site=...) must be 'lax'")):
        sessions(secret=SECRET, same_site="sometimes")
    with pytest.raises(TypeError, match=re.escape("https_only=...) must be None, True or False")):
        sessions(secret=SECRET, https_only="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes a SessionStore"):
        sessions(secret=SECRET, store={})  # type: ignore[arg-type]
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
    with pytest.raises(ValueError, match="Session secret #2 is 31 characters"):
        sessions(secret=[SECRET, short])
    with pytest.raises(ValueError, match="at least one secret"):
        sessions(secret=[])
    with pytest.raises(TypeError, match="str or bytes"):
        sessions(secret=[SECRET, 42])  # type: ignore[list-item]
    assert isinstance(sessions(secret="s" * MIN_SECRET_LENGTH), SessionMiddleware)
    assert isinstance(sessions(secret=b"\x00" * 32), SessionMiddleware)


# -- what may be stored ----------------------------------------------------------------------


def test_values_json_cannot_hold_are_refused_where_they_are_set(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = _spec_app()

    @app.post("/store-object")
    def store() -> None:
        context.session["ok"] = 1
        context.session["user"] = object()

    response = client_for(app).post("/store-object")

    assert response.status_code == 500
    assert "session['user'] is a object; session values must be JSON data" in caplog.text
    assert "test_sessions.py" in caplog.text  # the traceback points at the handler's line


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (datetime.datetime(2026, 1, 1), "session['v'] is a datetime"),
        (uuid.UUID(int=1), "session['v'] is a UUID"),
        ({1, 2}, "session['v'] is a set"),
        (b"bytes", "session['v'] is a bytes"),
        (float("nan"), "session['v'] is nan"),
        (float("inf"), "session['v'] is inf"),
        ({"ok": [1, {"deep": object()}]}, "session['v']['ok'][1]['deep'] is a object"),
        ({1: "one"}, "session['v'] has the key 1"),
    ],
)
def test_non_json_values_are_a_type_error_naming_where(value: Any, message: str) -> None:
    session = Session()

    with pytest.raises(TypeError, match=re.escape(message)):
        session["v"] = value
    with pytest.raises(TypeError, match=re.escape(message)):
        session.update({"ok": 1}, v=value)  # all or nothing
    with pytest.raises(TypeError, match=re.escape(message)):
        session.setdefault("v", value)
    assert session == {}
    assert session.modified is False


def test_json_values_of_every_kind_are_accepted_and_come_back_equal(
    client_for: ClientFactory,
) -> None:
    app = _spec_app()
    value = {"s": "é", "i": 2**60, "f": 0.25, "b": False, "n": None, "l": [1, [2, {"x": []}]]}

    @app.post("/set")
    def set_value() -> None:
        context.session["v"] = value

    @app.get("/get")
    def get_value() -> Any:
        return context.session["v"]

    client = client_for(app)
    client.post("/set")
    assert client.get("/get").json() == value


def test_a_non_json_value_changed_in_place_fails_when_saved(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = _spec_app()

    @app.post("/sneak")
    def sneak() -> None:
        context.session["items"] = []
        context.session["items"].append(object())  # not seen on assignment

    response = client_for(app).post("/sneak")

    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert "session['items'][0] is a object" in caplog.text
    with pytest.raises(TypeError, match="Session keys must be strings"):
        sessions(secret=SECRET).encode_cookie({1: "one"})  # type: ignore[dict-item]


def test_a_session_too_large_for_a_cookie_is_a_logged_500_suggesting_a_store(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = _spec_app()

    @app.post("/store-a-lot")
    def store() -> None:
        context.session["small"] = 1
        context.session["history"] = "x" * MAX_COOKIE_SIZE

    response = client_for(app).post("/store-a-lot")

    assert response.status_code == 500
    assert "SessionTooLarge" not in response.text  # the message is logged, never sent
    assert "set-cookie" not in response.headers
    assert "SessionTooLargeError" in caplog.text
    assert "over the 4096-byte limit browsers keep (largest keys: history, small)" in caplog.text
    assert "store=MemoryStore()" in caplog.text


def test_cookie_size_limit_is_measured_on_the_signed_cookie() -> None:
    middleware = sessions(secret=SECRET)
    fits = middleware.encode_cookie({"v": "x" * 3000})
    assert len("session=" + fits) <= MAX_COOKIE_SIZE

    with pytest.raises(SessionTooLargeError, match=r"would be \d+ bytes"):
        middleware.encode_cookie({"v": "x" * 3100})


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

    session = asyncio.run(middleware.open_session(scope))

    assert session == {"user_id": 4}
    assert scope["session"] is session
    assert asyncio.run(middleware.open_session({"type": "websocket", "headers": []})) == {}


# -- WebSockets -----------------------------------------------------------------------------


def test_websocket_handshake_reads_the_session_as_ws_session_and_context(
    client_for: ClientFactory,
) -> None:
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


# -- the signature, the secret ---------------------------------------------------------------


def test_signature_is_the_one_the_issue_names() -> None:
    parameters = inspect.signature(sessions).parameters

    assert list(parameters) == [
        "secret",
        "max_age",
        "cookie_name",
        "same_site",
        "https_only",
        "domain",
        "path",
        "store",
    ]
    assert parameters["max_age"].default == DEFAULT_MAX_AGE == 14 * 24 * 60 * 60
    assert parameters["cookie_name"].default == "session"
    assert parameters["same_site"].default == "lax"
    assert parameters["https_only"].default is None
    assert parameters["domain"].default is None
    assert parameters["path"].default == "/"
    assert parameters["store"].default is None


def test_the_specs_30_character_example_secret_is_refused() -> None:
    with pytest.raises(
        ValueError, match="The session secret is 30 characters; it must be at least 32"
    ):
        sessions(secret="your-secret-key-min-32-chars!!")
    assert MIN_SECRET_LENGTH == 32


# -- Vary, refresh, debug logs ---------------------------------------------------------------


def test_responses_that_read_the_session_vary_on_cookie(client_for: ClientFactory) -> None:
    app = _spec_app()

    @app.get("/public")
    def public() -> dict[str, bool]:
        return {"public": True}

    @app.get("/varied")
    def varied() -> Any:
        from ecko import Response

        context.session.get("user_id")
        return Response("x", headers={"vary": "Accept-Encoding"})

    client = client_for(app)
    login = client.post("/login", json={"user_id": 1})
    profile = client.get("/profile")

    assert login.headers["vary"] == "Cookie"  # written: a cookie for one visitor only
    assert profile.headers["vary"] == "Cookie"
    assert client_for(app).get("/profile").headers["vary"] == "Cookie"  # read, found empty
    assert "vary" not in client.get("/public").headers
    assert client.get("/varied").headers["vary"] == "Accept-Encoding, Cookie"


@pytest.mark.parametrize(
    ("read", "age", "resent"),
    [
        (True, 59, False),  # younger than half of max_age: not sent again
        (True, 61, True),  # older: signed again, so an active visitor stays signed in
        (False, 61, False),  # not read: the response stays free of Set-Cookie
    ],
)
def test_a_read_session_is_signed_again_past_half_its_max_age(
    client_for: ClientFactory, read: bool, age: int, resent: bool
) -> None:
    middleware = sessions(secret=SECRET, max_age=120)
    app = _spec_app(middleware)

    @app.get("/nothing")
    def nothing() -> None:
        return None

    cookie = middleware.encode_cookie({"user_id": 5}, timestamp=int(time.time()) - age)
    client = _cookie_client(client_for, app, cookie)

    response = client.get("/profile" if read else "/nothing")

    assert ("set-cookie" in response.headers) is resent
    if resent:
        fresh = response.headers["set-cookie"].split(";")[0].removeprefix("session=")
        assert fresh != cookie
        assert middleware.decode_cookie(fresh) == {"user_id": 5}
        assert "Max-Age=120" in response.headers["set-cookie"]


def test_browser_sessions_are_never_refreshed(client_for: ClientFactory) -> None:
    middleware = sessions(secret=SECRET, max_age=None)
    cookie = middleware.encode_cookie({"user_id": 5}, timestamp=0)

    response = _cookie_client(client_for, _spec_app(middleware), cookie).get("/profile")

    assert response.json() == {"user_id": 5}
    assert "set-cookie" not in response.headers


def _tampered(value: str) -> str:
    payload, stamp, signature = value.split(".")
    return f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{stamp}.{signature}"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda m: _tampered(m.encode_cookie({"user_id": 1})), "bad signature"),
        (lambda m: m.encode_cookie({"user_id": 1})[:-5], "bad signature"),  # truncated
        (lambda m: m.encode_cookie({"user_id": 1}).rsplit(".", 1)[0], "malformed"),
        (lambda m: m.encode_cookie({"user_id": 1}, timestamp=0), "expired"),
        (lambda m: sessions(secret=OTHER_SECRET).encode_cookie({"user_id": 1}), "bad signature"),
        (lambda m: "%00%ff\\u00e9garbage", "malformed"),
        (lambda m: sign(b"[1]", derive_key(SECRET)), "not a JSON object"),
        (lambda m: sign(b"{not json", derive_key(SECRET)), "not JSON"),
    ],
)
def test_bad_cookies_are_an_empty_session_logged_at_debug_level(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture, make: Any, reason: str
) -> None:
    middleware = sessions(secret=SECRET)
    client = _cookie_client(client_for, _spec_app(middleware), make(middleware))

    with caplog.at_level(logging.DEBUG, logger="ecko.middleware.sessions"):
        response = client.get("/profile")

    assert response.status_code == 401
    debug = [r.getMessage() for r in caplog.records if r.name == "ecko.middleware.sessions"]
    assert len(debug) == 1
    assert reason in debug[0]
    assert all(
        r.levelno == logging.DEBUG for r in caplog.records if r.name.startswith("ecko.middleware")
    )


# -- https_only ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("https_only", "base_url", "secure"),
    [
        (None, "http://testserver", False),
        (None, "https://testserver", True),
        (True, "http://testserver", True),
        (True, "https://testserver", True),
        (False, "http://testserver", False),
        (False, "https://testserver", False),
    ],
)
def test_secure_follows_https_only_and_the_request_scheme(
    client_for: ClientFactory, https_only: bool | None, base_url: str, secure: bool
) -> None:
    app = _spec_app(sessions(secret=SECRET, https_only=https_only))

    login_response = client_for(app, base_url=base_url).post("/login", json={"user_id": 1})
    logged_in = client_for(app, base_url=base_url, cookies={"session": _cookie(login_response)})
    login = login_response.headers["set-cookie"]
    logout = logged_in.post("/logout").headers["set-cookie"]

    assert ("; Secure" in login) is secure
    assert ("; Secure" in logout) is secure
    assert "; HttpOnly" in login


def test_secure_reads_the_scheme_proxy_headers_rewrote(client_for: ClientFactory) -> None:
    from ecko.middleware import proxy_headers

    app = Ecko()
    app.use(proxy_headers(trusted=["127.0.0.1"]))
    app.use(sessions(secret=SECRET))

    @app.post("/login")
    def login() -> None:
        context.session["user_id"] = 1

    forwarded = {"x-forwarded-proto": "https"}
    trusted = client_for(app, client=("127.0.0.1", 50000)).post("/login", headers=forwarded)
    stranger = client_for(app, client=("203.0.113.9", 50000)).post("/login", headers=forwarded)

    assert "; Secure" in trusted.headers["set-cookie"]
    # From a peer that is not a trusted proxy, the header alone changes nothing.
    assert "Secure" not in stranger.headers["set-cookie"]


# -- regenerate ------------------------------------------------------------------------------


def test_regenerate_without_a_store_signs_the_cookie_again(client_for: ClientFactory) -> None:
    app = _spec_app()

    @app.post("/relogin")
    def relogin() -> None:
        context.session.regenerate()

    client = client_for(app)
    client.post("/login", json={"user_id": 3})
    response = client.post("/relogin")

    assert response.headers["set-cookie"].startswith("session=")
    assert client.get("/profile").json() == {"user_id": 3}
