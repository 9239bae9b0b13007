"""`ecko run --server granian`: `ecko run`'s options mapped onto granian (`ecko[granian]`)."""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ecko._optional import import_optional
from ecko.cli import CommandError
from ecko.cli.loading import Target
from ecko.cli.run_options import STARTUP_FAILURE, RunOptions, ServerSettings, exit_code
from ecko.exceptions import MissingDependencyError

_LOG_LEVELS = {"trace": "debug"}


def import_granian() -> ModuleType:
    """Import granian, or fail in one line naming the extra to install.

    Raises:
        CommandError: granian is not installed.
    """
    try:
        return import_optional("granian", extra="granian")
    except MissingDependencyError as error:
        raise CommandError(str(error)) from None


def serve_granian(target: Target, options: RunOptions, settings: ServerSettings) -> int:
    """Serve the target under granian until it stops; return the exit code."""
    granian = import_granian()
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
        factory=target.factory,
        address=options.host,
        port=options.port,
        uds=Path(options.uds) if options.uds else None,
        interface=constants.Interfaces.ASGI,
        workers=settings.workers,
        reload=settings.reload,
        log_level=log.LogLevels(_LOG_LEVELS.get(options.log_level, options.log_level)),
        log_access=options.access_log,
        url_path_prefix=options.root_path or None,
        ssl_cert=Path(options.ssl_certfile) if options.ssl_certfile else None,
        ssl_key=Path(options.ssl_keyfile) if options.ssl_keyfile else None,
        # granian's nearest to uvicorn's graceful timeout: how long a stopping worker may
        # take to finish its requests before it is killed.
        workers_kill_timeout=options.graceful_timeout,
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
        return exit_code(exit_)
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
