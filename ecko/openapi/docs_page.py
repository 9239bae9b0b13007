"""The HTML pages rendering an OpenAPI document in the browser: Swagger UI, ReDoc and Scalar."""

from __future__ import annotations

import html
import json
from typing import Literal

from ecko.openapi.assets import REDOC_CDN, SCALAR_CDN, SWAGGER_UI_CDN, SwaggerUIAssets

DocsKind = Literal["swagger", "redoc", "scalar"]

_SWAGGER_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="ecko-docs-assets" content="{where}">
<!-- {note} -->
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<noscript>Swagger UI needs JavaScript; the OpenAPI document is at
<a href="{url_attribute}">{url_text}</a>.</noscript>
{visible_note}<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: {url_script},
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",{oauth2_redirect}
}});
</script>
</body>
</html>
"""

# ReDoc and Scalar: one page shape, differing in the element that mounts the viewer.
_CDN_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="ecko-docs-assets" content="cdn">
<!-- {note} -->
<title>{title}</title>{style}
</head>
<body>
<noscript>{viewer} needs JavaScript; the OpenAPI document is at
<a href="{url_attribute}">{url_text}</a>.</noscript>
{mount}
<script src="{script}"></script>
</body>
</html>
"""

REDOC_NOTE = (
    f"ReDoc is loaded from {REDOC_CDN}: no well-kept Python package ships it without a "
    "framework, so this page needs Internet access."
)
SCALAR_NOTE = (
    f"Scalar is loaded from {SCALAR_CDN}: no well-kept Python package ships it without a "
    "framework, so this page needs Internet access."
)


def _script_string(text: str) -> str:
    """Quote `text` as a JavaScript string that cannot end the surrounding <script>."""
    quoted = json.dumps(text)  # ASCII only: U+2028 and U+2029 are escaped too
    return quoted.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _comment(text: str) -> str:
    # "--" cannot appear inside an HTML comment; the note is ours, this only keeps it valid.
    return html.escape(text).replace("--", "- -")


def swagger_html(
    *, title: str, openapi_url: str, assets: SwaggerUIAssets, assets_url: str | None = None
) -> str:
    """Return the Swagger UI page showing the document at `openapi_url`.

    Args:
        title: the page title.
        openapi_url: the document's URL, as the browser requests it.
        assets: where Swagger UI's files come from (`swagger_ui_assets()`).
        assets_url: the URL the app serves the local files under; used when `assets.local`.
    """
    local = assets.local and assets_url is not None
    base = assets_url if local and assets_url is not None else SWAGGER_UI_CDN
    visible_note = (
        ""
        if local
        else f'<p style="font: 12px sans-serif; color: #666; margin: 8px 20px">'
        f"{html.escape(assets.note)}</p>\n"
    )
    oauth2_redirect = (
        f"\n  oauth2RedirectUrl: new URL({_script_string(base + '/oauth2-redirect.html')}, "
        "window.location.href).href,"
        if local
        else ""
    )
    return _SWAGGER_PAGE.format(
        where="local" if local else "cdn",
        note=_comment(assets.note),
        title=html.escape(title),
        assets=html.escape(base, quote=True),
        url_attribute=html.escape(openapi_url, quote=True),
        url_text=html.escape(openapi_url),
        visible_note=visible_note,
        url_script=_script_string(openapi_url),
        oauth2_redirect=oauth2_redirect,
    )


def _cdn_page(
    viewer: str, mount: str, script: str, note: str, title: str, url: str, style: str = ""
) -> str:
    """Return a page loading `viewer` from `script`, mounted by the element `mount`."""
    url_attribute = html.escape(url, quote=True)
    return _CDN_PAGE.format(
        note=_comment(note),
        title=html.escape(title),
        style=f"\n<style>{style}</style>" if style else "",
        viewer=viewer,
        url_attribute=url_attribute,
        url_text=html.escape(url),
        mount=mount.format(url=url_attribute),
        script=script,
    )


def redoc_html(*, title: str, openapi_url: str) -> str:
    """Return the ReDoc page showing the document at `openapi_url` (ReDoc from jsDelivr)."""
    mount = '<redoc spec-url="{url}"></redoc>'
    style = "body { margin: 0; padding: 0; }"
    return _cdn_page("ReDoc", mount, REDOC_CDN, REDOC_NOTE, title, openapi_url, style)


def scalar_html(*, title: str, openapi_url: str) -> str:
    """Return the Scalar API reference page for the document at `openapi_url` (from jsDelivr)."""
    mount = '<script id="api-reference" data-url="{url}"></script>'
    return _cdn_page("Scalar", mount, SCALAR_CDN, SCALAR_NOTE, title, openapi_url)


def docs_html(
    *,
    title: str,
    openapi_url: str,
    kind: DocsKind = "swagger",
    assets: SwaggerUIAssets | None = None,
    assets_url: str | None = None,
) -> str:
    """Return the `kind` documentation page for the document at `openapi_url`.

    Swagger UI is served from the installed `swagger_ui_bundle` package when `assets` says
    so (and `assets_url` is where the app serves it), else from jsDelivr; ReDoc and Scalar
    always come from jsDelivr. Each page says where its script comes from.
    """
    if kind == "redoc":
        return redoc_html(title=title, openapi_url=openapi_url)
    if kind == "scalar":
        return scalar_html(title=title, openapi_url=openapi_url)
    if assets is None:
        assets = SwaggerUIAssets(None, None, f"Swagger UI is loaded from {SWAGGER_UI_CDN}.")
    return swagger_html(title=title, openapi_url=openapi_url, assets=assets, assets_url=assets_url)


__all__ = [
    "REDOC_NOTE",
    "SCALAR_NOTE",
    "DocsKind",
    "docs_html",
    "redoc_html",
    "scalar_html",
    "swagger_html",
]
