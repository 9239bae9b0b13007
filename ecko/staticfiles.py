"""Static files: map a URL path below a prefix to a file inside one directory, never outside."""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Callable
from typing import Any, final
from urllib.parse import quote, quote_from_bytes

from ecko._http import _guess_media_type
from ecko.exceptions import NotFound, RouteDefinitionError
from ecko.requests import Request
from ecko.responses import FileResponse, RedirectResponse, Response

__all__ = ["StaticFiles", "static_routes"]

# Media types that are text but not `text/*`, so FileResponse would send them without a
# charset; JavaScript is text/javascript per RFC 9239 (older mimetypes tables disagree).
_TEXT_TYPES = {
    "application/javascript": "text/javascript; charset=utf-8",
    "text/javascript": "text/javascript; charset=utf-8",
    "application/xml": "application/xml; charset=utf-8",
    "image/svg+xml": "image/svg+xml; charset=utf-8",
    "application/manifest+json": "application/manifest+json; charset=utf-8",
}
_NOT_FOUND = "File not found"
_QUERY_SAFE = "&=+%/;:@,?!$'()*-._~"


@final
class StaticFiles:
    """Resolve request paths to files under `directory`, refusing anything that escapes it.

    Args:
        directory: the folder to serve; must exist. Relative paths are taken from the
            current working directory, once, here.
        index: serve `index.html` for a directory (`/static/docs/`), and redirect
            `/static/docs` to it; off by default, so folder layouts are not revealed.
        serve_hidden: serve dot-files and files in dot-folders (`.env`, `.git/`); off by
            default.
        cache_control: a `Cache-Control` value for every file, e.g. "public, max-age=3600".

    Raises:
        RouteDefinitionError: `directory` does not exist or is not a directory.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        index: bool = False,
        serve_hidden: bool = False,
        cache_control: str | None = None,
    ) -> None:
        given = os.fspath(directory)
        self.directory = os.path.realpath(given)
        if not os.path.isdir(self.directory):
            where = "" if os.path.isabs(given) else f" (relative to {os.getcwd()})"
            problem = "is not a directory" if os.path.exists(self.directory) else "does not exist"
            raise RouteDefinitionError(
                f"Static directory {given!r} {problem}: looked at {self.directory}{where}"
            )
        self.index = index
        self.serve_hidden = serve_hidden
        self.headers = {"cache-control": cache_control} if cache_control else None

    def resolve(self, path: str) -> tuple[str, os.stat_result] | None:
        """Find the file for the URL path `path` (below the prefix, already decoded).

        Returns:
            The file's real path and stat, or None: missing, refused, or a directory (the
            caller decides about indexes with `is_directory`).
        """
        parts = self._safe_parts(path)
        if parts is None:
            return None
        full = self._inside(os.path.join(self.directory, *parts))
        if full is None:
            return None
        try:
            found = os.stat(full)
        except (OSError, ValueError):
            return None
        if stat_module.S_ISDIR(found.st_mode):
            # `docs` (no slash) is answered by a redirect to `docs/`, see `response()`.
            if not self.index or (path and not path.endswith("/")):
                return None
            full = os.path.join(full, "index.html")
            try:
                found = os.stat(full)
            except OSError:
                return None
        if not stat_module.S_ISREG(found.st_mode):
            return None
        return full, found

    def is_directory(self, path: str) -> bool:
        """Tell whether `path` names a directory that may be listed by its index."""
        parts = self._safe_parts(path)
        if parts is None:
            return False
        full = self._inside(os.path.join(self.directory, *parts))
        return full is not None and os.path.isdir(full)

    def _safe_parts(self, path: str) -> list[str] | None:
        """Split `path` into segments, or None if any could leave the directory or hide."""
        if "\x00" in path or "\\" in path:
            return None
        parts = path.split("/")
        if parts and parts[-1] == "":
            parts.pop()  # a trailing slash asks for the directory itself
        for part in parts:
            # Empty, `.`, `..`; drive letters and NTFS streams (`C:`, `file::$DATA`).
            if part in ("", ".", "..") or ":" in part:
                return None
            if part.startswith(".") and not self.serve_hidden:
                return None
        return parts

    def _inside(self, candidate: str) -> str | None:
        """Return the real path of `candidate` if it stays in the directory (symlinks too)."""
        try:
            real = os.path.realpath(candidate)
        except (OSError, ValueError):
            return None
        root = self.directory
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            return None
        return real

    def response(self, request: Request, path: str) -> Response:
        """Answer for `path`: the file, a redirect to a directory's index, or a 404.

        Raises:
            NotFound: nothing may be served for `path`.
        """
        raw_path: bytes = request.scope.get("raw_path") or b""
        # An encoded slash or backslash inside a segment names no file; routing already
        # decoded it, so look at the bytes the client sent.
        if b"%2f" in raw_path.lower() or b"%5c" in raw_path.lower():
            raise NotFound(_NOT_FOUND)
        found = self.resolve(path)
        if found is None:
            if self.index and path and not path.endswith("/") and self.is_directory(path):
                # Relative links in the index resolve against the directory, so it needs
                # the trailing slash (as web servers do).
                return RedirectResponse(_with_slash(request), 308)
            raise NotFound(_NOT_FOUND)
        full, stat_result = found
        media_type = _guess_media_type(full)
        return FileResponse(
            full,
            headers=self.headers,
            media_type=_TEXT_TYPES.get(media_type, media_type),
            stat_result=stat_result,
        )


def _with_slash(request: Request) -> str:
    raw: bytes | None = request.scope.get("raw_path")
    # The raw path is still percent-encoded, as a Location must be; rebuild it if absent.
    location = raw.decode("latin-1") if raw else quote(request.path)
    query: bytes = request.scope.get("query_string", b"")
    return location + "/" + ("?" + quote_from_bytes(query, _QUERY_SAFE) if query else "")


def static_routes(
    prefix: str, files: StaticFiles
) -> list[tuple[str, Callable[..., Any], tuple[str, ...]]]:
    """Return the `(path, handler, methods)` routes serving `files` under `prefix`.

    Raises:
        RouteDefinitionError: `prefix` does not start with `/` or ends with one.
    """
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
        raise RouteDefinitionError(
            f"Static prefix {prefix!r} must start with '/' and not end with '/', e.g. '/static'"
        )

    # Plain `def`: the file system calls run in the threadpool, off the event loop.
    def serve_static(request: Request, path: str) -> Response:
        return files.response(request, path)

    routes: list[tuple[str, Callable[..., Any], tuple[str, ...]]] = [
        (f"{prefix}/{{path:path}}", serve_static, ("GET", "HEAD"))
    ]
    if files.index:

        def serve_static_index(request: Request) -> Response:
            return files.response(request, "")

        routes.append((f"{prefix}/", serve_static_index, ("GET", "HEAD")))
    return routes
