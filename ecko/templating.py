"""Jinja2 templates rendered into HTML responses, with `url_for` and `context` inside them."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ecko._optional import import_optional
from ecko.context import context, current
from ecko.responses import HeadersInput, HTMLResponse

if TYPE_CHECKING:
    import jinja2

__all__ = ["Templates"]

F = TypeVar("F", bound=Callable[..., Any])

# Escaped by default: a value from a request must never become markup by accident.
_AUTOESCAPED = ("html", "htm", "xhtml", "xml", "svg")

TemplateDirectories = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def url_for(name: str, /, **params: Any) -> str:
    """Build the path of the route called `name` in the app serving the current request.

    Raises:
        RuntimeError: called outside a request (the app is found through it).
        KeyError: no route has that name, or `params` do not fit its template.
    """
    state = current()
    connection = None
    if state is not None:
        connection = getattr(state, "request", None) or getattr(state, "websocket", None)
    if connection is None:
        raise RuntimeError(
            "url_for() in a template needs a request to find the app; render templates in "
            "handlers, or call app.url_for() and pass the result in"
        )
    root_path: str = connection.scope.get("root_path", "")
    path: str = connection.scope["app"].url_for(name, **params)
    return root_path + path


class Templates:
    """A Jinja2 environment loading templates from `directory`, rendering HTML responses.

    `url_for(name, **params)` (route paths) and `context` (`context.request`, ...) are
    available in every template. Autoescaping is on for .html, .htm, .xhtml, .xml and .svg
    templates and for templates built from strings.

    Args:
        directory: a folder of templates, or several searched in order.
        enable_async: compile templates for `render_async()` (templates may await).
        globals: extra names available in every template.
        **environment_options: passed to `jinja2.Environment` (e.g. `trim_blocks=True`).

    Raises:
        MissingDependencyError: Jinja2 is not installed (`pip install 'ecko[templates]'`).
    """

    def __init__(
        self,
        directory: TemplateDirectories,
        *,
        enable_async: bool = False,
        globals: Mapping[str, Any] | None = None,  # noqa: A002 - Jinja's own name
        **environment_options: Any,
    ) -> None:
        jinja = import_optional("jinja2", extra="templates")
        directories = [directory] if isinstance(directory, (str, os.PathLike)) else list(directory)
        environment_options.setdefault("loader", jinja.FileSystemLoader(directories))
        environment_options.setdefault(
            "autoescape", jinja.select_autoescape(_AUTOESCAPED, default_for_string=True)
        )
        self.environment: jinja2.Environment = jinja.Environment(
            enable_async=enable_async, **environment_options
        )
        self.environment.globals["url_for"] = url_for
        self.environment.globals["context"] = context
        if globals:
            self.environment.globals.update(globals)

    @property
    def is_async(self) -> bool:
        """Whether templates are compiled for `render_async()`."""
        return bool(self.environment.is_async)

    @property
    def globals(self) -> dict[str, Any]:
        """Names available in every template; add to it to register more."""
        return self.environment.globals

    @property
    def filters(self) -> dict[str, Callable[..., Any]]:
        """Filters available in every template (`{{ value | name }}`); add to register more."""
        return self.environment.filters

    def filter(self, name: str | None = None) -> Callable[[F], F]:
        """Register the decorated function as a filter, under `name` or its own name."""

        def register(function: F) -> F:
            self.environment.filters[name or function.__name__] = function
            return function

        return register

    def get_template(self, name: str) -> jinja2.Template:
        """Load (and cache) template `name`.

        Raises:
            jinja2.TemplateNotFound: no template directory holds `name`.
            jinja2.TemplateSyntaxError: the template is malformed (file and line included).
        """
        return self.environment.get_template(name)

    def render(
        self,
        name: str,
        /,
        *,
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        **values: Any,
    ) -> HTMLResponse:
        """Render template `name` with `values` into an HTML response.

        Raises:
            RuntimeError: the templates are async (`enable_async=True`): await `render_async()`.
        """
        if self.is_async:
            raise RuntimeError(
                "These templates were created with enable_async=True; "
                "use `await templates.render_async(...)` in an async handler"
            )
        html = self.get_template(name).render(values)
        return HTMLResponse(html, status_code, headers, media_type)

    async def render_async(
        self,
        name: str,
        /,
        *,
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        **values: Any,
    ) -> HTMLResponse:
        """Render template `name` with `values` on the event loop (templates may await).

        Raises:
            RuntimeError: the templates were not created with `enable_async=True`.
        """
        if not self.is_async:
            raise RuntimeError(
                "render_async() needs Templates(..., enable_async=True); "
                "or call templates.render(...) instead"
            )
        html = await self.get_template(name).render_async(values)
        return HTMLResponse(html, status_code, headers, media_type)
