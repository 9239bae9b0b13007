"""Turn a `module:attribute` target into the ASGI app it names, failing early with the fix."""

from __future__ import annotations

import importlib
import inspect
import keyword
import os
import sys
import sysconfig
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

from ecko.cli import CommandError

DEFAULT_ATTRIBUTE = "app"
"""`ecko run app` means `app:app`."""

FACTORY_ATTRIBUTE = "create_app"
"""Suggested when a module has no app but defines this factory."""

EXIT_USER_CODE = 1
"""Exit code when the user's module raises while it is imported."""

_EXPECTED = "expected 'module:attribute', e.g. app:app"


@dataclass(frozen=True)
class Target:
    """A parsed target: the module to import, the attribute to read and where to import from.

    Attributes:
        text: the target as the user wrote it.
        module: the dotted module name to import.
        attribute: the (possibly dotted) attribute holding the app.
        app_dir: a folder to put first on `sys.path`, when the module is not importable
            from the current directory.
        file: for a `path/to/file.py` target, the resolved file, checked after import.
        factory: the attribute is a function returning the app (`module:create_app()`
            or `--factory`); servers call it in each worker.
    """

    text: str
    module: str
    attribute: str
    app_dir: str | None = None
    file: Path | None = None
    factory: bool = False

    @property
    def import_string(self) -> str:
        """Return `module:attribute`, the form servers re-import in worker processes."""
        return f"{self.module}:{self.attribute}"


def parse_target(text: str, cwd: Path | None = None, *, factory: bool = False) -> Target:
    """Parse `module:attr`, `module` or `path/to/file.py[:attr]` relative to `cwd`.

    A trailing `()` (`module:create_app()`) marks the attribute as an app factory, as
    `factory=True` does.

    Raises:
        CommandError: the target is malformed, or names a file that does not exist.
    """
    cwd = Path.cwd() if cwd is None else cwd
    location, attribute = _split(text)
    if attribute.endswith("()"):
        attribute, factory = attribute.removesuffix("()"), True
    if not location or not _is_dotted_name(attribute):
        raise CommandError(f"invalid target {text!r}: {_EXPECTED}")
    if location.endswith(".py"):
        return replace(_file_target(text, location, attribute, cwd), factory=factory)
    if "/" in location or os.sep in location:
        raise CommandError(
            f"invalid target {text!r}: a file path must end in .py (e.g. src/app.py:app); "
            f"otherwise {_EXPECTED}"
        )
    if not _is_dotted_name(location):
        raise CommandError(f"invalid target {text!r}: {_EXPECTED}")
    return Target(text, location, attribute, factory=factory)


def _split(text: str) -> tuple[str, str]:
    if text.endswith(".py"):
        return text, DEFAULT_ATTRIBUTE
    location, colon, attribute = text.rpartition(":")
    if not colon:
        return attribute, DEFAULT_ATTRIBUTE
    return location, attribute


def _is_identifier(part: str) -> bool:
    return part.isidentifier() and not keyword.iskeyword(part)


def _is_dotted_name(text: str) -> bool:
    return all(_is_identifier(part) for part in text.split("."))


def _file_target(text: str, location: str, attribute: str, cwd: Path) -> Target:
    path = Path(location)
    if not path.is_absolute():
        path = cwd / path
    if not path.is_file():
        raise CommandError(f"file {location!r} not found (looked in {cwd}); check the path")
    path = path.resolve()
    module_path = path.parent if path.name == "__init__.py" else path.with_suffix("")
    try:
        parts = module_path.relative_to(cwd.resolve()).parts
    except ValueError:
        parts = ()
    if parts and all(_is_identifier(part) for part in parts):
        # Importable from the current directory: keeps package-relative imports working.
        return Target(text, ".".join(parts), attribute, file=path)
    if not _is_identifier(module_path.name):
        suggestion = "".join(char if char.isalnum() else "_" for char in module_path.name)
        raise CommandError(
            f"{module_path.name!r} is not a valid Python module name; "
            f"rename it, e.g. to {suggestion.lstrip('_0123456789') or 'app'}.py"
        )
    return Target(text, module_path.name, attribute, app_dir=str(module_path.parent), file=path)


def load_app(target: Target) -> object:
    """Import the target's module and return the ASGI app its attribute names.

    Raises:
        CommandError: the module is missing or raises on import (exit code 1), the
            attribute is missing, or it is not an ASGI app.
    """
    module = import_module(target)
    app = _resolve_attribute(module, target)
    if target.factory:
        app = _call_factory(app, target)
    problem = asgi_problem(app)
    if problem is not None:
        candidates = [name for name in find_apps(module) if name != target.attribute]
        if target.factory:
            fix = "make it return the app, e.g. return Ecko()"
        elif candidates:
            fix = f"the module defines: {', '.join(candidates)}"
        elif problem == "a regular function":
            fix = (
                f"if it builds the app, run it as a factory: {target.import_string}() or --factory"
            )
        else:
            fix = "point it at your app, e.g. app = Ecko()"
        made = " returned" if target.factory else " is"
        raise CommandError(f"{target.text!r}{made} {problem}, not an ASGI app; {fix}")
    return app


def _call_factory(factory: object, target: Target) -> object:
    if not callable(factory):
        raise CommandError(
            f"{target.import_string!r} is not callable, so it cannot be an app factory; "
            "drop --factory (or the trailing ()) if it is the app itself"
        )
    try:
        return factory()
    except Exception as error:  # noqa: BLE001 - the user's factory may raise anything; report it
        message = _import_failure_message(target, error).replace(
            f"importing {target.module!r}", f"calling {target.import_string}()", 1
        )
        raise CommandError(message, EXIT_USER_CODE) from None


def import_module(target: Target) -> ModuleType:
    """Import the target's module with the current directory (and `app_dir`) first on sys.path.

    Raises:
        CommandError: the module cannot be found, or raises while it is imported.
    """
    _put_first_on_path(os.getcwd())
    if target.app_dir is not None:
        _put_first_on_path(target.app_dir)
    try:
        module = importlib.import_module(target.module)
    except ModuleNotFoundError as error:
        if error.name is not None and _is_prefix(error.name, target.module):
            raise CommandError(_not_found_message(target, error.name)) from None
        raise CommandError(_import_failure_message(target, error), EXIT_USER_CODE) from None
    except Exception as error:  # noqa: BLE001 - the user's module may raise anything; report it
        raise CommandError(_import_failure_message(target, error), EXIT_USER_CODE) from None
    loaded_from = getattr(module, "__file__", None)
    if target.file is not None and (
        loaded_from is None or Path(loaded_from).resolve() != target.file
    ):
        raise CommandError(
            f"{target.file.name!r} is hidden by the module {target.module!r} already loaded "
            f"from {loaded_from}; rename the file"
        )
    return module


def _put_first_on_path(folder: str) -> None:
    if sys.path[:1] != [folder]:
        sys.path.insert(0, folder)


def _is_prefix(missing: str, module: str) -> bool:
    return module == missing or module.startswith(missing + ".")


def _not_found_message(target: Target, missing: str) -> str:
    if missing != target.module.partition(".")[0]:
        parent, _, child = missing.rpartition(".")
        return f"module {target.module!r} not found: package {parent!r} has no module {child!r}"
    where = target.app_dir or os.getcwd()
    return (
        f"module {missing!r} not found: there is no {missing}.py or {missing}/ package in "
        f"{where} (the current directory is on the import path); run ecko from the folder "
        f"that holds it, or give its path, e.g. path/to/{missing}.py:{target.attribute}"
    )


def _import_failure_message(target: Target, error: Exception) -> str:
    if isinstance(error, SyntaxError):
        lines = [f"importing {target.module!r} raised SyntaxError: {error.msg}"]
        if error.filename and error.lineno:
            lines.append(f'  File "{_display_path(error.filename)}", line {error.lineno}')
        if error.text and error.text.strip():
            lines.append(f"    {error.text.strip()}")
        return "\n".join(lines)
    detail = str(error)
    lines = [
        f"importing {target.module!r} raised {type(error).__name__}"
        + (f": {detail}" if detail else "")
    ]
    for frame in _frames_to_show(error):
        lines.append(
            f'  File "{_display_path(frame.filename)}", line {frame.lineno}, in {frame.name}'
        )
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    return "\n".join(lines)


def _frames_to_show(error: BaseException) -> list[traceback.FrameSummary]:
    """Return the user's frames (their modules importing one another) and where it was raised.

    Frames in the standard library, installed packages and Ecko are left out, except the
    one that raised: the user sees their own traceback, not importlib's or Ecko's.
    """
    importlib_dir = os.path.dirname(importlib.__file__)
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith("<frozen ")
        and os.path.dirname(frame.filename) != importlib_dir
        and frame.filename != __file__
    ]
    if not frames:
        return []
    own = [frame for frame in frames if not _is_library(frame.filename)]
    if not own or own[-1] is not frames[-1]:
        own.append(frames[-1])
    return own


def _is_library(filename: str) -> bool:
    libraries = (sysconfig.get_paths()["stdlib"], os.path.dirname(os.path.dirname(__file__)))
    parts = Path(filename).parts
    return (
        "site-packages" in parts
        or "dist-packages" in parts
        or any(filename.startswith(folder + os.sep) for folder in libraries)
    )


def _display_path(filename: str) -> str:
    try:
        return os.path.relpath(filename) if filename.startswith(os.getcwd() + os.sep) else filename
    except ValueError:
        return filename


def _resolve_attribute(module: ModuleType, target: Target) -> object:
    value: object = module
    walked = target.module
    for part in target.attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            owner = f"module {target.module!r}" if value is module else repr(walked)
            candidates = find_apps(module)
            if candidates:
                raise CommandError(
                    f"{owner} has no attribute {part!r}; it defines: {', '.join(candidates)}"
                ) from None
            if value is module and callable(getattr(module, FACTORY_ATTRIBUTE, None)):
                raise CommandError(
                    f"{owner} has no attribute {part!r}; it defines the factory "
                    f"{FACTORY_ATTRIBUTE}(): ecko run {target.module}:{FACTORY_ATTRIBUTE}()"
                ) from None
            raise CommandError(
                f"{owner} has no attribute {part!r}, and the module defines no Ecko or ASGI app; "
                "create one, e.g. app = Ecko()"
            ) from None
        walked = f"{walked}{'.' if ':' in walked else ':'}{part}"
    return value


def find_apps(module: ModuleType) -> list[str]:
    """Return the public names in `module` bound to ASGI apps (Ecko apps included), in order."""
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and is_asgi_app(value)
    ]


def is_asgi_app(value: object) -> bool:
    """Tell whether `value` looks like an ASGI 3 app: `async (scope, receive, send)`."""
    if isinstance(value, (type, ModuleType)) or not callable(value):
        return False
    call = value if inspect.isroutine(value) else getattr(value, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(call) and _takes_three_arguments(call)


def asgi_problem(value: object) -> str | None:
    """Say what `value` is when it cannot be an ASGI app ("a dict"), or return None."""
    if isinstance(value, ModuleType):
        return "a module"
    if isinstance(value, type):
        return "a class (point it at an instance instead)"
    if not callable(value):
        name = type(value).__name__
        return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"
    if inspect.isfunction(value) or inspect.ismethod(value):
        if not inspect.iscoroutinefunction(value):
            return "a regular function"
        if not _takes_three_arguments(value):
            return "an async function that does not take (scope, receive, send)"
    return None


def _takes_three_arguments(function: object) -> bool:
    try:
        inspect.signature(function).bind(None, None, None)  # type: ignore[arg-type]
    except TypeError:
        return False
    except ValueError:
        # No signature to read (some builtins): let the server decide.
        return True
    return True
