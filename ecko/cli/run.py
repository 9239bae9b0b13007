"""`ecko run`: validate the target in-process, then serve it with uvicorn (or granian)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal, cast

from ecko._optional import import_optional
from ecko.cli import CommandError
from ecko.cli.loading import Target, load_app, parse_target
from ecko.exceptions import MissingDependencyError

DEBUG_VARIABLE = "ECKO_DEBUG"
"""`Ecko(debug=None)` reads this; `ecko run` sets it in development and clears it with --prod."""

STARTUP_FAILURE = 3
"""uvicorn's exit code when the app's lifespan startup fails or the address cannot be bound.

`ecko run --server granian` uses it too when the address cannot be bound; granian itself
exits 1 when a worker's lifespan startup fails.
"""

_GRANIAN_LOG_LEVELS = {"trace": "debug"}


@dataclass(frozen=True)
class RunOptions:
    """What `ecko run` was asked for; None means "the mode's default"."""

    target: str
    host: str = "127.0.0.1"
    port: int = 8000
    reload: bool | None = None
    prod: bool = False
    workers: int = 1
    server: Literal["uvicorn", "granian"] = "uvicorn"
    log_level: str = "info"
    root_path: str = ""
    proxy_headers: bool | None = None


@dataclass(frozen=True)
class ServerSettings:
    """The settings handed to the server once each mode's defaults are applied."""

    reload: bool
    debug: bool
    workers: int
    proxy_headers: bool


def resolve_settings(options: RunOptions) -> ServerSettings:
    """Apply the development or production defaults to `options`.

    Raises:
        CommandError: the options contradict each other.
    """
    if options.prod and options.reload:
        raise CommandError("--reload is for development; drop it or drop --prod")
    reload = not options.prod if options.reload is None else options.reload
    if reload and options.workers > 1:
        raise CommandError(
            f"--workers {options.workers} cannot be combined with reload; "
            "add --prod (or --no-reload) to run several workers"
        )
    if options.server == "granian" and options.proxy_headers:
        raise CommandError("--proxy-headers is supported with --server uvicorn only")
    proxy_headers = options.prod if options.proxy_headers is None else options.proxy_headers
    return ServerSettings(
        reload=reload, debug=not options.prod, workers=options.workers, proxy_headers=proxy_headers
    )


def run(options: RunOptions) -> int:
    """Serve the app `options.target` names until the server stops; return the exit code.

    Raises:
        CommandError: bad options, a missing server, or a target that does not load.
    """
    settings = resolve_settings(options)
    granian = _import_granian() if options.server == "granian" else None
    # Before the app is imported: `Ecko(debug=None)` reads it when the module runs.
    if settings.debug:
        os.environ[DEBUG_VARIABLE] = "1"
    else:
        os.environ.pop(DEBUG_VARIABLE, None)
    target = parse_target(options.target)
    app = load_app(target)
    mode = "development" if settings.debug else "production"
    print(
        f"ecko: serving {target.import_string} in {mode} mode "
        f"(reload {'on' if settings.reload else 'off'}, debug {'on' if settings.debug else 'off'}, "
        f"{settings.workers} worker{'s' if settings.workers > 1 else ''})",
        file=sys.stderr,
        flush=True,
    )
    if granian is not None:
        return _serve_granian(granian, target, options, settings)
    exit_code = _serve_uvicorn(app, target, options, settings)
    if exit_code == STARTUP_FAILURE:
        print("error: the server could not start; see the log above", file=sys.stderr)
    return exit_code


def _import_granian() -> Any:
    try:
        return import_optional("granian", extra="granian")
    except MissingDependencyError as error:
        raise CommandError(str(error)) from None


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

    # Reload and workers re-import the app in child processes, so they need the import string.
    needs_import_string = settings.reload or settings.workers > 1
    reload_dirs = [target.app_dir] if settings.reload and target.app_dir is not None else None
    try:
        with _sigterm_raises_terminated():
            uvicorn.run(
                target.import_string if needs_import_string else cast("Callable[..., Any]", app),
                host=options.host,
                port=options.port,
                reload=settings.reload,
                reload_dirs=reload_dirs,
                workers=settings.workers,
                log_level=options.log_level,
                root_path=options.root_path,
                proxy_headers=settings.proxy_headers,
                app_dir=target.app_dir,
            )
    except _Terminated:
        return 0
    except SystemExit as exit_:
        return _exit_code(exit_)
    return 0


def _serve_granian(
    granian: Any, target: Target, options: RunOptions, settings: ServerSettings
) -> int:
    constants = import_optional("granian.constants", extra="granian")
    log = import_optional("granian.log", extra="granian")
    reload_options: dict[str, Any] = {}
    if settings.reload:
        import watchfiles  # uvicorn[standard] brings it; granian's reloader needs it too

        reload_options = {
            # granian watches the current directory by default; a file target may be elsewhere.
            "reload_paths": [Path(target.app_dir or os.getcwd())],
            # By default granian reloads on any file written (a log, a SQLite database, an
            # upload), so an app writing into its folder restarts forever; uvicorn watches
            # *.py only.
            "reload_filter": watchfiles.PythonFilter,
        }
    server = granian.Granian(
        target.import_string,
        address=options.host,
        port=options.port,
        interface=constants.Interfaces.ASGI,
        workers=settings.workers,
        reload=settings.reload,
        log_level=log.LogLevels(_GRANIAN_LOG_LEVELS.get(options.log_level, options.log_level)),
        url_path_prefix=options.root_path or None,
        working_dir=Path(target.app_dir or os.getcwd()),
        **reload_options,
    )
    # granian forks its workers where fork is the default (Linux before 3.14), and this
    # process imported the app to validate it: forked workers would reuse that import, so
    # reload would serve stale code and whatever the module opened would be shared. Spawned
    # workers import the app afresh, as uvicorn's workers and reloader do.
    start_method = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("spawn", force=True)
    try:
        server.serve()
    except SystemExit as exit_:
        return _exit_code(exit_)
    except (OSError, RuntimeError) as error:
        # granian's main process raises only while starting, as when the address is taken:
        # RuntimeError("Address already in use (os error 98)"), followed by a Rust stack
        # trace when RUST_BACKTRACE is set. Workers' failures arrive as SystemExit.
        reason = str(error).partition("\n")[0]
        print(f"error: the server could not start: {reason}", file=sys.stderr)
        return STARTUP_FAILURE
    finally:
        multiprocessing.set_start_method(start_method, force=True)
    return 0


def _exit_code(exit_: SystemExit) -> int:
    if exit_.code is None:
        return 0
    return exit_.code if isinstance(exit_.code, int) else 1
