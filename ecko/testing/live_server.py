"""LiveServer: an app under a real server in a subprocess, for tests that need the wire."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal

__all__ = ["LiveServer"]


def _free_port(host: str) -> int:
    """Return a port on `host` that nothing listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _cleanup(process: subprocess.Popen[bytes], log_path: str) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    with contextlib.suppress(OSError):
        os.unlink(log_path)


class LiveServer:
    """Serve an app under a real server in a subprocess on `host` and a free port.

    The server is stopped by pid with SIGTERM, then SIGKILL after `stop()`'s timeout; a
    server dropped without `stop()` is killed when the LiveServer is garbage-collected.

    Args:
        target: the app as an import string ("package.module:app"), served with uvicorn.
        host: the interface to listen on.
        port: the port; by default a free one is picked.
        env: environment variables set for the server, over the current environment.
        server: the server to run; only "uvicorn" is built in, pass `command` for others.
        cwd: the server's working directory, also put first on its PYTHONPATH (default: the
            current directory).
        extra_args: arguments appended to the command line.
        startup_timeout: seconds to wait for the port to accept connections.
        command: a command line replacing the uvicorn one; "{host}", "{port}" and "{target}"
            in it are substituted, as in `["ecko", "run", "app:app", "--port", "{port}"]`.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        server: Literal["uvicorn"] = "uvicorn",
        cwd: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
        command: Sequence[str] | None = None,
    ) -> None:
        if target is None and command is None:
            raise ValueError("LiveServer needs a target ('module:attr') or a command.")
        if server != "uvicorn":
            raise ValueError(f"Unsupported server {server!r}; pass `command` to run another one.")
        self.target = target
        self.host = host
        self.server = server
        self.env = dict(env or {})
        self.cwd = Path(cwd) if cwd is not None else None
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.command = list(command) if command is not None else None
        self._requested_port = port
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: str | None = None

    def argv(self, port: int) -> list[str]:
        """Return the command line that serves the app on `port`."""
        if self.command is None:
            assert self.target is not None
            return [
                sys.executable, "-m", "uvicorn", self.target,
                "--host", self.host, "--port", str(port),
                "--log-level", "info", "--lifespan", "on",
                *self.extra_args,
            ]  # fmt: skip
        values = {"{host}": self.host, "{port}": str(port), "{target}": self.target or ""}
        argv: list[str] = []
        for argument in [*self.command, *self.extra_args]:
            for placeholder, value in values.items():
                argument = argument.replace(placeholder, value)
            argv.append(argument)
        return argv

    def _environment(self, cwd: Path) -> dict[str, str]:
        environment = {**os.environ, **self.env}
        paths = [str(cwd), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
        environment["PYTHONPATH"] = os.pathsep.join(paths)
        environment.setdefault("PYTHONUNBUFFERED", "1")
        return environment

    def start(self) -> LiveServer:
        """Start the server and wait until its port accepts connections.

        Raises:
            RuntimeError: the server exited or did not listen within `startup_timeout`; the
                message ends with its log.
        """
        if self._process is not None:
            raise RuntimeError("This LiveServer was already started.")
        cwd = self.cwd or Path.cwd()
        port = self._requested_port or _free_port(self.host)
        descriptor, log_path = tempfile.mkstemp(prefix="ecko-live-server-", suffix=".log")
        with os.fdopen(descriptor, "wb") as log:
            process = subprocess.Popen(
                self.argv(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=self._environment(cwd),
            )
        self._port, self._process, self._log_path = port, process, log_path
        weakref.finalize(self, _cleanup, process, log_path)
        self._wait_until_listening()
        return self

    def _wait_until_listening(self) -> None:
        process, port = self.process, self.port
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"The server exited with code {process.returncode} before listening on "
                    f"{self.host}:{port}. Its log:\n{self._log_tail()}"
                )
            try:
                with socket.create_connection((self.host, port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"The server did not listen on {self.host}:{port} within "
                    f"{self.startup_timeout} seconds. Its log:\n{self._log_tail()}"
                )
            time.sleep(0.05)  # poll interval while the server starts

    def stop(self, timeout: float = 10.0) -> int:
        """Send SIGTERM to the server, SIGKILL after `timeout` seconds; return its exit code."""
        process = self.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return int(process.returncode)

    def logs(self) -> str:
        """Return what the server has written to stdout and stderr so far."""
        if self._log_path is None:
            return ""
        return Path(self._log_path).read_text(errors="replace")

    def _log_tail(self, lines: int = 50) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The server's process."""
        if self._process is None:
            raise RuntimeError("The LiveServer is not started; call start() or use `with`.")
        return self._process

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._port is None:
            raise RuntimeError("The LiveServer is not started; call start() or use `with`.")
        return self._port

    @property
    def url(self) -> str:
        """The server's base URL, like "http://127.0.0.1:54321"."""
        return f"http://{self._netloc()}"

    @property
    def ws_url(self) -> str:
        """The server's base WebSocket URL, like "ws://127.0.0.1:54321"."""
        return f"ws://{self._netloc()}"

    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
