"""`ecko new`: create a project folder from the starter templates in `ecko/cli/templates/`."""

from __future__ import annotations

import os
import re
import string
import sys
from collections.abc import Callable, Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

from ecko.cli import CommandError
from ecko.cli.output import style

TEMPLATES = {
    "api": "a JSON API in app.py, with OpenAPI docs",
    "web": "server-rendered pages (Jinja2), static files and a form, in a package with routers",
}
"""The project templates `ecko new --template` offers; the first is the default."""

DEFAULT_TEMPLATE = "api"
ECKO_DOCS_URL = "https://pypi.org/project/ecko/"
"""Where the generated welcome page and README point for Ecko's documentation."""

TEMPLATE_SUFFIX = ".tmpl"
DOTFILE_PREFIX = "dot-"
"""`dot-gitignore.tmpl` becomes `.gitignore`: wheels and sdists drop or hide dotfiles."""
PACKAGE_DIRECTORY = "__package__"
"""A folder named so becomes the project's package (the web template's code)."""
SOURCE_DIRECTORY = "__src__"
"""Files shared by both templates that live next to the code: the project root or the package."""

# A distribution name (PEP 508), also usable as a folder name on every platform.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
# Names the project's own folders use: a package named so would be shadowed or shadow them.
_RESERVED = frozenset({"ecko", "tests"})

_LAYOUTS = {
    "api": """\
```
app.py            the app: routes, welcome page, /health
settings.py       settings from the environment and .env
tests/            pytest, through ecko.testing.TestClient
```""",
    "web": """\
```
$package/app.py             the app: routers, static files, API docs
$package/routers/           pages.py (HTML and the form), api.py (/health, /api)
$package/templates/         Jinja2 templates
$package/static/            CSS and other files served under /static
$package/settings.py        settings from the environment and .env
tests/                     pytest, through ecko.testing.TestClient
```""",
}


def new_project(
    name: str | None,
    *,
    template: str | None = None,
    directory: str | None = None,
    interactive: bool = True,
) -> int:
    """Create the project `name` from `template` in `directory` and print the next steps.

    Args:
        name: the project (distribution) name; its package name replaces `-` and `.` by `_`.
        template: "api" or "web"; asked for in a terminal, else "api".
        directory: the folder to create it in (default: ./name).
        interactive: ask for what is missing when stdin and stdout are a terminal.

    Raises:
        CommandError: the name is missing or invalid, or the folder exists and is not empty.
    """
    prompting = interactive and sys.stdin.isatty() and sys.stdout.isatty()
    if name is None:
        if not prompting:
            raise CommandError("missing the project name: ecko new NAME, e.g. ecko new myproject")
        name = _ask("Project name", "myproject", check=lambda answer: package_name(answer))
    package = package_name(name)
    if template is None:
        template = _ask_template() if prompting else DEFAULT_TEMPLATE
    folder = Path(directory if directory is not None else name)
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"{str(folder)!r} exists and is a file; choose another --directory")
    if folder.is_dir() and any(folder.iterdir()):
        raise CommandError(
            f"folder {str(folder)!r} already exists and is not empty; "
            "choose another name or an empty --directory"
        )
    values = template_values(name, package, template)
    created = render_templates(folder, template, values)
    print(f"Created project {style(name, 'bold')} ({template} template) in {folder}{os.sep}:")
    for path in created:
        print(f"  {path.relative_to(folder).as_posix()}")
    print(f"\n{style('Next steps:', 'bold')}")
    if folder.resolve() != Path.cwd().resolve():
        print(f"  cd {_shell_path(folder)}")
    print("  pip install -e '.[dev]'")
    print(f"  {style('ecko run ' + values['run_target'], 'cyan')}")
    print("  pytest")
    return 0


def package_name(name: str) -> str:
    """Check a project name and return its package name (`my-shop` gives `my_shop`).

    Raises:
        CommandError: the name is not a valid distribution name, or its package name is
            not a Python identifier, or would shadow a module the project needs.
    """
    if not _NAME.match(name):
        raise CommandError(
            f"{name!r} is not a valid project name; use letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit, e.g. myproject"
        )
    package = re.sub(r"[-_.]+", "_", name).lower()
    if not package.isidentifier() or package[0].isdigit():
        raise CommandError(
            f"{name!r} is not a valid project name: its package name {package!r} must be a "
            "Python identifier (start with a letter), e.g. app1 rather than 1app"
        )
    if package == "ecko":
        raise CommandError("a project named 'ecko' would shadow Ecko itself; choose another name")
    if package in _RESERVED or package in sys.stdlib_module_names or _is_keyword(package):
        raise CommandError(
            f"{name!r} is not a valid project name: its package {package!r} would clash with "
            f"{_clash(package)}; choose another name, e.g. my_{package}"
        )
    return package


def _is_keyword(word: str) -> bool:
    import keyword

    return keyword.iskeyword(word) or keyword.issoftkeyword(word)


def _clash(package: str) -> str:
    if package in sys.stdlib_module_names:
        return f"the standard library's {package!r} module"
    if _is_keyword(package):
        return "a Python keyword"
    return "a module the project itself contains"


def _ask(question: str, default: str, *, check: Callable[[str], object]) -> str:
    while True:
        answer = input(f"{style(question, 'bold')} [{default}]: ").strip() or default
        try:
            check(answer)
        except CommandError as error:
            print(style(error.message, "red"))
            continue
        return answer


def _ask_template() -> str:
    print(style("Templates:", "bold"))
    for key, description in TEMPLATES.items():
        print(f"  {style(key, 'cyan')}  {description}")

    def check(answer: str) -> None:
        if answer not in TEMPLATES:
            raise CommandError(f"choose one of: {', '.join(TEMPLATES)}")

    return _ask("Template", DEFAULT_TEMPLATE, check=check)


def template_values(name: str, package: str, template: str) -> dict[str, str]:
    """Return the values the templates substitute (`$name`, `$package`, `$run_target`...)."""
    from ecko.__about__ import __version__

    code = "" if template == "api" else f"{package}/"
    layout = string.Template(_LAYOUTS[template]).substitute(package=package)
    return {
        "name": name,
        "package": package,
        "ecko_version": __version__,
        "ecko_docs_url": ECKO_DOCS_URL,
        "env_prefix": f"{package.upper()}_",
        "run_target": "app:app" if template == "api" else f"{package}.app:app",
        "settings_module": "settings" if template == "api" else f"{package}.settings",
        "settings_file": f"{code}settings.py",
        "kind": "JSON API" if template == "api" else "web application",
        "layout": layout,
    }


def render_templates(folder: Path, template: str, values: dict[str, str]) -> list[Path]:
    """Write the common files and those of `template` into `folder`; return the files written."""
    root = files("ecko.cli") / "templates"
    code = PurePosixPath() if template == "api" else PurePosixPath(values["package"])
    sources = [*_templates(root / "common"), *_templates(root / template)]
    rendered = sorted(
        ((_destination(relative, values["package"], code), source) for relative, source in sources),
        key=lambda item: item[0],
    )
    created = []
    for relative, source in rendered:
        destination = folder.joinpath(*relative.parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = string.Template(source.read_text(encoding="utf-8")).substitute(values)
        destination.write_text(text, encoding="utf-8")
        created.append(destination)
    return created


def _templates(
    directory: Traversable, prefix: PurePosixPath | None = None
) -> Iterator[tuple[PurePosixPath, Traversable]]:
    prefix = PurePosixPath() if prefix is None else prefix
    for entry in directory.iterdir():
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _templates(entry, prefix / entry.name)
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            yield prefix / entry.name, entry


def _destination(relative: PurePosixPath, package: str, code: PurePosixPath) -> PurePosixPath:
    parts: list[str] = []
    for part in relative.with_name(relative.name.removesuffix(TEMPLATE_SUFFIX)).parts:
        if part == SOURCE_DIRECTORY:
            parts.extend(code.parts)
        elif part == PACKAGE_DIRECTORY:
            parts.append(package)
        elif part.startswith(DOTFILE_PREFIX):
            parts.append("." + part.removeprefix(DOTFILE_PREFIX))
        else:
            parts.append(part)
    return PurePosixPath(*parts)


def _shell_path(folder: Path) -> str:
    text = str(folder)
    return f"'{text}'" if re.search(r"[^\w@%+=:,./-]", text) else text
