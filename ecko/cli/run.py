"""`ecko run`: check the options and the target in-process, then serve it with uvicorn."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, cast

from ecko.cli import CommandError
from ecko.cli.loading import Target, load_app, parse_target
from ecko.cli.output import colour_enabled, info, style
from ecko.cli.run_options import (
    DEBUG_VARIABLE,
    STARTUP_FAILURE,
    RunOptions,
    ServerSettings,
    exit_code,
    resolve_settings,
)

__all__ = ["RunOptions", "ServerSettings", "resolve_settings", "run"]


def run(options: RunOptions) -> int:
    """Serve the app `options.target` names until the server stops; return the exit code.

    Raises:
        CommandError: bad options, a missing server, or a target that does not load.
    """
    settings = resolve_settings(options)
    if options.server == "granian":
        from ecko.cli.granian import import_granian

        import_granian()  # a missing extra fails before the app is imported
    if options.env_file is not None:
        _load_env_file(options.env_file)
    # Before the app is imported: `Ecko(debug=None)` reads it when the module runs.
    if settings.debug:
        os.environ[DEBUG_VARIABLE] = "1"
    else:
        os.environ.pop(DEBUG_VARIABLE, None)
    target = parse_target(options.target, factory=options.factory)
    app = load_app(target)
    print_banner(app, target, options, settings)
    if options.server == "granian":
        from ecko.cli.granian import serve_granian

        return serve_granian(target, options, settings)
    exit_code = _serve_uvicorn(app, target, options, settings)
    if exit_code == STARTUP_FAILURE:
        print("error: the server could not start; see the log above", file=sys.stderr)
    return exit_code


def _load_env_file(path: str) -> None:
    """Load `path` into os.environ before the app is imported; real variables win.

    Workers and reloaded processes inherit the environment, so both servers see it.
    """
    try:
        import dotenv  # uvicorn[standard], a core dependency, brings python-dotenv
    except ImportError:
        raise CommandError(
            "--env-file needs python-dotenv; install it with: pip install python-dotenv"
        ) from None
    dotenv.load_dotenv(path, override=False)


def server_url(options: RunOptions) -> str:
    """Return the base URL the server listens on (`unix:PATH` for a Unix socket)."""
    if options.uds is not None:
        return f"unix:{options.uds}"
    scheme = "https" if options.ssl_certfile else "http"
    host = f"[{options.host}]" if ":" in options.host else options.host
    return f"{scheme}://{host}:{options.port}{options.root_path}"


def docs_path(app: object) -> str | None:
    """Return where `setup_openapi(app)` serves Swagger UI (or the schema), if it was called."""
    routes = getattr(app, "routes", None)
    if not isinstance(routes, list):
        return None
    paths = {getattr(route, "name", None): getattr(route, "path", None) for route in routes}
    found = paths.get("openapi_docs") or paths.get("openapi_schema")
    return found if isinstance(found, str) else None


def print_banner(
    app: object, target: Target, options: RunOptions, settings: ServerSettings
) -> None:
    """Print the mode, the URL, the docs URL and the reload status to stderr."""
    stream = sys.stderr
    mode = "development" if settings.debug else "production"
    plural = "s" if settings.workers > 1 else ""
    flags = (
        f"reload {'on' if settings.reload else 'off'}, debug {'on' if settings.debug else 'off'}, "
        f"{settings.workers} worker{plural}"
    )
    mode_colour = "yellow" if settings.debug else "green"
    info(
        f"{style('ecko:', 'bold', 'cyan', stream=stream)} serving "
        f"{style(target.import_string + ('()' if target.factory else ''), 'bold', stream=stream)}"
        f" in {style(mode, 'bold', mode_colour, stream=stream)} mode ({flags})"
    )
    url = server_url(options)
    lines = [("URL", url)]
    docs = docs_path(app)
    if docs is not None and options.uds is None:
        lines.append(("Docs", url + docs))
    if settings.reload:
        lines.append(("Reload", f"watching *.py under {target.app_dir or os.getcwd()}"))
    if settings.forwarded_allow_ips is not None:
        lines.append(("Proxies", f"X-Forwarded-* trusted from {settings.forwarded_allow_ips}"))
    for label, value in lines:
        label_text = style(label.ljust(8), "dim", stream=stream)
        info(f"  {label_text}{style(value, 'cyan', stream=stream)}")


class _Terminated(BaseException):
    """SIGTERM arrived after the server shut down gracefully."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


@contextmanager
def _sigterm_raises_terminated() -> Iterator[None]:
    """Make SIGTERM raise `_Terminated`: uvicorn re-raises it after a graceful shutdown."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _serve_uvicorn(
    app: object, target: Target, options: RunOptions, settings: ServerSettings
) -> int:
    import uvicorn

    # Reload and workers re-import the app in child processes, so they need the import
    # string (and call the factory there); one in-process worker serves the app loaded here.
    needs_import_string = settings.reload or settings.workers > 1
    reload_dirs = [target.app_dir] if settings.reload and target.app_dir is not None else None
    try:
        with _sigterm_raises_terminated():
            uvicorn.run(
                target.import_string if needs_import_string else cast("Callable[..., Any]", app),
                factory=target.factory and needs_import_string,
                host=options.host,
                port=options.port,
                uds=options.uds,
                reload=settings.reload,
                reload_dirs=reload_dirs,
                workers=settings.workers,
                log_level=options.log_level,
                access_log=options.access_log,
                use_colors=colour_enabled(sys.stderr),
                root_path=options.root_path,
                proxy_headers=settings.forwarded_allow_ips is not None,
                forwarded_allow_ips=settings.forwarded_allow_ips,
                ssl_certfile=options.ssl_certfile,
                ssl_keyfile=options.ssl_keyfile,
                timeout_graceful_shutdown=options.graceful_timeout,
                app_dir=target.app_dir,
            )
    except _Terminated:
        return 0
    except SystemExit as exit_:
        return exit_code(exit_)
    return 0
