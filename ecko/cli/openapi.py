"""`ecko openapi`: write the OpenAPI document `app.openapi()` builds, as JSON or YAML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec

from ecko._optional import import_optional
from ecko.cli import CommandError
from ecko.cli.loading import load_app, parse_target
from ecko.cli.output import info
from ecko.exceptions import MissingDependencyError
from ecko.serialization import encode_json


def write_openapi(
    target_text: str, *, output: str | None = None, as_yaml: bool = False, factory: bool = False
) -> int:
    """Load the Ecko app `target_text` names and write its OpenAPI document.

    Args:
        target_text: the app, as for `ecko run`.
        output: the file to write; None writes to stdout.
        as_yaml: YAML instead of JSON (needs PyYAML, the `ecko[yaml]` extra).
        factory: the target is a function returning the app.

    Raises:
        CommandError: the target does not load, is not an Ecko app, never called
            `setup_openapi()`, or YAML was asked for without PyYAML.
    """
    from ecko.app import Ecko

    yaml = _import_yaml() if as_yaml else None  # a missing extra fails before the import
    target = parse_target(target_text, factory=factory)
    app = load_app(target)
    if not isinstance(app, Ecko):
        raise CommandError(
            f"{target.text!r} is a {type(app).__name__}, not an Ecko app; "
            "`ecko openapi` writes the document of an Ecko() instance"
        )
    if app.openapi_builder is None:
        raise CommandError(
            f"{target.text!r} has no OpenAPI document: call setup_openapi(app, title=..., "
            "version=...) where the app is created (from ecko import setup_openapi)"
        )
    text = render(app.openapi(), yaml)
    if output is None:
        sys.stdout.write(text)
        return 0
    path = Path(output)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {output!r}: {error.strerror or error}") from None
    info(f"wrote the OpenAPI document to {output}")
    return 0


def render(document: dict[str, Any], yaml: Any = None) -> str:
    """Return `document` as indented JSON, or as YAML when the `yaml` module is given."""
    # Through Ecko's encoder, so values only msgspec knows (dates, UUIDs in examples) come
    # out as the server sends them; then back to plain values for PyYAML.
    encoded = encode_json(document)
    if yaml is None:
        return msgspec.json.format(encoded, indent=2).decode() + "\n"
    plain = msgspec.json.decode(encoded)
    dumped: str = yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)
    return dumped


def _import_yaml() -> Any:
    try:
        return import_optional("yaml", extra="yaml")
    except MissingDependencyError as error:
        raise CommandError(str(error)) from None
