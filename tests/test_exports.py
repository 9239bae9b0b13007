"""`ecko.__all__` is the package's exact, sorted public surface (STYLE.md, Everyday habits)."""

import __future__

import importlib.metadata
from types import ModuleType

import ecko


def public_attributes(module: ModuleType) -> set[str]:
    """Return the public names bound in `module` other than submodules and `__future__` flags."""
    future_flags = vars(__future__)
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and future_flags.get(name) is not value
    }


def test_all_is_sorted_without_duplicates() -> None:
    assert ecko.__all__ == sorted(set(ecko.__all__))


def test_every_name_in_all_exists() -> None:
    missing = [name for name in ecko.__all__ if not hasattr(ecko, name)]

    assert missing == []


def test_every_public_attribute_is_in_all() -> None:
    assert public_attributes(ecko) - set(ecko.__all__) == set()


def test_star_import_binds_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from ecko import *", namespace)

    assert set(namespace) - {"__builtins__"} == set(ecko.__all__)


def test_version_is_the_one_in_about_and_in_the_installed_metadata() -> None:
    from ecko.__about__ import __version__

    # hatch reads ecko/__about__.py at install time: a mismatch means a stale install.
    assert ecko.__version__ == __version__ == importlib.metadata.version("ecko")
