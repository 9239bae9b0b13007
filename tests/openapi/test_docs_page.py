"""The docs pages (Swagger UI, ReDoc, Scalar) and the Swagger UI files served from the package."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecko import Ecko
from ecko.openapi import setup_openapi
from ecko.openapi.assets import (
    REDOC_CDN,
    SCALAR_CDN,
    SWAGGER_UI_CDN,
    SwaggerUIAssets,
    swagger_ui_assets,
)
from ecko.openapi.docs_page import docs_html, swagger_html
from tests.conftest import ClientFactory

CDN_ASSETS = SwaggerUIAssets(None, None, "Swagger UI is loaded from the CDN for this test.")


@pytest.fixture
def bundle_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install a stand-in `swagger_ui_bundle` whose folder holds small Swagger UI 5 files."""
    folder = tmp_path / "vendor" / "swagger-ui-5.31.0"
    folder.mkdir(parents=True)
    (folder / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle = function () {};")
    (folder / "swagger-ui.css").write_text("body { margin: 0; }")
    (folder / "index.html").write_text("<p>not served</p>")
    module = types.ModuleType("swagger_ui_bundle")
    module.swagger_ui_path = folder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "swagger_ui_bundle", module)
    swagger_ui_assets.cache_clear()
    yield folder
    swagger_ui_assets.cache_clear()


def test_swagger_page_loads_the_document_and_says_where_its_files_come_from(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    setup_openapi(app, title="Shop <API> & co", openapi_url="/api/schema.json", docs_url="/api/ui")
    client = client_for(app)

    response = client.get("/api/ui")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert page.startswith("<!doctype html>")
    assert "<title>Shop &lt;API&gt; &amp; co</title>" in page
    assert 'url: "/api/schema.json"' in page
    assets = swagger_ui_assets()
    where = "local" if assets.local else "cdn"
    assert f'<meta name="ecko-docs-assets" content="{where}">' in page
    assert f"<!-- {assets.note} -->" in page
    script = "/api/ui/assets" if assets.local else SWAGGER_UI_CDN
    assert f'<script src="{script}/swagger-ui-bundle.js"></script>' in page
    assert client.get("/api/schema.json").json()["info"]["title"] == "Shop <API> & co"
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404


def test_cdn_page_shows_its_note_and_loads_swagger_ui_5() -> None:
    page = swagger_html(title="T", openapi_url="/openapi.json", assets=CDN_ASSETS)

    assert "swagger-ui-dist@5" in SWAGGER_UI_CDN
    assert f'<script src="{SWAGGER_UI_CDN}/swagger-ui-bundle.js"></script>' in page
    assert f'<link rel="stylesheet" href="{SWAGGER_UI_CDN}/swagger-ui.css">' in page
    assert "Swagger UI is loaded from the CDN for this test.</p>" in page
    assert "oauth2RedirectUrl" not in page


def test_docs_page_url_cannot_close_its_script_element() -> None:
    page = docs_html(title="t", openapi_url="/x</script><script>alert(1)//", assets=CDN_ASSETS)

    assert "</script><script>alert(1)" not in page
    assert '"/x\\u003c/script\\u003e\\u003cscript\\u003ealert(1)//"' in page


def test_swagger_ui_files_are_served_from_the_package_folder(
    bundle_folder: Path, client_for: ClientFactory
) -> None:
    app = Ecko()
    setup_openapi(app, title="Offline")
    client = client_for(app)

    page = client.get("/docs").text
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    again = client.get(
        "/docs/assets/swagger-ui-bundle.js", headers={"if-none-match": script.headers["etag"]}
    )

    assert '<meta name="ecko-docs-assets" content="local">' in page
    assert '<script src="/docs/assets/swagger-ui-bundle.js"></script>' in page
    assert "Swagger UI 5.31.0 is served by this app" in page
    assert "/docs/assets/oauth2-redirect.html" in page
    assert "cdn.jsdelivr.net" not in page
    assert script.status_code == 200
    assert script.text == "window.SwaggerUIBundle = function () {};"
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert script.headers["cache-control"] == "public, max-age=86400"
    assert again.status_code == 304
    assert client.get("/docs/assets/swagger-ui.css").text == "body { margin: 0; }"
    # Only the page's own files: nothing else in the folder, nothing outside it.
    assert client.get("/docs/assets/index.html").status_code == 404
    assert client.get("/docs/assets/..%2F..%2Fsecret").status_code == 404
    assert client.get("/docs/assets/favicon-32x32.png").status_code == 404  # listed, absent
    paths = client.get("/openapi.json").json()["paths"]
    assert paths == {}


def test_docs_assets_follow_a_custom_docs_url_and_a_mount(
    bundle_folder: Path, client_for: ClientFactory
) -> None:
    api = Ecko()
    setup_openapi(api, docs_url="/reference")
    outer = Ecko()
    outer.mount("/v1", api)
    client = client_for(outer)

    page = client.get("/v1/reference").text

    assert '<script src="/v1/reference/assets/swagger-ui-bundle.js"></script>' in page
    assert client.get("/v1/reference/assets/swagger-ui-bundle.js").status_code == 200


def test_swagger_ui_4_bundle_is_not_used_because_it_cannot_render_openapi_3_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client_for: ClientFactory
) -> None:
    folder = tmp_path / "vendor" / "swagger-ui-4.15.5"
    folder.mkdir(parents=True)
    (folder / "swagger-ui-bundle.js").write_text("old")
    module = types.ModuleType("swagger_ui_bundle")
    module.swagger_ui_path = folder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "swagger_ui_bundle", module)
    swagger_ui_assets.cache_clear()
    try:
        assets = swagger_ui_assets()
        app = Ecko()
        setup_openapi(app)
        page = client_for(app).get("/docs").text
    finally:
        swagger_ui_assets.cache_clear()

    assert (assets.local, assets.version) == (False, "4.15.5")
    assert "ships Swagger UI 4.15.5, which cannot render OpenAPI 3.1" in assets.note
    assert f'<script src="{SWAGGER_UI_CDN}/swagger-ui-bundle.js"></script>' in page
    assert client_for(app).get("/docs/assets/swagger-ui-bundle.js").status_code == 404


def test_without_the_package_the_page_uses_the_cdn_and_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes `import swagger_ui_bundle` fail, as when it is not installed.
    monkeypatch.setitem(sys.modules, "swagger_ui_bundle", None)
    swagger_ui_assets.cache_clear()
    try:
        assets = swagger_ui_assets()
    finally:
        swagger_ui_assets.cache_clear()

    assert not assets.local
    assert "install ecko[docs]" in assets.note


@pytest.mark.parametrize(
    ("kind", "path", "script", "marker"),
    [
        ("redoc", "/redoc", REDOC_CDN, '<redoc spec-url="/openapi.json"></redoc>'),
        ("scalar", "/scalar", SCALAR_CDN, 'data-url="/openapi.json"'),
    ],
)
def test_redoc_and_scalar_pages_load_from_the_cdn_and_say_so(
    client_for: ClientFactory, kind: Any, path: str, script: str, marker: str
) -> None:
    app = Ecko()
    setup_openapi(app, title="Pages", docs=kind)
    client = client_for(app)

    page = client.get(path).text

    assert marker in page
    assert f'<script src="{script}"></script>' in page
    assert '<meta name="ecko-docs-assets" content="cdn">' in page
    assert "needs Internet access" in page
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 200
    assert path not in client.get("/openapi.json").json()["paths"]


def test_docs_page_at_a_chosen_path_and_no_page(client_for: ClientFactory) -> None:
    with_page, without_page = Ecko(), Ecko()
    setup_openapi(with_page, docs="redoc", docs_url="/reference")
    setup_openapi(without_page, docs=None)

    assert client_for(with_page).get("/reference").status_code == 200
    assert client_for(with_page).get("/redoc").status_code == 404
    for path in ("/docs", "/redoc", "/scalar"):
        assert client_for(without_page).get(path).status_code == 404
    assert client_for(without_page).get("/openapi.json").status_code == 200


def test_unknown_docs_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="use 'swagger', 'redoc', 'scalar' or None"):
        setup_openapi(Ecko(), docs="rapidoc")  # type: ignore[arg-type]


def test_newest_swagger_ui_folder_wins_when_both_bundles_are_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # swagger-ui-bundle 1.1 and swagger-ui-bundle-v2 share the module; the old one was last.
    for version in ("4.15.5", "5.31.0"):
        folder = tmp_path / "vendor" / f"swagger-ui-{version}"
        folder.mkdir(parents=True)
        for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
            (folder / name).write_text(version)
    module = types.ModuleType("swagger_ui_bundle")
    module.swagger_ui_path = tmp_path / "vendor" / "swagger-ui-4.15.5"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "swagger_ui_bundle", module)
    swagger_ui_assets.cache_clear()
    try:
        assets = swagger_ui_assets()
    finally:
        swagger_ui_assets.cache_clear()

    assert (assets.local, assets.version) == (True, "5.31.0")
    assert assets.folder == tmp_path / "vendor" / "swagger-ui-5.31.0"
