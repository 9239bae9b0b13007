"""The CORS middleware: preflights answered before routing, labels on every response."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest

from ecko import Ecko, NotFound, Response
from ecko.middleware import cors
from ecko.testing import TestClient
from tests.conftest import ClientFactory

ORIGIN = "https://myapp.com"


def _app(**options: Any) -> Ecko[Any]:
    app = Ecko()
    app.use(cors(**options))

    @app.get("/items")
    def items() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/items")
    def create() -> tuple[dict[str, bool], int]:
        return {"created": True}, 201

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("handler failed")

    @app.get("/varied")
    def varied() -> Response:
        return Response("x", headers={"vary": "Accept-Encoding"})

    @app.get("/typed/{item_id}")
    def typed(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/gone")
    def gone() -> None:
        raise NotFound("This item is gone")

    return app


def _preflight(
    client: TestClient, method: str = "POST", origin: str = ORIGIN, headers: str | None = None
) -> httpx.Response:
    request_headers = {"origin": origin, "access-control-request-method": method}
    if headers is not None:
        request_headers["access-control-request-headers"] = headers
    return client.options("/items", headers=request_headers)


# -- preflight -------------------------------------------------------------------------------


def test_allowed_preflight_is_204_with_methods_headers_and_max_age(
    client_for: ClientFactory,
) -> None:
    client = client_for(
        _app(origins=[ORIGIN], methods=["GET", "POST"], headers=["X-Token"], max_age=300)
    )

    response = _preflight(client, headers="Content-Type, X-Token")

    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-methods"] == "GET, POST"
    assert response.headers["access-control-allow-headers"] == (
        "accept, accept-language, content-language, content-type, x-token"
    )
    assert response.headers["access-control-max-age"] == "300"
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers


def test_preflight_is_answered_before_routing(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use(cors())
    calls: list[str] = []

    @app.before_request
    def record() -> None:
        calls.append("routed")

    response = client_for(app).options(
        "/no/such/route", headers={"origin": ORIGIN, "access-control-request-method": "GET"}
    )

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert calls == []


def test_preflight_from_an_unlisted_origin_is_400_naming_the_origin(
    client_for: ClientFactory,
) -> None:
    response = _preflight(client_for(_app(origins=[ORIGIN])), origin="https://evil.example")

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "CORS preflight refused: origin 'https://evil.example' is not allowed"
    )
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin"


def test_preflight_for_a_disallowed_method_names_it_and_the_allowed_ones(
    client_for: ClientFactory,
) -> None:
    response = _preflight(client_for(_app(methods=["GET", "POST"])), method="DELETE")

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "CORS preflight refused: method 'DELETE' is not allowed (allowed: GET, POST)"
    )


def test_preflight_for_disallowed_headers_names_each_of_them(client_for: ClientFactory) -> None:
    client = client_for(_app(headers=["X-Token"]))

    one = _preflight(client, headers="x-token, X-Secret")
    two = _preflight(client, headers="X-Secret,X-Other , content-type")

    assert one.status_code == two.status_code == 400
    assert one.json()["detail"] == "CORS preflight refused: header 'x-secret' is not allowed"
    assert two.json()["detail"] == (
        "CORS preflight refused: headers 'x-secret', 'x-other' are not allowed"
    )


def test_preflight_naming_everything_wrong_at_once(client_for: ClientFactory) -> None:
    response = _preflight(
        client_for(_app(origins=[ORIGIN], methods=["GET"])),
        method="PUT",
        origin="http://myapp.com",
        headers="X-Token",
    )

    assert response.json()["detail"] == (
        "CORS preflight refused: origin 'http://myapp.com' is not allowed; "
        "method 'PUT' is not allowed (allowed: GET); header 'x-token' is not allowed"
    )


def test_preflight_refusal_goes_through_the_apps_error_formatter(
    client_for: ClientFactory,
) -> None:
    app = _app(origins=[ORIGIN])

    @app.error_formatter
    def formatter(exc: Exception, problem: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return {"error": problem["detail"]}, problem["status"]

    response = _preflight(client_for(app), origin="https://evil.example")

    assert response.status_code == 400
    assert response.json() == {
        "error": "CORS preflight refused: origin 'https://evil.example' is not allowed"
    }


def test_wildcard_preflight_answers_star_without_vary(client_for: ClientFactory) -> None:
    response = _preflight(client_for(_app()), origin="https://anyone.example")

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == (
        "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"
    )
    assert "vary" not in response.headers


def test_any_method_and_any_header_echo_what_the_preflight_asked_for(
    client_for: ClientFactory,
) -> None:
    client = client_for(_app(origins=[ORIGIN], methods=["*"], headers=["*"]))

    response = _preflight(client, method="PURGE", headers="X-One, x-two")

    assert response.status_code == 204
    assert response.headers["access-control-allow-methods"] == "PURGE"
    assert response.headers["access-control-allow-headers"] == "x-one, x-two"
    assert response.headers["vary"] == (
        "Access-Control-Request-Method, Access-Control-Request-Headers, Origin"
    )


def test_options_without_a_request_method_is_not_a_preflight(client_for: ClientFactory) -> None:
    response = client_for(_app(origins=[ORIGIN])).options("/items", headers={"origin": ORIGIN})

    # The app's own OPTIONS answer, labelled like any other response.
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-max-age" not in response.headers


def test_options_without_origin_is_not_a_preflight(client_for: ClientFactory) -> None:
    response = client_for(_app(origins=[ORIGIN])).options(
        "/items", headers={"access-control-request-method": "DELETE"}
    )

    assert response.status_code == 204
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-methods" not in response.headers


# -- actual requests -------------------------------------------------------------------------


def test_listed_origin_gets_its_origin_credentials_exposed_headers_and_vary(
    client_for: ClientFactory,
) -> None:
    client = client_for(
        _app(origins=[ORIGIN], allow_credentials=True, expose_headers=["X-Total", "X-Page"])
    )

    response = client.post("/items", headers={"origin": ORIGIN})

    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-expose-headers"] == "x-total, x-page"
    assert response.headers["vary"] == "Origin"


def test_unlisted_origin_gets_no_cors_headers_but_vary(client_for: ClientFactory) -> None:
    client = client_for(_app(origins=[ORIGIN], allow_credentials=True, expose_headers=["X-A"]))

    response = client.get("/items", headers={"origin": "https://evil.example"})

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert [name for name in response.headers if name.startswith("access-control-")] == []
    assert response.headers["vary"] == "Origin"


def test_request_without_origin_still_varies_on_it_when_origins_are_listed(
    client_for: ClientFactory,
) -> None:
    response = client_for(_app(origins=[ORIGIN])).get("/items")

    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin"


def test_wildcard_answers_star_and_never_varies(client_for: ClientFactory) -> None:
    client = client_for(_app())

    with_origin = client.get("/items", headers={"origin": "https://anyone.example"})
    without = client.get("/items")

    assert with_origin.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in with_origin.headers
    assert "vary" not in with_origin.headers
    assert "access-control-allow-origin" not in without.headers


def test_vary_joins_the_responses_own_vary(client_for: ClientFactory) -> None:
    response = client_for(_app(origins=[ORIGIN])).get("/varied", headers={"origin": ORIGIN})

    assert response.headers["vary"] == "Accept-Encoding, Origin"


def test_404_and_500_responses_are_labelled_too(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(_app(origins=[ORIGIN], allow_credentials=True))

    missing = client.get("/missing", headers={"origin": ORIGIN})
    failed = client.get("/boom", headers={"origin": ORIGIN})

    assert missing.status_code == 404
    assert failed.status_code == 500
    for response in (missing, failed):
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert response.headers["access-control-allow-credentials"] == "true"
        assert response.headers["vary"] == "Origin"
    assert "handler failed" in caplog.text


def test_responses_of_failing_inner_middleware_are_labelled(client_for: ClientFactory) -> None:
    app = _app(origins=[ORIGIN])

    async def broken(request: Any, call_next: Any) -> Response:
        raise RuntimeError("inner middleware failed")

    app.use(broken)

    response = client_for(app).get("/items", headers={"origin": ORIGIN})

    assert response.status_code == 500
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_handler_set_cors_headers_are_replaced_not_duplicated(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use(cors(origins=[ORIGIN]))

    @app.get("/")
    def home() -> Response:
        return Response("x", headers={"access-control-allow-origin": "*"})

    response = client_for(app).get("/", headers={"origin": ORIGIN})

    assert response.headers.get_list("access-control-allow-origin") == [ORIGIN]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/missing", 404),
        ("DELETE", "/items", 405),
        ("GET", "/typed/not-a-number", 422),
        ("GET", "/gone", 404),
        ("GET", "/boom", 500),
    ],
)
def test_every_error_response_carries_the_cors_headers(
    client_for: ClientFactory, method: str, path: str, status: int
) -> None:
    client = client_for(_app(origins=[ORIGIN], allow_credentials=True, expose_headers=["X-A"]))

    response = client.request(method, path, headers={"origin": ORIGIN})

    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-expose-headers"] == "x-a"
    assert response.headers["vary"] == "Origin"


def test_error_responses_of_an_unhandled_exception_under_an_error_formatter_are_labelled(
    client_for: ClientFactory,
) -> None:
    app = _app(origins=[ORIGIN])

    @app.error_formatter
    def formatter(exc: Exception, problem: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return {"error": problem["title"]}, problem["status"]

    response = client_for(app).get("/boom", headers={"origin": ORIGIN})

    assert response.status_code == 500
    assert response.json() == {"error": "Internal Server Error"}
    assert response.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    "origin",
    [
        "https://myapp.com.evil.net",  # a suffix
        "https://evilmyapp.com",  # a prefix
        "https://myapp.co",  # a substring
        "http://myapp.com",  # another scheme
        "https://myapp.com:8443",  # another port
        "https://sub.myapp.com",  # a subdomain
        "https://myapp.com/",  # a path
        "https://myapp.com.",  # a trailing dot
    ],
)
def test_origins_must_match_exactly_on_scheme_host_and_port(
    client_for: ClientFactory, origin: str
) -> None:
    client = client_for(_app(origins=[ORIGIN], allow_credentials=True))

    response = client.get("/items", headers={"origin": origin})

    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    assert _preflight(client, origin=origin).status_code == 400


@pytest.mark.parametrize(
    "origin", ["HTTPS://MYAPP.COM", "https://MyApp.com:443", "https://myapp.com:0443"]
)
def test_a_request_origin_is_compared_ignoring_case_and_the_default_port(
    client_for: ClientFactory, origin: str
) -> None:
    client = client_for(_app(origins=[ORIGIN]))

    response = client.get("/items", headers={"origin": origin})

    # Echoed as sent: the browser compares the answer with the origin it serialized.
    assert response.headers["access-control-allow-origin"] == origin
    assert _preflight(client, origin=origin).status_code == 204


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "garbage",
        "",
        "https://",
        "https://myapp.com/path",
        "https://user@myapp.com",
        "https://myapp.com, https://other.example",
        "https://my app.com",
        "javascript:alert(1)",
        "https://myapp.com:99999",
        "https://" + "a" * 5000 + ".com",
        "https://\u00e9.example",
    ],
)
def test_malformed_origins_are_ignored_on_requests_and_refused_on_preflights(
    client_for: ClientFactory, origin: str
) -> None:
    client = client_for(_app(origins=[ORIGIN], origin_regex=r"https://.*\.example"))
    header = origin.encode("latin-1", "replace")

    actual = client.get("/items", headers={b"origin": header})
    preflight = client.options(
        "/items", headers={b"origin": header, b"access-control-request-method": b"GET"}
    )

    assert actual.status_code == 200
    assert "access-control-allow-origin" not in actual.headers
    assert actual.headers["vary"] == "Origin"
    assert preflight.status_code == 400
    assert preflight.headers["content-type"] == "application/problem+json"
    detail = preflight.json()["detail"]
    assert detail.startswith("CORS preflight refused: origin ")
    assert detail.endswith(("is not a valid origin", "is not allowed"))
    assert len(detail) < 200  # a long origin is cut, not echoed whole


def test_a_wildcard_answers_star_even_to_an_odd_origin(client_for: ClientFactory) -> None:
    client = client_for(_app())

    # "null" comes from sandboxed pages: a public API may serve them, without credentials.
    response = client.get("/items", headers={"origin": "null"})

    assert response.headers["access-control-allow-origin"] == "*"
    assert _preflight(client, origin="null").status_code == 204


@pytest.mark.parametrize(
    ("method", "headers", "detail"),
    [
        ("", None, "method '' is not a valid method name"),
        ("GET POST", None, "method 'GET POST' is not a valid method name"),
        ("GET", "x-ok, bad header", "header 'bad header' is not a valid header name"),
        ("GET", "x-a;b", "header 'x-a;b' is not a valid header name"),
    ],
)
def test_malformed_preflight_requests_are_400_naming_the_part(
    client_for: ClientFactory, method: str, headers: str | None, detail: str
) -> None:
    # With any method and header allowed, the asked ones are echoed: they must be tokens.
    client = client_for(_app(origins=[ORIGIN], methods=["*"], headers=["*"]))

    response = _preflight(client, method=method, headers=headers)

    assert response.status_code == 400
    assert response.json()["detail"] == f"CORS preflight refused: {detail}"


# -- origins and regexes ---------------------------------------------------------------------


def test_regex_allows_matching_origins_only(client_for: ClientFactory) -> None:
    client = client_for(_app(origin_regex=r"https://[a-z0-9-]+\.example\.com"))

    good = client.get("/items", headers={"origin": "https://app.example.com"})
    bad = client.get("/items", headers={"origin": "https://example.com"})
    # Matched as a whole: a prefix is not enough.
    suffix = client.get("/items", headers={"origin": "https://app.example.com.evil.net"})

    assert good.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in bad.headers
    assert "access-control-allow-origin" not in suffix.headers
    assert good.headers["vary"] == bad.headers["vary"] == "Origin"
    assert _preflight(client, origin="https://app.example.com").status_code == 204
    assert _preflight(client, origin="https://example.com").status_code == 400


def test_regex_and_listed_origins_combine(client_for: ClientFactory) -> None:
    pattern = re.compile(r"http://localhost:\d+")
    client = client_for(_app(origins=[ORIGIN], origin_regex=pattern, allow_credentials=True))

    for origin in (ORIGIN, "http://localhost:5173"):
        response = client.get("/items", headers={"origin": origin})
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"


def test_configured_origins_are_compared_as_browsers_send_them(client_for: ClientFactory) -> None:
    client = client_for(_app(origins=["HTTPS://MyApp.com:443", "http://localhost:8000"]))

    for origin in (ORIGIN, "http://localhost:8000"):
        response = client.get("/items", headers={"origin": origin})
        assert response.headers["access-control-allow-origin"] == origin


def test_regex_sees_the_origin_lower_case_without_its_default_port(
    client_for: ClientFactory,
) -> None:
    client = client_for(_app(origin_regex=r"https://[a-z0-9-]+\.example\.com"))

    for origin in ("HTTPS://App.Example.COM", "https://app.example.com:443"):
        response = client.get("/items", headers={"origin": origin})
        assert response.headers["access-control-allow-origin"] == origin


def test_regex_is_compiled_once_and_fully_matched() -> None:
    middleware = cors(origin_regex=r"https://app\.example\.com|http://localhost:\d+")

    assert isinstance(middleware._pattern, re.Pattern)
    assert middleware.is_allowed("http://localhost:5173")
    # Without fullmatch the alternation would accept anything starting with either branch.
    assert not middleware.is_allowed("https://app.example.com.evil.net")
    assert not middleware.is_allowed("http://localhost:5173.evil.net")


@pytest.mark.parametrize(
    "pattern", [".*", ".+", r"https?://.*", r"https://.*", r"[a-z]+://\S+", r"https?://[a-z.]+"]
)
def test_credentials_with_a_regex_matching_any_site_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="the pattern matches any site's origin"):
        cors(origin_regex=pattern, allow_credentials=True)
    # Without credentials such a regex is only a wordy '*': allowed.
    assert cors(origin_regex=pattern).is_allowed("https://anyone.example")


def test_origins_take_one_string_or_a_list() -> None:
    assert cors(origins="*").any_origin
    assert cors().any_origin
    single = cors(origins=ORIGIN)
    assert single.origins == frozenset({ORIGIN})
    assert not single.any_origin
    with pytest.raises(ValueError, match="has no effect"):
        cors(origins="*", origin_regex="https://a\\.example")


def test_signature_is_the_one_the_issue_names() -> None:
    parameters = inspect.signature(cors).parameters

    assert list(parameters) == [
        "origins",
        "methods",
        "headers",
        "expose_headers",
        "allow_credentials",
        "max_age",
        "origin_regex",
    ]
    assert parameters["origins"].default == "*"
    assert parameters["allow_credentials"].default is False
    assert parameters["max_age"].default == 600
    assert parameters["origin_regex"].default is None


# -- construction ----------------------------------------------------------------------------


def test_credentials_with_every_origin_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"needs the allowed origins listed") as caught:
        cors(allow_credentials=True)
    assert "cors(origins=['https://myapp.com'], allow_credentials=True)" in str(caught.value)
    with pytest.raises(ValueError, match=r"needs the allowed origins listed"):
        cors(origins=["*"], allow_credentials=True)


@pytest.mark.parametrize(
    ("origin", "hint"),
    [
        ("myapp.com", "must be 'scheme://host[:port]'"),
        ("https://myapp.com/", "drop the path and any trailing slash"),
        ("https://myapp.com/app", "drop the path and any trailing slash"),
        ("https://*.myapp.com", "origin_regex"),
        ("null", "any site can produce it"),
        ("https://myapp.com:99999", "invalid port"),
        ("https://user@myapp.com", "must be 'scheme://host[:port]'"),
    ],
)
def test_malformed_origins_are_refused_with_a_hint(origin: str, hint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(hint)):
        cors(origins=[origin])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"origins": ["*", ORIGIN]}, "pass '*' alone"),
        ({"origins": ["*"], "origin_regex": "x"}, "has no effect"),
        ({"origins": []}, "would allow none"),
        ({"origin_regex": "(unclosed"}, "not a valid regex"),
        ({"max_age": -1}, "max_age"),
        ({"methods": ["GET POST"]}, "'GET POST' is not a valid name"),
        ({"headers": ["x:y"]}, "'x:y' is not a valid name"),
        (
            {"origins": [ORIGIN], "allow_credentials": True, "expose_headers": ["*"]},
            "list the header names",
        ),
    ],
)
def test_invalid_arguments_are_refused_early(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        cors(**options)


def test_a_string_where_a_list_belongs_is_refused() -> None:
    with pytest.raises(TypeError, match=re.escape("methods=['GET']")):
        cors(methods="GET")
    with pytest.raises(TypeError, match=re.escape("headers=['X-Token']")):
        cors(headers="X-Token")


def test_spec_examples_run_as_written(client_for: ClientFactory) -> None:
    development = Ecko()
    # Allow all origins (development)
    development.use(cors())
    production = Ecko()
    # Specific origins (production)
    production.use(cors(
        origins=["https://myapp.com"],
        methods=["GET", "POST", "PUT", "DELETE"],
        allow_credentials=True,
    ))  # fmt: skip

    for app in (development, production):

        @app.get("/")
        def home() -> dict[str, str]:
            return {"message": "Hello, World!"}

    dev = client_for(development).get("/", headers={"origin": "http://localhost:3000"})
    prod = client_for(production).get("/", headers={"origin": ORIGIN})
    assert dev.json() == prod.json() == {"message": "Hello, World!"}
    assert dev.headers["access-control-allow-origin"] == "*"
    assert prod.headers["access-control-allow-origin"] == ORIGIN
    assert prod.headers["access-control-allow-credentials"] == "true"
    put = _preflight(client_for(production), method="PUT")
    assert put.headers["access-control-allow-methods"] == "GET, POST, PUT, DELETE"


# -- import ----------------------------------------------------------------------------------

_IMPORT_CHECK = """
import sys, types
import ecko
assert "ecko.middleware.cors" not in sys.modules, "import ecko loaded cors.py"
assert "ecko.middleware.sessions" not in sys.modules, "import ecko loaded sessions.py"
if sys.argv[1] == "submodule-first":
    import ecko.middleware.cors
    import ecko.middleware.sessions
from ecko.middleware import cors, sessions
assert isinstance(cors, types.FunctionType) and cors.__name__ == "cors", cors
assert isinstance(sessions, types.FunctionType) and sessions.__name__ == "sessions", sessions
import ecko.middleware.cors
from ecko.middleware import cors as again
assert again is cors
from ecko.middleware.cors import CORSMiddleware
assert isinstance(cors(), CORSMiddleware)
print("ok")
"""


@pytest.mark.parametrize("order", ["factory-first", "submodule-first"])
def test_import_gives_the_factories_lazily_whatever_the_import_order(order: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _IMPORT_CHECK, order],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_unknown_names_still_raise_attribute_error() -> None:
    import ecko.middleware

    with pytest.raises(AttributeError, match="has no attribute 'nonexistent'"):
        ecko.middleware.nonexistent  # noqa: B018 - the lookup is the test
