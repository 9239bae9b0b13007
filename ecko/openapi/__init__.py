"""Serve an app's OpenAPI 3.1 document and a docs page for it: `setup_openapi(app)`."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any, final

from ecko._http import _parse_etags
from ecko.app import Ecko
from ecko.exceptions import NotFound
from ecko.openapi.assets import SWAGGER_UI_FILES, swagger_ui_assets
from ecko.openapi.components import ProblemDetails, ValidationProblem
from ecko.openapi.docs_page import DocsKind, docs_html
from ecko.openapi.schema import SecurityRequirement, build_document
from ecko.requests import Request
from ecko.responses import FileResponse, HTMLResponse, Response
from ecko.serialization import encode_json

DOCS_URLS: dict[str, str] = {"swagger": "/docs", "redoc": "/redoc", "scalar": "/scalar"}
"""Where each kind of docs page is served unless `docs_url` says otherwise."""


@final
class OpenAPI:
    """The OpenAPI document of one app, built on first use and cached.

    `setup_openapi()` creates it and serves it; `document()` gives the same dictionary the
    server sends, for tests or to write the schema to a file (`app.openapi()` calls it).
    """

    def __init__(self, app: Ecko[Any], **options: Any) -> None:
        self.app = app
        self.options = options
        """The keyword arguments of `build_document()`, `servers` included."""
        self.security_schemes: dict[str, Mapping[str, Any]] = dict(
            options.pop("security_schemes", None) or {}
        )
        self._lock = threading.Lock()
        self._key: tuple[int, int, str] | None = None
        self._document: dict[str, Any] = {}
        self._encoded = b""
        self._etag = ""

    def add_security_scheme(self, name: str, scheme: Mapping[str, Any]) -> None:
        """Declare a security scheme under `components.securitySchemes` (auth helpers call it)."""
        with self._lock:
            self.security_schemes[name] = scheme
            self._key = None

    def document(self, root_path: str = "") -> dict[str, Any]:
        """Return the document, building it on first call and caching it.

        Routes cannot be added once the app serves, so a served document is built once;
        called earlier, it is rebuilt when routes were added since.

        Args:
            root_path: the prefix the app is served under (a mount or a proxy); without
                explicit `servers`, it becomes the document's server URL.
        """
        return self._cached(root_path)[0]

    def encoded(self, root_path: str = "") -> bytes:
        """Return `document(root_path)` as JSON bytes, encoded once."""
        return self._cached(root_path)[1]

    def etag(self, root_path: str = "") -> str:
        """Return the entity tag of `encoded(root_path)`: a hash of its bytes, quoted."""
        return self._cached(root_path)[2]

    def _cached(self, root_path: str) -> tuple[dict[str, Any], bytes, str]:
        key = (len(self.app.routes), len(self.security_schemes), root_path)
        with self._lock:
            if self._key != key:
                options = dict(self.options)
                if options.get("servers") is None and root_path:
                    options["servers"] = [root_path]
                self._document = build_document(
                    self.app, security_schemes=self.security_schemes, **options
                )
                self._encoded = encode_json(self._document)
                self._etag = f'"{hashlib.sha256(self._encoded).hexdigest()[:32]}"'
                self._key = key
            return self._document, self._encoded, self._etag


def setup_openapi(
    app: Ecko[Any],
    *,
    title: str = "Ecko",
    version: str = "0.1.0",
    description: str | None = None,
    summary: str | None = None,
    docs: DocsKind | None = "swagger",
    openapi_url: str | None = "/openapi.json",
    docs_url: str | None = None,
    servers: Sequence[str | Mapping[str, Any]] | None = None,
    tags: Sequence[str | Mapping[str, Any]] | None = None,
    contact: Mapping[str, Any] | None = None,
    license: str | Mapping[str, Any] | None = None,  # noqa: A002 - OpenAPI's own name
    terms_of_service: str | None = None,
    external_docs: str | Mapping[str, Any] | None = None,
    security_schemes: Mapping[str, Mapping[str, Any]] | None = None,
    security: Sequence[SecurityRequirement] | None = None,
) -> OpenAPI:
    """Serve the OpenAPI 3.1 document at `openapi_url` and a docs page rendering it.

    The routes are left out of the document. The document is built on the first request,
    when every route is registered, cached, and served with an ETag; `app.openapi()`
    returns it.

    Args:
        app: the application to document.
        title: the API's name (`info.title`), also the docs page title.
        version: the API's version (`info.version`).
        description: the API's description (`info.description`), Markdown allowed.
        summary: a one-line summary (`info.summary`).
        docs: the page: "swagger" (Swagger UI, served from the `ecko[docs]` extra when it is
            installed), "redoc" or "scalar" (both from a CDN), or None for no page.
        openapi_url: where the JSON document is served; None serves no route at all.
        docs_url: where the page is served; by default /docs, /redoc or /scalar by `docs`.
        servers: base URLs or OpenAPI Server Objects; by default the `root_path` the app
            is served under, if any.
        tags: tag names or Tag Objects (`{"name": ..., "description": ...}`).
        contact: `{"name": ..., "url": ..., "email": ...}`.
        license: an SPDX identifier ("MIT") or a License Object (`{"name": ..., "url": ...}`).
        terms_of_service: a URL.
        external_docs: a URL or `{"url": ..., "description": ...}`.
        security_schemes: OpenAPI Security Scheme Objects by name, e.g.
            `{"bearer": {"type": "http", "scheme": "bearer"}}`.
        security: requirements for every route that sets no `security=`, e.g. `["bearer"]`.

    Returns:
        The `OpenAPI` object serving the document; `document()` returns it.

    Raises:
        ValueError: a docs page is asked for but `openapi_url` is None, or `docs` is unknown.
    """
    if docs is not None and docs not in DOCS_URLS:
        raise ValueError(
            f"setup_openapi(): docs={docs!r}; use 'swagger', 'redoc', 'scalar' or None"
        )
    if docs is not None and openapi_url is None:
        raise ValueError(
            "setup_openapi(): the docs page loads the document from openapi_url; "
            "pass openapi_url or set docs=None"
        )
    openapi = OpenAPI(
        app,
        title=title,
        version=version,
        description=description,
        summary=summary,
        servers=servers,
        tags=tags,
        contact=contact,
        license=license,
        terms_of_service=terms_of_service,
        external_docs=external_docs,
        security_schemes=security_schemes,
        security=security,
    )
    app.openapi_builder = openapi.document
    if openapi_url is None:
        return openapi
    _serve_document(app, openapi, openapi_url)
    if docs is not None:
        _serve_docs(app, docs, docs_url or DOCS_URLS[docs], openapi_url, title)
    return openapi


def _serve_document(app: Ecko[Any], openapi: OpenAPI, openapi_url: str) -> None:
    # Async handlers: the document is built on the event loop, so concurrent first requests
    # wait for one build instead of starting several in threads.
    @app.get(openapi_url, include_in_schema=False, name="openapi_schema")
    async def openapi_schema(request: Request) -> Response:
        root_path = request.scope.get("root_path", "")
        body, etag = openapi.encoded(root_path), openapi.etag(root_path)
        # no-cache: clients keep the document but revalidate it, cheaply, with If-None-Match.
        headers = {"etag": etag, "cache-control": "no-cache"}
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and (
            if_none_match.strip() == "*" or etag in _parse_etags(if_none_match)
        ):
            return Response(None, 304, headers)
        return Response(body, headers=headers, media_type="application/json")


def _serve_docs(
    app: Ecko[Any], kind: DocsKind, docs_url: str, openapi_url: str, title: str
) -> None:
    assets = swagger_ui_assets() if kind == "swagger" else None
    assets_url = docs_url.rstrip("/") + "/assets"

    @app.get(docs_url, include_in_schema=False, name="openapi_docs")
    async def openapi_docs(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "")
        page = docs_html(
            title=title,
            openapi_url=root_path + openapi_url,
            kind=kind,
            assets=assets,
            assets_url=root_path + assets_url,
        )
        return HTMLResponse(page)

    if assets is None or assets.folder is None:
        return
    folder = assets.folder

    @app.get(assets_url + "/{name}", include_in_schema=False, name="openapi_docs_assets")
    def openapi_docs_assets(name: str) -> FileResponse:
        # Only the page's own files: the name never reaches the file system otherwise.
        if name not in SWAGGER_UI_FILES:
            raise NotFound(f"No docs asset named {name!r}")
        # Versioned by the package: a day of caching, then the ETag revalidates it.
        return FileResponse(folder / name, headers={"cache-control": "public, max-age=86400"})


__all__ = [
    "DOCS_URLS",
    "OpenAPI",
    "ProblemDetails",
    "ValidationProblem",
    "build_document",
    "setup_openapi",
]
