"""The `ecko` command: parse arguments, run `run`, `new` or `routes`, map errors to exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = ["CommandError", "main"]

EXIT_USAGE = 2
"""Exit code for a mistake the user can fix from the command line (argparse uses it too)."""


class CommandError(Exception):
    """A failure reported as one short message on stderr and an exit code, never a traceback.

    Args:
        message: what went wrong and how to fix it.
        exit_code: the process exit code; 2 for usage mistakes, 1 for errors in the user's code.
    """

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class _VersionAction(argparse.Action):
    """Print Ecko's version, read only when asked for (`ecko.__about__`)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show Ecko's version and exit")

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> NoReturn:
        from ecko.__about__ import __version__

        print(f"ecko {__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """Build the parser for `ecko` and its subcommands; it imports nothing beyond argparse."""
    parser = argparse.ArgumentParser(
        prog="ecko", description="Run, create and inspect Ecko applications."
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run_parser(commands)
    _add_new_parser(commands)
    _add_routes_parser(commands)
    return parser


def _add_run_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="serve an app (development mode unless --prod)",
        description=(
            "Serve an app. Development mode (the default) reloads on code changes and sets "
            "ECKO_DEBUG=1; --prod turns both off and allows --workers."
        ),
    )
    run.add_argument("target", help="the app as module:attribute or path/to/file.py:attribute")
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    run.add_argument("--port", type=_port, default=8000, help="port to bind (default: 8000)")
    run.add_argument(
        "--reload",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="restart on code changes (default: on in development, off with --prod)",
    )
    run.add_argument(
        "--prod", action="store_true", help="production mode: no reload, no debug, proxy headers"
    )
    run.add_argument(
        "--workers", type=_positive_int, default=1, help="worker processes (needs reload off)"
    )
    run.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    run.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
        default="info",
    )
    run.add_argument("--root-path", default="", help="path prefix the app is mounted under")
    run.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="trust X-Forwarded-* from 127.0.0.1 (default: on with --prod; uvicorn only)",
    )
    run.set_defaults(handler=_run)


def _add_new_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    new = commands.add_parser("new", help="create a project from the starter template")
    new.add_argument("name", help="project name, e.g. myproject")
    new.add_argument("--directory", help="folder to create it in (default: ./NAME)")
    new.set_defaults(handler=_new)


def _add_routes_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    routes = commands.add_parser("routes", help="list an app's routes and mounts")
    routes.add_argument("target", help="the app as module:attribute or path/to/file.py:attribute")
    routes.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    routes.set_defaults(handler=_routes)


def _port(text: str) -> int:
    port = _integer(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (0-65535)")
    return port


def _positive_int(text: str) -> int:
    number = _integer(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return number


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _run(arguments: argparse.Namespace) -> int:
    from ecko.cli.run import RunOptions, run

    options = RunOptions(
        target=arguments.target,
        host=arguments.host,
        port=arguments.port,
        reload=arguments.reload,
        prod=arguments.prod,
        workers=arguments.workers,
        server=arguments.server,
        log_level=arguments.log_level,
        root_path=arguments.root_path,
        proxy_headers=arguments.proxy_headers,
    )
    return run(options)


def _new(arguments: argparse.Namespace) -> int:
    from ecko.cli.new import new_project

    return new_project(arguments.name, directory=arguments.directory)


def _routes(arguments: argparse.Namespace) -> int:
    from ecko.cli.routes import print_routes

    return print_routes(arguments.target, as_json=arguments.json)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `ecko` command with `argv` (default: `sys.argv[1:]`) and return its exit code."""
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as exit_:
        # --help, --version and usage errors: argparse has printed; keep main() returning.
        if exit_.code is None:
            return 0
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        exit_code: int = arguments.handler(arguments)
    except CommandError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    return exit_code
