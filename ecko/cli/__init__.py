"""The `ecko` command: parse arguments, run a subcommand, map errors to exit codes."""

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


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors start with the same red `error:` as the rest."""

    def error(self, message: str) -> NoReturn:
        from ecko.cli.output import style

        self.print_usage(sys.stderr)
        label = style("error:", "bold", "red", stream=sys.stderr)
        self.exit(EXIT_USAGE, f"{label} {message}\n{self.prog} --help shows the options\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the parser for `ecko` and its subcommands; it imports nothing beyond argparse."""
    parser = _Parser(
        prog="ecko",
        description="Run, create and inspect Ecko applications.",
        epilog=_examples(
            "ecko new myproject             create a project, then: cd myproject",
            "ecko run app:app               serve it with reload and debug on",
            "ecko run app:app --prod        serve it in production, one worker per CPU",
            "ecko routes app:app            list its routes",
            "ecko openapi app:app -o openapi.json",
            "",
            "Run `ecko COMMAND --help` for a command's options.",
        ),
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run_parser(commands)
    _add_new_parser(commands)
    _add_routes_parser(commands)
    _add_openapi_parser(commands)
    return parser


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples' line breaks, show defaults, and give option columns room."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" if line else "" for line in lines)


_TARGET_HELP = (
    "the app: module:attribute (app:app), path/to/file.py[:attribute], a module alone "
    "(finds `app`), or module:factory() for an app factory"
)


def _add_run_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    run = commands.add_parser(
        "run",
        help="serve an app (development mode unless --prod)",
        description=(
            "Serve an app with uvicorn (or granian).\n\n"
            "Development (the default): reload on code changes, debug pages (ECKO_DEBUG=1),\n"
            "one worker on 127.0.0.1:8000.\n"
            "Production (--prod): no reload, no debug, one worker per CPU, graceful shutdown,\n"
            "X-Forwarded-* headers trusted from --forwarded-allow-ips only."
        ),
        epilog=_examples(
            "ecko run app:app",
            "ecko run src/service.py:api --port 3000",
            "ecko run 'myproject.app:create_app()'     (quoted: the shell reads ())",
            "ecko run app:app --prod --workers 4 --host 0.0.0.0",
            "ecko run app:app --prod --forwarded-allow-ips 10.0.0.1 --graceful-timeout 20",
            "ecko run app:app --prod --uds /run/app.sock --no-access-log",
            "ecko run app:app --env-file .env.local --server granian",
        ),
        formatter_class=_HelpFormatter,
    )
    run.add_argument("target", help=_TARGET_HELP)
    run.add_argument(
        "--factory", action="store_true", help="the target is a function returning the app"
    )
    run.add_argument(
        "--prod", action="store_true", help="production mode: no reload, no debug, all CPUs"
    )
    where = run.add_argument_group("where to listen")
    where.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    where.add_argument("--port", type=_port, default=8000, help="port to bind (default: 8000)")
    where.add_argument("--uds", metavar="PATH", help="bind a Unix domain socket instead")
    where.add_argument("--ssl-certfile", metavar="FILE", help="serve HTTPS with this certificate")
    where.add_argument("--ssl-keyfile", metavar="FILE", help="the certificate's private key")
    server = run.add_argument_group("server")
    server.add_argument(
        "--server",
        choices=("uvicorn", "granian"),
        default="uvicorn",
        help="uvicorn (default) or granian (pip install 'ecko[granian]')",
    )
    server.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="worker processes (default: 1; with --prod, one per CPU)",
    )
    server.add_argument(
        "--reload",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="restart on code changes (default: on, off with --prod)",
    )
    server.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
        default="info",
        help="server log level (default: info)",
    )
    server.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="log one line per request (default: on)",
    )
    server.add_argument(
        "--graceful-timeout",
        type=_positive_int,
        metavar="SECONDS",
        default=30,
        help="on SIGTERM/SIGINT, how long in-flight requests may finish (default: 30)",
    )
    app = run.add_argument_group("application")
    app.add_argument("--env-file", metavar="FILE", help="load environment variables from FILE")
    app.add_argument(
        "--root-path", metavar="PATH", default="", help="path prefix a proxy serves the app under"
    )
    app.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="comma-separated proxy addresses whose X-Forwarded-* headers are trusted, '*' for "
        "all, '' for none (default: 127.0.0.1 with --prod, none otherwise)",
    )
    run.set_defaults(handler=_run)


def _add_new_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    new = commands.add_parser(
        "new",
        help="create a project from a starter template",
        description=(
            "Create a project: app, tests, settings read from the environment and .env,\n"
            "Dockerfile and a GitHub Actions workflow. In a terminal, asks for what is missing."
        ),
        epilog=_examples(
            "ecko new myproject                 JSON API (app.py)",
            "ecko new mysite --template web     pages, Jinja2 templates, static files, a form",
            "ecko new my-service --directory services/my-service",
        ),
        formatter_class=_HelpFormatter,
    )
    new.add_argument(
        "name", nargs="?", help="project name, e.g. myproject (its package: my_project)"
    )
    new.add_argument(
        "--template",
        choices=("api", "web"),
        help="api: a JSON API (default); web: server-rendered pages with a form",
    )
    new.add_argument("--directory", metavar="DIR", help="folder to create it in (default: ./NAME)")
    new.add_argument("--no-input", action="store_true", help="never prompt, even in a terminal")
    new.set_defaults(handler=_new)


def _add_routes_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    routes = commands.add_parser(
        "routes",
        help="list an app's routes and mounts",
        description="List method, path, handler, name and tags of every route and mount.",
        epilog=_examples(
            "ecko routes app:app",
            "ecko routes app:app --json | jq '.[].path'",
        ),
        formatter_class=_HelpFormatter,
    )
    routes.add_argument("target", help=_TARGET_HELP)
    routes.add_argument(
        "--factory", action="store_true", help="the target is a function returning the app"
    )
    routes.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    routes.set_defaults(handler=_routes)


def _add_openapi_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    openapi = commands.add_parser(
        "openapi",
        help="write an app's OpenAPI document",
        description=(
            "Write the OpenAPI 3.1 document of an app that calls setup_openapi(app),\n"
            "as JSON (default) or YAML (--yaml, needs pip install 'ecko[yaml]')."
        ),
        epilog=_examples(
            "ecko openapi app:app",
            "ecko openapi app:app --output openapi.json",
            "ecko openapi app:app --yaml -o openapi.yaml",
        ),
        formatter_class=_HelpFormatter,
    )
    openapi.add_argument("target", help=_TARGET_HELP)
    openapi.add_argument(
        "--factory", action="store_true", help="the target is a function returning the app"
    )
    openapi.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE instead of standard output"
    )
    openapi.add_argument("--yaml", action="store_true", help="write YAML instead of JSON")
    openapi.set_defaults(handler=_openapi)


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
        factory=arguments.factory,
        host=arguments.host,
        port=arguments.port,
        uds=arguments.uds,
        reload=arguments.reload,
        prod=arguments.prod,
        workers=arguments.workers,
        server=arguments.server,
        log_level=arguments.log_level,
        access_log=arguments.access_log,
        root_path=arguments.root_path,
        env_file=arguments.env_file,
        ssl_certfile=arguments.ssl_certfile,
        ssl_keyfile=arguments.ssl_keyfile,
        forwarded_allow_ips=arguments.forwarded_allow_ips,
        graceful_timeout=arguments.graceful_timeout,
    )
    return run(options)


def _new(arguments: argparse.Namespace) -> int:
    from ecko.cli.new import new_project

    return new_project(
        arguments.name,
        template=arguments.template,
        directory=arguments.directory,
        interactive=not arguments.no_input,
    )


def _routes(arguments: argparse.Namespace) -> int:
    from ecko.cli.routes import print_routes

    return print_routes(arguments.target, as_json=arguments.json, factory=arguments.factory)


def _openapi(arguments: argparse.Namespace) -> int:
    from ecko.cli.openapi import write_openapi

    return write_openapi(
        arguments.target, output=arguments.output, as_yaml=arguments.yaml, factory=arguments.factory
    )


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
        from ecko.cli.output import error as print_error

        print_error(error.message)
        return error.exit_code
    except KeyboardInterrupt:
        # Ctrl-C at a prompt of `ecko new`: no traceback, the shell's usual code.
        print(file=sys.stderr)
        return 130
    return exit_code
