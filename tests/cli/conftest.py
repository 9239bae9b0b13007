"""Fixtures for the CLI tests: a scratch project folder, and `ecko` run as a real subprocess."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

import ecko

ECKO_ROOT = str(Path(ecko.__file__).resolve().parent.parent)
"""The folder holding the `ecko` package, put on PYTHONPATH for subprocesses."""

WriteModule = Callable[[str, str], Path]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Work in `tmp_path` as the current directory; undo sys.path, imports and ECKO_DEBUG after."""
    monkeypatch.chdir(tmp_path)
    # setenv first so that undo restores the variable even when the CLI sets it.
    monkeypatch.setenv("ECKO_DEBUG", "")
    monkeypatch.delenv("ECKO_DEBUG")
    saved_path = list(sys.path)
    importlib.invalidate_caches()
    yield tmp_path
    sys.path[:] = saved_path
    for name, module in list(sys.modules.items()):
        locations = [getattr(module, "__file__", None) or "", *getattr(module, "__path__", [])]
        if any(str(location).startswith(str(tmp_path)) for location in locations):
            del sys.modules[name]


@pytest.fixture
def write_module(project: Path) -> WriteModule:
    """Return `write(relative_path, source)`: write dedented source under the project folder."""

    def write(relative_path: str, source: str) -> Path:
        path = project / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    return write


RAW_ASGI_APP = """\
import os


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    values = {
        "{debug}": os.environ.get("ECKO_DEBUG", "<unset>"),
        "{client}": scope["client"][0],
        "{root_path}": scope["root_path"],
        "{pid}": str(os.getpid()),
    }
    body = BODY
    for placeholder, value in values.items():
        body = body.replace(placeholder, value)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body.encode()})


BODY = "debug={debug}"
"""
"""A raw ASGI app (no Ecko) answering `BODY`, its placeholders filled from the request."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class EckoProcess:
    """`python -m ecko ARGS` in a subprocess, its output in a log file, stopped by pid."""

    def __init__(
        self,
        arguments: Sequence[str],
        cwd: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
        python: Path | str = sys.executable,
    ) -> None:
        environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
        pythonpath = environment.get("PYTHONPATH")
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [ECKO_ROOT, pythonpath]))
        environment["PYTHONUNBUFFERED"] = "1"
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(python), "-m", "ecko", *arguments],
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches reload children
            )

    @property
    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def get(
        self,
        url: str,
        *,
        until: Callable[[str], bool] = bool,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> str:
        """Poll `url` until it answers 200 with a body `until` accepts; return the body."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        request = urllib.request.Request(url, headers=headers or {})
        while True:
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    last = str(response.read().decode())
                    if until(last):
                        return last
            except urllib.error.HTTPError as error:
                pytest.fail(f"GET {url} answered {error.code}\n{self.log}")
            except (urllib.error.URLError, ConnectionError) as error:
                last = repr(error)
            if self.process.poll() is not None:
                pytest.fail(f"ecko exited with {self.process.returncode}\n{self.log}")
            if time.monotonic() > deadline:
                pytest.fail(f"GET {url} did not answer as expected ({last})\n{self.log}")
            # The pause between polls; it ends early if the process exits.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.05)

    def wait(self, timeout: float = 30) -> int:
        """Wait for the process to exit on its own and return its exit code."""
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 30) -> int:
        """Send SIGTERM to the process and return its exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ecko did not stop within {timeout} s of SIGTERM\n{self.log}")

    def kill(self) -> None:
        """Kill the process group this process leads, if any of it is still running."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


StartEcko = Callable[..., EckoProcess]


@pytest.fixture
def start_ecko(tmp_path: Path) -> Iterator[StartEcko]:
    """Return `start(*args, cwd=tmp_path, env=None, python=...)`: `python -m ecko`, killed after."""
    processes: list[EckoProcess] = []

    def start(
        *arguments: str,
        cwd: Path = tmp_path,
        env: dict[str, str] | None = None,
        python: Path | str = sys.executable,
    ) -> EckoProcess:
        log_path = tmp_path / f"ecko-{len(processes)}.log"
        process = EckoProcess(arguments, cwd=cwd, log_path=log_path, env=env, python=python)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()
