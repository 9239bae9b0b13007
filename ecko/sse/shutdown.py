"""The shutdown signal: open streams and WebSockets end within a bounded drain time."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, final

from ecko.types import Scope

T = TypeVar("T")

DEFAULT_SHUTDOWN_DRAIN_TIMEOUT = 5.0
"""Seconds open streams and WebSockets may go on once the server starts shutting down."""


@final
class ShutdownSignal:
    """Tells open streams and WebSockets that the server is shutting down.

    Set by the app when a SIGTERM/SIGINT reaches the process (its handler is chained in
    front of the server's during lifespan startup) or when the lifespan shutdown starts.
    Streams then go on for at most `drain_timeout` seconds before they are ended. Safe to set
    from a signal handler or another thread; waiters may live on several event loops.

    Args:
        drain_timeout: seconds streams may go on once the signal is set.
    """

    def __init__(self, drain_timeout: float = DEFAULT_SHUTDOWN_DRAIN_TIMEOUT) -> None:
        if drain_timeout < 0:
            raise ValueError(f"shutdown_drain_timeout must be 0 or more, not {drain_timeout}")
        self.drain_timeout = drain_timeout
        self._set = False
        self._waiters: set[asyncio.Future[None]] = set()
        self._handlers: dict[int, tuple[Callable[..., Any], Callable[..., Any]]] = {}

    def is_set(self) -> bool:
        """Whether the shutdown has started."""
        return self._set

    def set(self) -> None:
        """Start the shutdown: wake every waiter, on whichever loop it waits."""
        self._set = True
        # list() of a set is one C call: no signal handler or thread can interleave.
        for waiter in list(self._waiters):
            loop = waiter.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, waiter)

    async def watch_signals(self) -> None:
        """Forget any previous shutdown; chain a SIGTERM/SIGINT handler that sets the signal.

        Servers wait for open connections before the lifespan shutdown (uvicorn without
        `--timeout-graceful-shutdown`, granian), so the lifespan alone would never end a
        stream. The previous handler still runs after ours. Only the main thread may install
        handlers; elsewhere (TestClient's loop thread) this only resets the signal.
        """
        self._set = False
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in _SHUTDOWN_SIGNALS:
            previous = signal.getsignal(signum)
            if not callable(previous):  # default action or ignored: nothing waits on streams
                continue
            handler = functools.partial(_on_signal, self, previous)
            signal.signal(signum, handler)
            self._handlers[signum] = (handler, previous)

    async def start_drain(self) -> None:
        """Set the signal (the lifespan shutdown has started) and restore the signal handlers."""
        self.set()
        handlers, self._handlers = self._handlers, {}
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, (handler, previous) in handlers.items():
            if signal.getsignal(signum) is handler:  # nobody chained in front of ours since
                signal.signal(signum, previous)

    async def wait(self) -> None:
        """Return once the shutdown has started."""
        if self._set:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            if self._set:  # set between the check above and the add
                return
            await waiter
        finally:
            self._waiters.discard(waiter)

    async def drained(self) -> None:
        """Return once the shutdown has started and `drain_timeout` has passed."""
        await self.wait()
        if self.drain_timeout > 0:
            await asyncio.sleep(self.drain_timeout)

    async def run(self, work: Awaitable[T], on_drain: Callable[[], Awaitable[Any]]) -> T | None:
        """Await `work`; if the drain time runs out first, await `on_drain()` and cancel it.

        Returns:
            The result of `work`, or None when it was cancelled by the drain.
        """
        task = asyncio.ensure_future(work)
        drained = asyncio.ensure_future(self.drained())
        try:
            await asyncio.wait((task, drained), return_when=asyncio.FIRST_COMPLETED)
        finally:
            drained.cancel()
            if not task.done() and not drained.done():  # we were cancelled ourselves
                task.cancel()
        if task.done():
            return task.result()
        with contextlib.suppress(Exception):  # e.g. the peer closed at the same moment
            await on_drain()
        task.cancel()
        await asyncio.wait((task,))
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error
        return None


_SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _on_signal(
    shutdown: ShutdownSignal, previous: Callable[..., Any], signum: int, frame: Any
) -> None:
    shutdown.set()
    previous(signum, frame)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def shutdown_signal_for(scope: Scope) -> ShutdownSignal | None:
    """Return the shutdown signal of the app serving `scope`, if it has one."""
    found = getattr(scope.get("app"), "shutdown_signal", None)
    return found if isinstance(found, ShutdownSignal) else None
