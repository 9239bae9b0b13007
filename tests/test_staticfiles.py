"""Static files: `app.static()` serves a directory, and nothing outside it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ecko import Ecko
from ecko.exceptions import AppStartedError, RouteDefinitionError
from ecko.staticfiles import StaticFiles
from ecko.testing import TestClient
from tests.conftest import ClientFactory


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A served folder `public/` next to a secret that must stay out of reach."""
    (tmp_path / "secret.txt").write_text("top secret")
    public = tmp_path / "public"
    public.mkdir()
    (public / "hello.txt").write_text("hello\n")
    (public / "app.js").write_text("console.log(1)")
    (public / "style.css").write_text("body{}")
    (public / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (public / "data.json").write_text("{}")
    (public / "page.html").write_text("<p>page</p>")
    (public / "blob").write_bytes(b"\x00\x01")
    (public / ".env").write_text("PASSWORD=x")
    (public / ".git").mkdir()
    (public / ".git" / "config").write_text("[core]")
    (public / "docs").mkdir()
    (public / "docs" / "index.html").write_text("<h1>docs</h1>")
    (public / "docs" / "guide.txt").write_text("guide")
    (public / "caf\xe9.txt").write_text("unicode name")
    (public / "with space.txt").write_text("spaced")
    return public


def _client(client_for: ClientFactory, directory: Path, **options: Any) -> TestClient:
    app = Ecko()
    app.static("/static", directory, **options)
    return client_for(app, follow_redirects=False)


# -- serving ---------------------------------------------------------------------------------


def test_serves_a_file_with_validators(client_for: ClientFactory, site: Path) -> None:
    response = _client(client_for, site).get("/static/hello.txt")
    assert response.status_code == 200
    assert response.text == "hello\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "6"
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"].endswith(" GMT")
    assert response.headers["accept-ranges"] == "bytes"
    assert "content-disposition" not in response.headers  # shown, not downloaded


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("page.html", "text/html; charset=utf-8"),
        ("logo.png", "image/png"),
        ("data.json", "application/json"),
        ("blob", "application/octet-stream"),
    ],
)
def test_content_types_come_from_the_extension(
    client_for: ClientFactory, site: Path, name: str, content_type: str
) -> None:
    response = _client(client_for, site).get(f"/static/{name}")
    assert response.headers["content-type"] == content_type


def test_nested_and_encoded_names(client_for: ClientFactory, site: Path) -> None:
    client = _client(client_for, site)
    assert client.get("/static/docs/guide.txt").text == "guide"
    assert client.get("/static/caf%C3%A9.txt").text == "unicode name"
    assert client.get("/static/with%20space.txt").text == "spaced"


def test_head_has_headers_without_body(client_for: ClientFactory, site: Path) -> None:
    response = _client(client_for, site).head("/static/hello.txt")
    assert response.status_code == 200
    assert response.headers["content-length"] == "6"
    assert response.content == b""


def test_conditional_get_is_304(client_for: ClientFactory, site: Path) -> None:
    client = _client(client_for, site)
    etag = client.get("/static/hello.txt").headers["etag"]
    response = client.get("/static/hello.txt", headers={"if-none-match": etag})
    assert response.status_code == 304
    assert response.content == b""


def test_range_is_206(client_for: ClientFactory, site: Path) -> None:
    response = _client(client_for, site).get("/static/hello.txt", headers={"range": "bytes=1-3"})
    assert response.status_code == 206
    assert response.text == "ell"
    assert response.headers["content-range"] == "bytes 1-3/6"


def test_other_methods_are_405(client_for: ClientFactory, site: Path) -> None:
    response = _client(client_for, site).post("/static/hello.txt")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


def test_cache_control_option(client_for: ClientFactory, site: Path) -> None:
    client = _client(client_for, site, cache_control="public, max-age=3600")
    assert client.get("/static/hello.txt").headers["cache-control"] == "public, max-age=3600"


def test_file_changed_after_start_is_served_fresh(client_for: ClientFactory, site: Path) -> None:
    client = _client(client_for, site)
    first = client.get("/static/hello.txt")
    (site / "hello.txt").write_text("changed!")
    os.utime(site / "hello.txt", ns=(1, 1))
    second = client.get("/static/hello.txt")
    assert second.text == "changed!"
    assert second.headers["etag"] != first.headers["etag"]


# -- directories -----------------------------------------------------------------------------


def test_directories_are_404_without_index(client_for: ClientFactory, site: Path) -> None:
    client = _client(client_for, site)
    assert client.get("/static/docs").status_code == 404
    assert client.get("/static/docs/").status_code == 404
    assert client.get("/static/").status_code == 404
    assert client.get("/static").status_code == 404


def test_index_serves_index_html_and_redirects_to_the_slash(
    client_for: ClientFactory, site: Path
) -> None:
    (site / "index.html").write_text("<h1>home</h1>")
    client = _client(client_for, site, index=True)
    assert client.get("/static/docs/").text == "<h1>docs</h1>"
    redirect = client.get("/static/docs?lang=en")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/static/docs/?lang=en"
    assert client.get("/static/").text == "<h1>home</h1>"
    assert client.get("/static").headers["location"] == "/static/"


def test_index_in_a_directory_without_one_is_404(client_for: ClientFactory, site: Path) -> None:
    (site / "empty").mkdir()
    assert _client(client_for, site, index=True).get("/static/empty/").status_code == 404


# -- no escape -------------------------------------------------------------------------------

# Literal `.` and `..` segments are normalized away by HTTP clients (httpx included), so they
# are sent raw over a socket in tests/e2e/test_static_e2e.py; `resolve()` is tested below.
ESCAPES = [
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/..%2Fsecret.txt",
    "/static/docs%2f..%2f..%2fsecret.txt",
    "/static/..%5csecret.txt",
    "/static/..\\secret.txt",
    "/static/%2fetc%2fpasswd",
    "/static//etc/passwd",
    "/static/C:%5cWindows%5cwin.ini",
    "/static/C:/Windows/win.ini",
    "/static/hello.txt%00.png",
    "/static/hello.txt::$DATA",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_escape_attempts_are_404(client_for: ClientFactory, site: Path, path: str) -> None:
    response = _client(client_for, site, index=True).get(path)
    assert response.status_code == 404
    assert "secret" not in response.text


def test_dot_files_are_hidden_by_default(client_for: ClientFactory, site: Path) -> None:
    client = _client(client_for, site)
    assert client.get("/static/.env").status_code == 404
    assert client.get("/static/.git/config").status_code == 404
    shown = _client(client_for, site, serve_hidden=True)
    assert shown.get("/static/.env").text == "PASSWORD=x"
    assert shown.get("/static/.git/config").text == "[core]"
    assert shown.get("/static/../secret.txt").status_code == 404


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks_out_of_the_root_are_404(client_for: ClientFactory, site: Path) -> None:
    outside = site.parent / "secret.txt"
    (site / "leak.txt").symlink_to(outside)
    (site / "leakdir").symlink_to(site.parent)
    (site / "alias.txt").symlink_to(site / "hello.txt")
    client = _client(client_for, site)
    assert client.get("/static/leak.txt").status_code == 404
    assert client.get("/static/leakdir/secret.txt").status_code == 404
    assert client.get("/static/alias.txt").text == "hello\n"  # inside the root: fine


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_symlinked_root_is_served(client_for: ClientFactory, site: Path) -> None:
    link = site.parent / "public-link"
    link.symlink_to(site)
    assert _client(client_for, link).get("/static/hello.txt").text == "hello\n"


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "..",
        "/etc/passwd",
        "docs/../../secret.txt",
        "a\x00b",
        "C:\\x",
        "c:x",
        ".env",
        "",
        "docs/",
        "docs",
        "docs//guide.txt",
    ],
)
def test_resolve_refuses_escapes_and_directories(site: Path, path: str) -> None:
    assert StaticFiles(site).resolve(path) is None


def test_resolve_finds_files(site: Path) -> None:
    found = StaticFiles(site).resolve("docs/guide.txt")
    assert found is not None
    assert found[0] == os.path.realpath(site / "docs" / "guide.txt")
    assert StaticFiles(site, index=True).resolve("docs/") is not None


# -- registration ----------------------------------------------------------------------------


def test_missing_directory_is_refused_at_registration(tmp_path: Path) -> None:
    with pytest.raises(RouteDefinitionError, match="does not exist"):
        Ecko().static("/static", tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RouteDefinitionError, match="is not a directory"):
        Ecko().static("/static", tmp_path / "file")


@pytest.mark.parametrize("prefix", ["static", "/static/", ""])
def test_bad_prefix_is_refused(site: Path, prefix: str) -> None:
    with pytest.raises(RouteDefinitionError, match="must start with '/'"):
        Ecko().static(prefix, site)


def test_static_after_start_is_refused(client_for: ClientFactory, site: Path) -> None:
    app = Ecko()
    client_for(app).get("/")
    with pytest.raises(AppStartedError):
        app.static("/static", site)


def test_url_for_and_hidden_from_openapi(site: Path) -> None:
    app = Ecko()
    app.static("/static", site)
    app.static("/assets", site, name="files", index=True)
    assert app.url_for("static", path="docs/guide.txt") == "/static/docs/guide.txt"
    assert app.url_for("files", path="caf\xe9.txt") == "/assets/caf%C3%A9.txt"
    assert all(not route.include_in_schema for route in app.routes)


def test_routes_registered_before_win(client_for: ClientFactory, site: Path) -> None:
    app = Ecko()
    app.static("/static", site)

    @app.get("/static/generated.css")
    def generated() -> str:
        return "made"

    client = client_for(app)
    assert client.get("/static/generated.css").text == "made"
    assert client.get("/static/hello.txt").text == "hello\n"
