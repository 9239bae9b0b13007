"""Ecko's version, read by the build backend and re-exported as `ecko.__version__`."""

__version__ = "0.1.0"
