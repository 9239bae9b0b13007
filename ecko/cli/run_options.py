"""`ecko run`'s options and the settings each mode derives from them, for either server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ecko.cli import CommandError

DEBUG_VARIABLE = "ECKO_DEBUG"
"""`Ecko(debug=None)` reads this; `ecko run` sets it in development and clears it with --prod."""

STARTUP_FAILURE = 3
"""uvicorn's exit code when the app's lifespan startup fails or the address cannot be bound.

`ecko run --server granian` uses it too when the address cannot be bound; granian itself
exits 1 when a worker's lifespan startup fails.
"""

DEFAULT_GRACEFUL_TIMEOUT = 30
"""Seconds in-flight requests get to finish after SIGTERM or SIGINT.

Below the 30 s most orchestrators (Kubernetes, ECS, `docker stop` takes 10 unless told)
wait before SIGKILL would be too short for slow uploads; the option changes it.
"""

DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1"
"""With --prod, X-Forwarded-* headers are trusted from a proxy on the same host only."""


@dataclass(frozen=True)
class RunOptions:
    """What `ecko run` was asked for; None means "the mode's default"."""

    target: str
    factory: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    reload: bool | None = None
    prod: bool = False
    workers: int | None = None
    server: Literal["uvicorn", "granian"] = "uvicorn"
    log_level: str = "info"
    access_log: bool = True
    root_path: str = ""
    env_file: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    forwarded_allow_ips: str | None = None
    graceful_timeout: int = DEFAULT_GRACEFUL_TIMEOUT


@dataclass(frozen=True)
class ServerSettings:
    """The settings handed to the server once each mode's defaults are applied.

    Attributes:
        forwarded_allow_ips: the addresses whose X-Forwarded-* headers are trusted,
            comma-separated; None trusts no proxy headers at all.
    """

    reload: bool
    debug: bool
    workers: int
    forwarded_allow_ips: str | None


def resolve_settings(options: RunOptions) -> ServerSettings:
    """Apply the development or production defaults to `options` and check they fit together.

    Raises:
        CommandError: the options contradict each other, name a file that does not exist,
            or have no equivalent in the chosen server.
    """
    if options.prod and options.reload:
        raise CommandError("--reload is for development; drop it or drop --prod")
    reload = not options.prod if options.reload is None else options.reload
    workers = options.workers or ((os.cpu_count() or 1) if options.prod else 1)
    if reload and workers > 1:
        raise CommandError(
            f"--workers {workers} cannot be combined with reload; "
            "add --prod (or --no-reload) to run several workers"
        )
    if options.ssl_keyfile and not options.ssl_certfile:
        raise CommandError("--ssl-keyfile needs --ssl-certfile (the certificate it belongs to)")
    for flag, path in (
        ("--env-file", options.env_file),
        ("--ssl-certfile", options.ssl_certfile),
        ("--ssl-keyfile", options.ssl_keyfile),
    ):
        if path is not None and not Path(path).is_file():
            raise CommandError(f"{flag}: file {path!r} not found (looked in {os.getcwd()})")
    forwarded = options.forwarded_allow_ips
    if options.server == "granian":
        _check_granian_options(options)
    elif forwarded is None and options.prod:
        forwarded = DEFAULT_FORWARDED_ALLOW_IPS
    if forwarded is not None and not forwarded.strip():
        # `--forwarded-allow-ips ''`: trust no proxy, as when the app applies the headers
        # itself with ecko.middleware.proxy_headers().
        forwarded = None
    return ServerSettings(
        reload=reload, debug=not options.prod, workers=workers, forwarded_allow_ips=forwarded
    )


def _check_granian_options(options: RunOptions) -> None:
    if options.forwarded_allow_ips is not None:
        raise CommandError(
            "--forwarded-allow-ips has no granian equivalent (granian does not read "
            "X-Forwarded-* headers); drop it or use --server uvicorn"
        )
    if options.ssl_certfile and not options.ssl_keyfile:
        raise CommandError(
            "--server granian needs --ssl-keyfile with --ssl-certfile (uvicorn also accepts "
            "a certificate file holding the key)"
        )


def exit_code(exit_: SystemExit) -> int:
    """Return the process exit code a `SystemExit` carries."""
    if exit_.code is None:
        return 0
    return exit_.code if isinstance(exit_.code, int) else 1
