"""`python -m ecko` runs the `ecko` command."""

from ecko.cli import main

# Guarded: uvicorn's reload and worker processes re-import the main module as __mp_main__.
if __name__ == "__main__":
    raise SystemExit(main())
