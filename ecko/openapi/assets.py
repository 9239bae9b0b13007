"""Find the docs pages' scripts: Swagger UI in the `swagger_ui_bundle` package, else CDNs."""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

SWAGGER_UI_CDN = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
"""Swagger UI 5 on jsDelivr: the first major version that renders OpenAPI 3.1."""

REDOC_CDN = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
SCALAR_CDN = "https://cdn.jsdelivr.net/npm/@scalar/api-reference@1"

SWAGGER_UI_FILES = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "favicon-32x32.png",
        "favicon-16x16.png",
        "oauth2-redirect.html",
    }
)
"""The files the Swagger UI page loads; only these are served from the package folder."""

# Swagger UI 4 reads `"openapi": "3.0.x"` only and shows "Unable to render this definition"
# for a 3.1 document, which is what Ecko writes.
_MINIMUM_MAJOR = 5
_VERSION_FOLDER = re.compile(r"swagger-ui-(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True, slots=True)
class SwaggerUIAssets:
    """Where the Swagger UI page loads its files from, and why.

    Attributes:
        folder: the installed package's folder of Swagger UI files; None means the CDN.
        version: the Swagger UI version in `folder`, or None when it is unknown.
        note: one sentence for the page saying where the files come from.
    """

    folder: Path | None
    version: str | None
    note: str

    @property
    def local(self) -> bool:
        """Say whether the files are served by the app (True) or a CDN (False)."""
        return self.folder is not None


@functools.cache
def swagger_ui_assets() -> SwaggerUIAssets:
    """Locate Swagger UI in the installed `swagger_ui_bundle` package, once per process.

    The package (the `ecko[docs]` extra) ships Swagger UI's built files, so the docs page
    works on a machine without Internet access. Without it, or with a Swagger UI too old for
    OpenAPI 3.1, the page loads Swagger UI 5 from jsDelivr and says so.
    """
    try:
        bundle = importlib.import_module("swagger_ui_bundle")
    except ImportError:
        return SwaggerUIAssets(
            None,
            None,
            f"Swagger UI is loaded from {SWAGGER_UI_CDN} because the swagger-ui-bundle package "
            "is not installed; install ecko[docs] to serve it from this app (offline).",
        )
    folder = _newest_folder(Path(str(bundle.swagger_ui_path)))
    match = _VERSION_FOLDER.search(folder.name)
    version = ".".join(match.groups()) if match else None
    if match is None or int(match.group(1)) < _MINIMUM_MAJOR:
        return SwaggerUIAssets(
            None,
            version,
            f"Swagger UI is loaded from {SWAGGER_UI_CDN} because the installed swagger-ui-bundle "
            f"ships Swagger UI {version or folder.name}, which cannot render OpenAPI 3.1; "
            "install swagger-ui-bundle-v2 (Swagger UI 5) to serve it from this app (offline).",
        )
    if not all((folder / name).is_file() for name in ("swagger-ui-bundle.js", "swagger-ui.css")):
        return SwaggerUIAssets(
            None,
            version,
            f"Swagger UI is loaded from {SWAGGER_UI_CDN} because {folder} lacks its files.",
        )
    return SwaggerUIAssets(
        folder,
        version,
        f"Swagger UI {version} is served by this app from the swagger-ui-bundle package "
        "(no Internet access needed).",
    )


def _newest_folder(folder: Path) -> Path:
    """Return the newest `swagger-ui-X.Y.Z` folder beside `folder` (`folder` itself if none).

    swagger-ui-bundle and swagger-ui-bundle-v2 install the same module: with both, the
    `swagger_ui_path` of whichever was installed last wins, while both folders are there.
    """
    versions = []
    for candidate in folder.parent.glob("swagger-ui-*"):
        match = _VERSION_FOLDER.search(candidate.name)
        if match and candidate.is_dir():
            versions.append((tuple(int(part) for part in match.groups()), candidate))
    return max(versions)[1] if versions else folder


__all__ = [
    "REDOC_CDN",
    "SCALAR_CDN",
    "SWAGGER_UI_CDN",
    "SWAGGER_UI_FILES",
    "SwaggerUIAssets",
    "swagger_ui_assets",
]
