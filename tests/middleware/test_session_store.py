"""Server-side sessions: the cookie holds a signed id, the data stays in a `SessionStore`."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest

from ecko import Ecko, WebSocket, context
from ecko.middleware import sessions
from ecko.middleware.sessions import (
    MAX_COOKIE_SIZE,
    MemoryStore,
    SessionMiddleware,
    SessionStore,
    derive_key,
    sign,
    unsign,
)
from ecko.testing import TestClient
from tests.conftest import ClientFactory

SECRET = "a-test-secret-that-is-long-enough-0123456789"
OTHER_SECRET = "another-secret-just-as-long-as-the-first-one"


def _cookie_client(client_for: ClientFactory, app: Ecko[Any], value: str) -> TestClient:
    return client_for(app, cookies={"session": value})


def _cookie(response: Any) -> str:
    """The session cookie's value in a response's Set-Cookie."""
    return str(response.headers["set-cookie"]).split(";")[0].removeprefix("session=")


# -- the cookie and the record ------------------------------------------------------------


def _store_app(store: SessionStore, **options: Any) -> Ecko[Any]:
    """The spec's login, profile and logout, plus routes exercising the store."""
    app = Ecko()
    app.use(sessions(secret=SECRET, store=store, **options))

    @app.post("/login")
    def login(data: dict[str, Any]) -> None:
        context.session["user_id"] = data["user_id"]

    @app.get("/profile")
    def profile() -> dict[str, Any] | tuple[dict[str, str], int]:
        user_id = context.session.get("user_id")
        if not user_id:
            return {"error": "Not logged in"}, 401
        return {"user_id": user_id}

    @app.post("/logout")
    def logout() -> None:
        context.session.clear()

    @app.post("/secure-login")
    def secure_login(data: dict[str, Any]) -> None:
        context.session.regenerate()
        context.session["user_id"] = data["user_id"]

    @app.post("/big")
    def big() -> None:
        context.session["history"] = "x" * (MAX_COOKIE_SIZE * 2)

    @app.post("/theme")
    def theme() -> None:
        context.session["theme"] = "dark"

    return app


def test_with_a_store_the_cookie_holds_only_a_signed_id(client_for: ClientFactory) -> None:
    store = MemoryStore()
    client = client_for(_store_app(store))

    login = client.post("/login", json={"user_id": 42})
    cookie = _cookie(login)
    session_id = unsign(cookie, [derive_key(SECRET)], max_age=None)

    assert session_id is not None
    assert len(session_id) == 43  # secrets.token_urlsafe(32)
    assert b"42" not in base64.urlsafe_b64decode(cookie.split(".")[0] + "==")
    assert asyncio.run(store.get(session_id.decode())) == b'{"user_id":42}'
    assert client.get("/profile").json() == {"user_id": 42}
    assert login.headers["set-cookie"].split("; ")[1:] == [
        "Max-Age=1209600",
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
    ]


def test_a_store_holds_sessions_too_large_for_a_cookie(client_for: ClientFactory) -> None:
    client = client_for(_store_app(MemoryStore()))

    response = client.post("/big")

    assert response.status_code == 204
    assert len(response.headers["set-cookie"]) < 200


def test_changing_a_stored_session_writes_the_store_not_the_cookie(
    client_for: ClientFactory,
) -> None:
    store = MemoryStore()
    client = client_for(_store_app(store))
    client.post("/login", json={"user_id": 1})

    theme = client.post("/theme")

    assert "set-cookie" not in theme.headers  # same id, fresh cookie: nothing to resend
    assert theme.headers["vary"] == "Cookie"
    assert len(store) == 1
    assert client.get("/profile").json() == {"user_id": 1}


def test_regenerate_issues_a_new_id_and_deletes_the_old_record(client_for: ClientFactory) -> None:
    store = MemoryStore()
    app = _store_app(store)
    attacker = client_for(app)
    attacker.post("/theme")
    planted = attacker.cookies["session"]  # fixation: this id is planted in the victim's browser

    victim = _cookie_client(client_for, app, planted)
    login = victim.post("/secure-login", json={"user_id": 7})
    new_cookie = _cookie(login)

    assert new_cookie != planted
    assert victim.get("/profile").json() == {"user_id": 7}
    assert len(store) == 1
    # The planted id leads nowhere: its record is gone, and the data stayed with the new id.
    assert attacker.get("/profile").status_code == 401


def test_clearing_a_stored_session_deletes_record_and_cookie(client_for: ClientFactory) -> None:
    store = MemoryStore()
    client = client_for(_store_app(store))
    client.post("/login", json={"user_id": 1})
    old_cookie = client.cookies["session"]

    logout = client.post("/logout")

    assert logout.headers["set-cookie"].startswith("session=; Max-Age=0")
    assert len(store) == 0
    # Replaying the old cookie finds nothing: logout revokes a stored session.
    replay = _cookie_client(client_for, _store_app(store), old_cookie)
    assert replay.get("/profile").status_code == 401


@pytest.mark.parametrize(
    "make",
    [
        lambda: sign(b"an-id-that-was-never-issued", derive_key(SECRET)),
        lambda: sign(b"forged", derive_key(OTHER_SECRET)),
        lambda: "not-a-cookie",
    ],
)
def test_unknown_or_forged_ids_are_an_empty_session(client_for: ClientFactory, make: Any) -> None:
    store = MemoryStore()
    client = _cookie_client(client_for, _store_app(store), make())

    assert client.get("/profile").status_code == 401
    login = client.post("/login", json={"user_id": 2})
    # A fresh id is issued: an unknown id from a client is never adopted.
    assert unsign(_cookie(login), [derive_key(SECRET)], None) != b"an-id-that-was-never-issued"


def test_stored_data_that_is_not_a_json_object_is_an_empty_session(
    client_for: ClientFactory,
) -> None:
    store = MemoryStore()
    asyncio.run(store.set("known", b"[1, 2]", None))
    cookie = sign(b"known", derive_key(SECRET))

    assert _cookie_client(client_for, _store_app(store), cookie).get("/profile").status_code == 401


def test_a_read_stored_session_is_refreshed_in_store_and_cookie(client_for: ClientFactory) -> None:
    store = MemoryStore()
    asyncio.run(store.set("sid", b'{"user_id": 6}', 100))
    old = sign(b"sid", derive_key(SECRET), timestamp=int(time.time()) - 60)
    client = _cookie_client(client_for, _store_app(store, max_age=100), old)

    response = client.get("/profile")

    assert response.json() == {"user_id": 6}
    assert unsign(_cookie(response), [derive_key(SECRET)], None) == b"sid"
    assert "Max-Age=100" in response.headers["set-cookie"]


def test_memory_store_expires_and_evicts_the_least_recently_used() -> None:
    async def scenario() -> None:
        store = MemoryStore(max_entries=2)
        await store.set("a", b"1", None)
        await store.set("b", b"2", None)
        assert await store.get("a") == b"1"  # "a" is now the most recently used
        await store.set("c", b"3", None)
        assert await store.get("b") is None
        assert await store.get("a") == b"1"
        await store.set("gone", b"4", 0)  # a ttl of 0 is already over; "c" is evicted
        assert await store.get("gone") is None
        assert await store.get("c") is None
        assert len(store) == 1
        await store.delete("a")
        await store.delete("never-there")
        assert await store.get("a") is None
        assert len(store) == 0

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(max_entries=0)


def test_memory_store_satisfies_the_protocol() -> None:
    store: SessionStore = MemoryStore()
    assert isinstance(sessions(secret=SECRET, store=store), SessionMiddleware)


# -- WebSockets -----------------------------------------------------------------------------


def test_websocket_handshake_reads_a_stored_session(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use(sessions(secret=SECRET, store=MemoryStore()))

    @app.post("/login")
    def login() -> None:
        context.session["user_id"] = 9

    @app.websocket("/ws")
    async def ws_handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_json(
            {"ws": ws.session.get("user_id"), "context": context.session.get("user_id")}
        )

    client = client_for(app)
    client.post("/login")
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"ws": 9, "context": 9}


class _SlowStore:
    """A store that waits for I/O before every answer, as a network store does."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}

    async def get(self, session_id: str) -> bytes | None:
        await asyncio.sleep(0)
        return self.records.get(session_id)

    async def set(self, session_id: str, data: bytes, ttl: int | None) -> None:
        await asyncio.sleep(0)
        self.records[session_id] = data

    async def delete(self, session_id: str) -> None:
        await asyncio.sleep(0)
        self.records.pop(session_id, None)


def test_websocket_handshake_awaits_a_store_that_waits_for_io(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    app.use(sessions(secret=SECRET, store=_SlowStore()))

    @app.post("/login")
    def login() -> None:
        context.session["user_id"] = 12

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"user_id": context.session.get("user_id")})

    client = client_for(app)
    client.post("/login")
    with client.websocket_connect("/ws") as connection:
        assert connection.receive_json() == {"user_id": 12}
