"""The csrf middleware: a signed double-submit token, checked on unsafe requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ecko import Ecko, Request, context
from ecko.middleware import csrf, sessions
from ecko.middleware.csrf import CSRFMiddleware
from ecko.testing import LiveServer, TestClient
from tests.conftest import ClientFactory

SECRET = "a-csrf-secret-of-at-least-thirty-two-chars"
OTHER_SECRET = "another-secret-of-at-least-thirty-two-chars"


def _app(**options: Any) -> Ecko[Any]:
    app = Ecko()
    app.use(csrf(options.pop("secret", SECRET), **options))

    @app.get("/form")
    def form() -> dict[str, str]:
        return {"token": context.csrf_token}

    @app.post("/submit")
    async def submit(request: Request) -> dict[str, Any]:
        return {"ok": True, "body": (await request.body()).decode()}

    @app.delete("/items/1")
    def delete() -> dict[str, bool]:
        return {"deleted": True}

    @app.post("/webhooks/stripe")
    def webhook() -> dict[str, bool]:
        return {"received": True}

    return app


def _token(client: TestClient) -> str:
    token = client.get("/form").json()["token"]
    assert isinstance(token, str)
    return token


def _reason(response: httpx.Response) -> str:
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert detail.startswith("CSRF check failed: ")
    return detail


# -- the token -------------------------------------------------------------------------------


def test_first_get_sets_a_readable_lax_cookie_equal_to_context_token(
    client_for: ClientFactory,
) -> None:
    client = client_for(_app())
    response = client.get("/form")
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"csrftoken={response.json()['token']};")
    assert "SameSite=Lax" in set_cookie
    assert "Path=/" in set_cookie
    assert "HttpOnly" not in set_cookie  # scripts copy it into the header
    assert "Secure" not in set_cookie  # plain http here


def test_cookie_is_kept_not_resent(client_for: ClientFactory) -> None:
    client = client_for(_app())
    token = _token(client)
    again = client.get("/form")
    assert "set-cookie" not in again.headers
    assert again.json()["token"] == token


def test_tokens_are_random_per_client(client_for: ClientFactory) -> None:
    app = _app()
    assert _token(client_for(app)) != _token(client_for(app))


def test_cookie_is_secure_over_https(client_for: ClientFactory) -> None:
    client = client_for(_app(), base_url="https://testserver")
    assert "Secure" in client.get("/form").headers["set-cookie"]


# -- checks ----------------------------------------------------------------------------------


def test_token_in_header_passes(client_for: ClientFactory) -> None:
    client = client_for(_app())
    token = _token(client)
    response = client.post("/submit", headers={"X-CSRF-Token": token}, content=b"data")
    assert response.json() == {"ok": True, "body": "data"}
    assert client.delete("/items/1", headers={"x-csrf-token": token}).status_code == 200


def test_token_in_urlencoded_form_passes_and_the_body_stays_readable(
    client_for: ClientFactory,
) -> None:
    client = client_for(_app())
    token = _token(client)
    response = client.post("/submit", data={"csrf_token": token, "name": "Ann"})
    assert response.status_code == 200
    assert response.json()["body"] == f"csrf_token={token}&name=Ann"


def test_multipart_form_passes_with_the_header(client_for: ClientFactory) -> None:
    client = client_for(_app())
    token = _token(client)
    response = client.post(
        "/submit", headers={"X-CSRF-Token": token}, files={"upload": ("a.txt", b"hello")}
    )
    assert response.status_code == 200


def test_token_in_multipart_field_passes_and_the_form_stays_readable(
    client_for: ClientFactory,
) -> None:
    app = _app()

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        form = await request.form()
        return {"fields": sorted(form)}

    client = client_for(app)
    token = _token(client)
    response = client.post(
        "/upload", data={"csrf_token": token}, files={"upload": ("a.txt", b"hello")}
    )
    assert response.json() == {"fields": ["csrf_token", "upload"]}
    refused = client.post("/upload", data={"csrf_token": "x"}, files={"f": ("a", b"")})
    assert "does not match" in _reason(refused)


def test_route_body_limit_holds_for_a_form_token_read_before_routing(
    client_for: ClientFactory,
) -> None:
    # csrf reads the form before routing sets the route's own, smaller limit.
    app = _app()

    @app.post("/small", max_body_size=1024)
    async def small(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    client = client_for(app)
    token = _token(client)
    fits = client.post("/small", data={"csrf_token": token, "note": "x" * 100})
    assert fits.json() == {"size": len(fits.request.content)}
    too_big = client.post("/small", data={"csrf_token": token, "note": "x" * 10_000})
    assert too_big.status_code == 413
    upload = client.post(
        "/small", data={"csrf_token": token}, files={"f": ("a.bin", b"x" * 10_000)}
    )
    assert upload.status_code == 413


def test_missing_cookie_is_403_naming_it_and_hands_out_a_cookie(
    client_for: ClientFactory,
) -> None:
    client = client_for(_app())
    response = client.post("/submit", headers={"X-CSRF-Token": "whatever"})
    assert "cookie is missing" in _reason(response)
    assert response.headers["set-cookie"].startswith("csrftoken=")
    # The cookie handed out with the 403 makes the retry work.
    retry = client.post("/submit", headers={"X-CSRF-Token": client.cookies["csrftoken"]})
    assert retry.status_code == 200


def test_missing_token_is_403_naming_header_and_field(client_for: ClientFactory) -> None:
    client = client_for(_app())
    _token(client)
    detail = _reason(client.post("/submit", data={"name": "Ann"}))
    assert "x-csrf-token" in detail
    assert "'csrf_token'" in detail
    assert "no CSRF token" in _reason(client.post("/submit", json={"a": 1}))


def test_mismatched_token_is_403(client_for: ClientFactory) -> None:
    client = client_for(_app())
    _token(client)
    other = _token(client_for(_app()))  # valid, but another client's
    response = client.post("/submit", headers={"X-CSRF-Token": other})
    assert "does not match" in _reason(response)


def test_planted_unsigned_cookie_cannot_forge_a_token(client_for: ClientFactory) -> None:
    # A sibling subdomain can set a cookie for the parent domain, with a value it knows.
    client = client_for(_app(), cookies={"csrftoken": "attacker.chosen"})
    response = client.post("/submit", headers={"X-CSRF-Token": "attacker.chosen"})
    assert "cookie is invalid" in _reason(response)
    assert response.headers["set-cookie"].startswith("csrftoken=")


def test_token_signed_with_another_secret_is_invalid(client_for: ClientFactory) -> None:
    foreign = _token(client_for(_app(secret=OTHER_SECRET)))
    client = client_for(_app(), cookies={"csrftoken": foreign})
    assert "cookie is invalid" in _reason(client.post("/submit", headers={"x-csrf-token": foreign}))


def test_secret_rotation_accepts_tokens_of_older_secrets(client_for: ClientFactory) -> None:
    old = _token(client_for(_app(secret=OTHER_SECRET)))
    client = client_for(_app(secret=[SECRET, OTHER_SECRET]), cookies={"csrftoken": old})
    assert client.post("/submit", headers={"x-csrf-token": old}).status_code == 200
    assert client.get("/form").json()["token"] == old


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE"])
def test_safe_methods_are_not_checked(client_for: ClientFactory, method: str) -> None:
    app = _app()
    app.add_route("/any", lambda: "fine", ["GET", "OPTIONS", "TRACE"])
    response = client_for(app).request(method, "/any")
    assert response.status_code == 200


def test_exempt_paths_are_not_checked(client_for: ClientFactory) -> None:
    client = client_for(_app(exempt_paths=["/webhooks/*"]))
    assert client.post("/webhooks/stripe").json() == {"received": True}
    assert client.post("/submit").status_code == 403


# -- bound to the session when sessions() runs first -----------------------------------------


def _session_app() -> Ecko[Any]:
    app = Ecko()
    app.use(sessions(SECRET))
    app.use(csrf(SECRET))

    @app.get("/form")
    def form() -> dict[str, str]:
        return {"token": context.csrf_token}

    @app.post("/submit")
    def submit() -> dict[str, bool]:
        return {"ok": True}

    return app


def test_with_sessions_the_token_lives_in_the_session(client_for: ClientFactory) -> None:
    client = client_for(_session_app())
    first = client.get("/form")
    token = first.json()["token"]
    assert client.cookies["csrftoken"] == token
    assert "session" in client.cookies
    assert client.get("/form").json()["token"] == token
    assert client.post("/submit", headers={"x-csrf-token": token}).json() == {"ok": True}
    assert client.post("/submit", data={"csrf_token": token}).json() == {"ok": True}


def test_with_sessions_a_planted_valid_token_does_not_pass(client_for: ClientFactory) -> None:
    app = _session_app()
    attacker = client_for(app)
    planted = _token(attacker)  # a genuine token, of the attacker's own session
    victim = client_for(app)
    _token(victim)
    # A sibling subdomain overwrites the victim's CSRF cookie with the attacker's token.
    victim.cookies.set("csrftoken", planted)
    response = victim.post("/submit", headers={"x-csrf-token": planted})
    assert "does not match the session's" in _reason(response)


def test_with_sessions_a_new_session_has_no_token_yet(client_for: ClientFactory) -> None:
    client = client_for(_session_app())
    planted = _token(client_for(_session_app()))
    client.cookies.set("csrftoken", planted)
    response = client.post("/submit", headers={"x-csrf-token": planted})
    assert "session held no CSRF token" in _reason(response)
    # The 403 carries the new session and cookie: the retry with them passes.
    handed_out = response.cookies["csrftoken"]
    client.cookies.delete("csrftoken")
    client.cookies.set("csrftoken", handed_out)
    assert client.post("/submit", headers={"x-csrf-token": handed_out}).status_code == 200


# -- Origin and Referer on HTTPS -------------------------------------------------------------


def _https(client_for: ClientFactory, **options: Any) -> tuple[TestClient, str]:
    client = client_for(_app(**options), base_url="https://testserver")
    return client, _token(client)


def test_https_same_origin_passes(client_for: ClientFactory) -> None:
    client, token = _https(client_for)
    headers = {"x-csrf-token": token, "origin": "https://testserver"}
    assert client.post("/submit", headers=headers).status_code == 200
    headers = {"x-csrf-token": token, "referer": "https://testserver/form?x=1"}
    assert client.post("/submit", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://testserver", "https://testserver:8443", "null", "garbage"],
)
def test_https_cross_origin_is_403_even_with_the_token(
    client_for: ClientFactory, origin: str
) -> None:
    client, token = _https(client_for)
    response = client.post("/submit", headers={"x-csrf-token": token, "origin": origin})
    assert "not this site" in _reason(response)


def test_https_without_origin_needs_a_same_site_referer(client_for: ClientFactory) -> None:
    client, token = _https(client_for)
    assert "Referer" in _reason(client.post("/submit", headers={"x-csrf-token": token}))
    headers = {"x-csrf-token": token, "referer": "https://evil.example/page"}
    assert "another site" in _reason(client.post("/submit", headers=headers))
    headers = {"x-csrf-token": token, "referer": "https://[::1"}
    assert "another site" in _reason(client.post("/submit", headers=headers))


def test_trusted_origins_may_post(client_for: ClientFactory) -> None:
    client, token = _https(client_for, trusted_origins=["https://admin.example.com"])
    headers = {"x-csrf-token": token, "origin": "https://admin.example.com"}
    assert client.post("/submit", headers=headers).status_code == 200


def test_origin_check_can_be_turned_off(client_for: ClientFactory) -> None:
    client, token = _https(client_for, check_origin=False)
    assert client.post("/submit", headers={"x-csrf-token": token}).status_code == 200


def test_plain_http_skips_the_origin_check(client_for: ClientFactory) -> None:
    client = client_for(_app())
    token = _token(client)
    headers = {"x-csrf-token": token, "origin": "https://evil.example"}
    assert client.post("/submit", headers=headers).status_code == 200


# -- malformed input: 403, never 500 ---------------------------------------------------------


def test_non_ascii_token_header_is_a_mismatch(client_for: ClientFactory) -> None:
    client = client_for(_app())
    _token(client)
    response = client.post("/submit", headers={b"x-csrf-token": "caf\xe9".encode("latin-1")})
    assert "does not match" in _reason(response)


@pytest.mark.parametrize("cookie", ["", ".", "no-dot", "caf\xe9.x", "a.b.c", "%%%.%%%"])
def test_garbage_cookie_is_invalid_not_500(client_for: ClientFactory, cookie: str) -> None:
    client = client_for(_app())
    raw = f"csrftoken={cookie}".encode("latin-1")
    response = client.post("/submit", headers={b"cookie": raw, b"x-csrf-token": raw[10:]})
    assert response.status_code == 403


def test_form_body_that_is_not_utf8_counts_as_no_token(client_for: ClientFactory) -> None:
    client = client_for(_app())
    _token(client)
    response = client.post(
        "/submit",
        content=b"csrf_token=\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert "no CSRF token" in _reason(response)


# -- configuration ---------------------------------------------------------------------------


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match=r"at least \d+ characters"):
        csrf("short")
    with pytest.raises(ValueError, match="at least one secret"):
        csrf([])


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="scheme://host"):
        csrf(SECRET, trusted_origins=["admin.example.com"])
    with pytest.raises(ValueError, match="scheme://host"):
        csrf(SECRET, trusted_origins=["https://example.com/path"])
    with pytest.raises(TypeError, match="takes a list"):
        csrf(SECRET, exempt_paths="/webhooks")
    with pytest.raises(ValueError, match="samesite"):
        csrf(SECRET, samesite="sometimes")


def test_tokens_verify_only_with_their_secret() -> None:
    middleware = csrf(SECRET)
    token = middleware.new_token()
    assert middleware.is_valid(token)
    assert not csrf(OTHER_SECRET).is_valid(token)
    assert not middleware.is_valid(token[:-1])
    assert isinstance(middleware, CSRFMiddleware)


# -- through a real server -------------------------------------------------------------------

APP_SOURCE = """
from ecko import Ecko, HTMLResponse, context
from ecko.middleware import csrf, sessions

app = Ecko()
app.use(csrf("a-csrf-secret-of-at-least-thirty-two-chars"))


@app.get("/form")
def form() -> HTMLResponse:
    return HTMLResponse(
        '<form method="post" action="/submit">'
        f'<input type="hidden" name="csrf_token" value="{context.csrf_token}">'
        "</form>"
    )


@app.post("/submit")
def submit() -> dict[str, bool]:
    return {"ok": True}
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("csrf_app")
    (folder / "csrf_app.py").write_text(APP_SOURCE)
    with (
        LiveServer("csrf_app:app", cwd=folder) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        yield http


def test_html_form_round_trip_on_the_wire(live: httpx.Client) -> None:
    live.cookies.clear()
    page = live.get("/form")
    token = page.text.split('value="')[1].split('"')[0]
    assert live.cookies["csrftoken"] == token
    assert live.post("/submit", data={"csrf_token": token}).json() == {"ok": True}
    refused = live.post("/submit", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert "does not match" in refused.json()["detail"]


def test_missing_cookie_on_the_wire_sets_one_with_the_403(live: httpx.Client) -> None:
    live.cookies.clear()
    refused = live.post("/submit", data={"csrf_token": "x"})
    assert refused.status_code == 403
    assert "cookie is missing" in refused.json()["detail"]
    assert refused.headers["set-cookie"].startswith("csrftoken=")
