"""The security headers middleware: defaults, per-header override, HSTS over HTTPS only."""

from __future__ import annotations

from typing import Any

import pytest

from ecko import Ecko, Response
from ecko.middleware import security_headers
from ecko.middleware.security_headers import (
    DEFAULT_CONTENT_SECURITY_POLICY,
    DEFAULT_PERMISSIONS_POLICY,
)
from ecko.testing import TestClient
from tests.conftest import ClientFactory

HSTS = "max-age=31536000; includeSubDomains"


def _app(**options: Any) -> Ecko[Any]:
    app = Ecko()
    app.use(security_headers(**options))

    @app.get("/")
    def home() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/framed")
    def framed() -> Response:
        return Response(
            "ok",
            headers={"x-frame-options": "SAMEORIGIN", "content-security-policy": "default-src *"},
        )

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("handler failed")

    return app


def test_defaults_are_sent_over_http_without_hsts(client_for: ClientFactory) -> None:
    response = client_for(_app()).get("/")

    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["content-security-policy"] == DEFAULT_CONTENT_SECURITY_POLICY
    assert response.headers["permissions-policy"] == DEFAULT_PERMISSIONS_POLICY
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in response.headers


def test_hsts_is_sent_over_https() -> None:
    with TestClient(_app(), base_url="https://example.com") as client:
        response = client.get("/")

    assert response.headers["strict-transport-security"] == HSTS


def test_each_header_can_be_overridden_or_left_out() -> None:
    app = _app(
        hsts="max-age=60",
        frame_options="sameorigin",
        referrer_policy="no-referrer",
        content_security_policy=None,
        permissions_policy="camera=(self)",
        cross_origin_opener_policy=None,
    )
    with TestClient(app, base_url="https://example.com") as client:
        response = client.get("/")

    assert response.headers["strict-transport-security"] == "max-age=60"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["permissions-policy"] == "camera=(self)"
    assert "content-security-policy" not in response.headers
    assert "cross-origin-opener-policy" not in response.headers


def test_headers_the_handler_set_are_kept(client_for: ClientFactory) -> None:
    response = client_for(_app()).get("/framed")

    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers.get_list("content-security-policy") == ["default-src *"]
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_error_responses_get_the_headers_too(client_for: ClientFactory) -> None:
    client = client_for(_app(), raise_server_exceptions=False)

    missing = client.get("/missing")
    failed = client.get("/boom")

    assert missing.status_code == 404
    assert failed.status_code == 500
    assert missing.headers["x-frame-options"] == failed.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"hsts": "max-age=1\r\nSet-Cookie: x=1"}, ValueError, "CR, LF or NUL"),
        ({"content_security_policy": "default-src 'self'\n"}, ValueError, "CR, LF or NUL"),
        ({"permissions_policy": "camera=()\x00"}, ValueError, "CR, LF or NUL"),
        ({"content_security_policy": "default-src ☃"}, ValueError, "Latin-1"),
        ({"hsts": "includeSubDomains"}, ValueError, "needs one max-age"),
        ({"hsts": "max-age=soon"}, ValueError, "needs one max-age"),
        ({"frame_options": "ALLOW-FROM https://x.com"}, ValueError, "'DENY' or 'SAMEORIGIN'"),
        ({"referrer_policy": "sometimes"}, ValueError, "is not one of"),
        ({"cross_origin_opener_policy": "open"}, ValueError, "is not one of"),
        ({"referrer_policy": "  "}, ValueError, "is empty"),
        ({"frame_options": 1}, TypeError, "must be a str or None"),
    ],
)
def test_bad_values_are_refused_at_construction(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        security_headers(**options)


def test_referrer_policy_accepts_a_fallback_list(client_for: ClientFactory) -> None:
    response = client_for(_app(referrer_policy="no-referrer, strict-origin")).get("/")

    assert response.headers["referrer-policy"] == "no-referrer, strict-origin"
