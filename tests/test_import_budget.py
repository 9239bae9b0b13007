"""`import ecko` loads only the standard library, msgspec and the core (STYLE.md, A light core)."""

from __future__ import annotations

import json
import subprocess
import sys

LAZY_MODULES = (
    "ecko.cli",
    "ecko.testing",
    "ecko.openapi",
    "ecko.config",
    "ecko.auth",
    "ecko.cache",
    "ecko.tasks",
    "ecko.events",
    "ecko.storage",
)
"""Modules users import by name; `import ecko` must not pay for them."""

_REPORT_NEW_MODULES = """\
import sys
before = set(sys.modules)
exec(sys.argv[1])
added = sorted(set(sys.modules) - before)
import json
print(json.dumps(added))
"""


def modules_added_by(statement: str) -> set[str]:
    """Run `statement` in a fresh interpreter and return the modules it added to sys.modules."""
    completed = subprocess.run(
        [sys.executable, "-c", _REPORT_NEW_MODULES, statement],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    added: list[str] = json.loads(completed.stdout)
    return set(added)


def top_level(names: set[str]) -> set[str]:
    """Return the top-level package of each module name."""
    return {name.partition(".")[0] for name in names}


def test_modules_added_by_reports_what_a_statement_imports() -> None:
    added = modules_added_by("import email.message, html.parser")

    assert {"email.message", "html.parser"} <= added
    assert "ecko" not in added


def test_import_ecko_loads_the_core() -> None:
    added = modules_added_by("import ecko")

    assert {"ecko", "ecko.app", "msgspec"} <= added


def test_import_ecko_adds_only_stdlib_and_core_modules() -> None:
    added = modules_added_by("import ecko") - modules_added_by("import msgspec")

    foreign = top_level(added) - set(sys.stdlib_module_names) - {"ecko"}
    assert foreign == set()
    assert sorted(name for name in added if name.startswith(LAZY_MODULES)) == []


def test_import_ecko_imports_no_server_or_client() -> None:
    added = top_level(modules_added_by("import ecko"))

    assert added & {"httpx", "uvicorn", "websockets", "granian", "anyio", "h11"} == set()
