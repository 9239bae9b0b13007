"""The Swagger UI page that renders an OpenAPI document in the browser."""

from __future__ import annotations

import html
import json

SWAGGER_UI_VERSION = "5"
"""The swagger-ui-dist major version loaded from the CDN; 5 renders OpenAPI 3.1."""

SWAGGER_UI_CDN = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{cdn}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<noscript>Swagger UI needs JavaScript; the OpenAPI document is at
<a href="{url_attribute}">{url_text}</a>.</noscript>
<script src="{cdn}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: {url_script},
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
}});
</script>
</body>
</html>
"""


def _script_string(text: str) -> str:
    """Quote `text` as a JavaScript string that cannot end the surrounding <script>."""
    quoted = json.dumps(text)  # ASCII only: U+2028 and U+2029 are escaped too
    return quoted.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def docs_html(*, title: str, openapi_url: str) -> str:
    """Return the HTML page showing the document at `openapi_url` with Swagger UI.

    The page loads Swagger UI's script and stylesheet from the jsDelivr CDN, so the browser
    needs Internet access; the app serves only the page and the document.
    """
    return _PAGE.format(
        title=html.escape(title),
        cdn=SWAGGER_UI_CDN,
        url_attribute=html.escape(openapi_url, quote=True),
        url_text=html.escape(openapi_url),
        url_script=_script_string(openapi_url),
    )


__all__ = ["SWAGGER_UI_CDN", "SWAGGER_UI_VERSION", "docs_html"]
