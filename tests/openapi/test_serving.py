"""Serving the document: ETag and 304, app.openapi(), info, servers, tags and security."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Any

import httpx
import pytest

from ecko import Ecko, Router
from ecko.openapi import setup_openapi
from ecko.testing import LiveServer
from tests.conftest import ClientFactory

APPS = FilePath(__file__).resolve().parent.parent / "e2e" / "apps"


def small_app() -> Ecko[Any]:
    app = Ecko()

    @app.get("/items/{item_id}")
    def get_item(item_id: int) -> dict[str, int]:
        """Get an item."""
        return {"id": item_id}

    return app


def test_document_is_served_with_an_etag_and_revalidated_with_304(
    client_for: ClientFactory,
) -> None:
    app = small_app()
    setup_openapi(app)
    client = client_for(app)

    first = client.get("/openapi.json")
    etag = first.headers["etag"]
    same = client.get("/openapi.json", headers={"if-none-match": etag})
    weak_in_list = client.get("/openapi.json", headers={"if-none-match": f'"other", W/{etag}'})
    any_version = client.get("/openapi.json", headers={"if-none-match": "*"})
    changed = client.get("/openapi.json", headers={"if-none-match": '"stale"'})

    assert first.status_code == 200
    assert etag == f'"{etag.strip(chr(34))}"'
    assert len(etag) == 34
    assert first.headers["cache-control"] == "no-cache"
    assert (same.status_code, same.content) == (304, b"")
    assert same.headers["etag"] == etag
    assert weak_in_list.status_code == any_version.status_code == 304
    assert changed.status_code == 200
    assert changed.content == first.content


def test_etag_is_the_same_for_the_same_document_and_differs_for_another(
    client_for: ClientFactory,
) -> None:
    one, two, other = small_app(), small_app(), small_app()
    for app in (one, two):
        setup_openapi(app, version="1.0.0")
    setup_openapi(other, version="2.0.0")

    def etag(app: Ecko[Any]) -> str:
        return str(client_for(app).get("/openapi.json").headers["etag"])

    assert etag(one) == etag(two) != etag(other)


def test_app_openapi_returns_the_served_document(client_for: ClientFactory) -> None:
    app = small_app()
    setup_openapi(app, title="Export", version="3.0.0")

    document = app.openapi()

    assert document["info"] == {"title": "Export", "version": "3.0.0"}
    assert document is app.openapi()
    assert client_for(app).get("/openapi.json").json() == document


def test_app_openapi_without_setup_names_setup_openapi() -> None:
    with pytest.raises(RuntimeError, match=r"setup_openapi\(app"):
        small_app().openapi()


def test_info_servers_tags_and_external_docs_are_settable(client_for: ClientFactory) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    app = small_app()
    setup_openapi(
        app,
        title="Shop",
        version="1.2.3",
        summary="Everything for sale.",
        description="The **shop** API.",
        terms_of_service="https://shop.example/terms",
        contact={"name": "Ops", "email": "ops@shop.example"},
        license="MIT",
        servers=[
            "https://api.shop.example",
            {"url": "https://eu.shop.example", "description": "EU"},
        ],
        tags=[{"name": "items", "description": "What we sell"}, "orders"],
        external_docs={"url": "https://shop.example/docs", "description": "Guides"},
    )

    document = client_for(app).get("/openapi.json").json()

    assert document["info"] == {
        "title": "Shop",
        "version": "1.2.3",
        "summary": "Everything for sale.",
        "description": "The **shop** API.",
        "termsOfService": "https://shop.example/terms",
        "contact": {"name": "Ops", "email": "ops@shop.example"},
        "license": {"name": "MIT", "identifier": "MIT"},
    }
    assert document["servers"] == [
        {"url": "https://api.shop.example"},
        {"url": "https://eu.shop.example", "description": "EU"},
    ]
    assert document["tags"] == [
        {"name": "items", "description": "What we sell"},
        {"name": "orders"},
    ]
    assert document["externalDocs"] == {"url": "https://shop.example/docs", "description": "Guides"}
    validator.validate(document)


def test_license_object_is_kept_as_given() -> None:
    app = small_app()
    setup_openapi(app, license={"name": "Apache 2.0", "url": "https://apache.org/licenses/"})

    assert app.openapi()["info"]["license"] == {
        "name": "Apache 2.0",
        "url": "https://apache.org/licenses/",
    }


def test_security_schemes_and_per_route_requirements(client_for: ClientFactory) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    app = Ecko()
    openapi = setup_openapi(
        app,
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        security=["bearer"],
    )
    admin = Router("/admin")

    @app.get("/me")
    def me() -> dict[str, str]:
        return {}

    @app.get("/health", security=[])
    def health() -> dict[str, str]:
        return {}

    @admin.get("/users", security=[{"oauth": ["users:read"]}, "bearer"])
    def users() -> list[str]:
        return []

    app.include(admin)
    openapi.add_security_scheme(
        "oauth",
        {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "https://auth.example/token",
                    "scopes": {"users:read": "Read users"},
                }
            },
        },
    )
    document = client_for(app).get("/openapi.json").json()

    assert list(document["components"]["securitySchemes"]) == ["bearer", "oauth"]
    assert document["security"] == [{"bearer": []}]
    assert "security" not in document["paths"]["/me"]["get"]
    assert document["paths"]["/health"]["get"]["security"] == []
    assert document["paths"]["/admin/users"]["get"]["security"] == [
        {"oauth": ["users:read"]},
        {"bearer": []},
    ]
    validator.validate(document)


def test_etag_and_304_over_a_real_server() -> None:
    with (
        LiveServer("openapi_app:app", cwd=APPS) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        first = http.get("/openapi.json")
        again = http.get("/openapi.json", headers={"if-none-match": first.headers["etag"]})

    assert first.status_code == 200
    assert first.json()["openapi"] == "3.1.0"
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
