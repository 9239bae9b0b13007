"""`ecko new`: create a project folder from the starter templates in `ecko/cli/templates/`."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

from ecko.cli import CommandError

TEMPLATE_SUFFIX = ".tmpl"
DOTFILE_PREFIX = "dot-"
"""`dot-gitignore.tmpl` becomes `.gitignore`: wheels and sdists drop or hide dotfiles."""

# A distribution name (PEP 508), also usable as a folder name on every platform.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")


def new_project(name: str, *, directory: str | None = None) -> int:
    """Create the project `name` in `directory` (default: ./name) and print the next steps.

    Raises:
        CommandError: the name is invalid, or the folder exists and is not empty.
    """
    check_name(name)
    folder = Path(directory if directory is not None else name)
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"{str(folder)!r} exists and is a file; choose another --directory")
    if folder.is_dir() and any(folder.iterdir()):
        raise CommandError(
            f"folder {str(folder)!r} already exists and is not empty; "
            "choose another name or an empty --directory"
        )
    created = render_templates(folder, template_values(name))
    print(f"Created project {name!r} in {folder}{os.sep}:")
    for path in created:
        print(f"  {path.relative_to(folder).as_posix()}")
    print("\nNext steps:")
    if folder.resolve() != Path.cwd().resolve():
        print(f"  cd {_shell_path(folder)}")
    print("  pip install -e .")
    print("  ecko run app:app")
    return 0


def check_name(name: str) -> None:
    """Accept a project name usable as a folder and as a package name on PyPI.

    Raises:
        CommandError: it is not.
    """
    if not _NAME.match(name):
        raise CommandError(
            f"{name!r} is not a valid project name; use letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit, e.g. myproject"
        )
    if re.sub(r"[-_.]+", "-", name).lower() == "ecko":
        raise CommandError("a project named 'ecko' would shadow Ecko itself; choose another name")


def template_values(name: str) -> dict[str, str]:
    """Return the values the templates substitute (`$name`, `$ecko_version`)."""
    from ecko.__about__ import __version__

    return {"name": name, "ecko_version": __version__}


def render_templates(folder: Path, values: dict[str, str]) -> list[Path]:
    """Write every template under `ecko/cli/templates/` into `folder`; return the files written."""
    created = []
    templates = [
        (_destination(relative), template)
        for relative, template in _templates(files("ecko.cli") / "templates")
    ]
    for relative, template in sorted(templates, key=lambda item: item[0]):
        destination = folder.joinpath(*relative.parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = string.Template(template.read_text(encoding="utf-8")).substitute(values)
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


def _destination(relative: PurePosixPath) -> PurePosixPath:
    name = relative.name.removesuffix(TEMPLATE_SUFFIX)
    if name.startswith(DOTFILE_PREFIX):
        name = "." + name.removeprefix(DOTFILE_PREFIX)
    return relative.with_name(name)


def _shell_path(folder: Path) -> str:
    text = str(folder)
    return f"'{text}'" if re.search(r"[^\w@%+=:,./-]", text) else text
