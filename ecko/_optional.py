"""Import optional dependencies lazily, failing with the extra that provides them."""

from __future__ import annotations

import importlib
from types import ModuleType

from ecko.exceptions import MissingDependencyError


def import_optional(module: str, *, extra: str) -> ModuleType:
    """Import `module`, or raise an error telling the user which extra to install.

    Raises:
        MissingDependencyError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"{module!r} is not installed; install it with: pip install 'ecko[{extra}]'"
        ) from error
