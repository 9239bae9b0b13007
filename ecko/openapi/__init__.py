"""Serve an app's OpenAPI 3.1 document and a Swagger UI page: `setup_openapi(app)`."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, final

from ecko.app import Ecko
from ecko.openapi.docs_page import docs_html
from ecko.openapi.schema import build_document
from ecko.requests import Request
from ecko.responses import HTMLResponse, Response
from ecko.serialization import encode_json


@final
class OpenAPI:
    """The OpenAPI document of one app, built on first use and cached.

    `setup_openapi()` creates it and serves it; `document()` gives the same dictionary the
    server sends, for tests or to write the schema to a file.
    """

    def __init__(
        self,
        app: Ecko[Any],
        *,
        title: str,
        version: str,
        description: str | None,
        openapi_url: str | None,
        docs_url: str | None,
        servers: Sequence[str | Mapping[str, Any]] | None,
        tags: Sequence[str | Mapping[str, Any]] | None,
    ) -> None:
        self.app = app
        self.title = title
        self.version = version
        self.description = description
        self.openapi_url = openapi_url
        self.docs_url = docs_url
        self.servers = list(servers) if servers is not None else None
        self.tags = list(tags) if tags is not None else None
        self._lock = threading.Lock()
        self._key: tuple[int, str] | None = None
        self._document: dict[str, Any] = {}
        self._encoded = b""

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

    def _cached(self, root_path: str) -> tuple[dict[str, Any], bytes]:
        key = (len(self.app.routes), root_path)
        with self._lock:
            if self._key != key:
                servers = self.servers
                if servers is None and root_path:
                    servers = [root_path]
                self._document = build_document(
                    self.app,
                    title=self.title,
                    version=self.version,
                    description=self.description,
                    servers=servers,
                    tags=self.tags,
                )
                self._encoded = encode_json(self._document)
                self._key = key
            return self._document, self._encoded


def setup_openapi(
    app: Ecko[Any],
    *,
    title: str = "Ecko",
    version: str = "0.1.0",
    description: str | None = None,
    openapi_url: str | None = "/openapi.json",
    docs_url: str | None = "/docs",
    servers: Sequence[str | Mapping[str, Any]] | None = None,
    tags: Sequence[str | Mapping[str, Any]] | None = None,
) -> OpenAPI:
    """Serve the OpenAPI 3.1 document at `openapi_url` and Swagger UI at `docs_url`.

    The two routes are left out of the document. The document is built on the first
    request, when every route is registered, and cached.

    Args:
        app: the application to document.
        title: the API's name (`info.title`), also the docs page title.
        version: the API's version (`info.version`).
        description: the API's description (`info.description`), Markdown allowed.
        openapi_url: where the JSON document is served; None serves neither route.
        docs_url: where the Swagger UI page is served; None for no page.
        servers: base URLs or OpenAPI Server Objects; by default the `root_path` the app
            is served under, if any.
        tags: tag names or Tag Objects (`{"name": ..., "description": ...}`).

    Returns:
        The `OpenAPI` object serving the document; `document()` returns it.

    Raises:
        ValueError: `docs_url` is set but `openapi_url` is None.
    """
    if docs_url is not None and openapi_url is None:
        raise ValueError(
            "setup_openapi(): the docs page loads the document from openapi_url; "
            "pass openapi_url or set docs_url=None"
        )
    openapi = OpenAPI(
        app,
        title=title,
        version=version,
        description=description,
        openapi_url=openapi_url,
        docs_url=docs_url,
        servers=servers,
        tags=tags,
    )
    if openapi_url is None:
        return openapi
    schema_url = openapi_url

    # Both handlers are async: the document is built on the event loop, so concurrent
    # first requests wait for one build instead of starting several in threads.
    @app.get(schema_url, include_in_schema=False, name="openapi_schema")
    async def openapi_schema(request: Request) -> Response:
        body = openapi.encoded(request.scope.get("root_path", ""))
        return Response(body, media_type="application/json")

    if docs_url is not None:

        @app.get(docs_url, include_in_schema=False, name="openapi_docs")
        async def openapi_docs(request: Request) -> HTMLResponse:
            url = request.scope.get("root_path", "") + schema_url
            return HTMLResponse(docs_html(title=title, openapi_url=url))

    return openapi


__all__ = ["OpenAPI", "build_document", "setup_openapi"]
