"""The ASGI lifespan loop: startup hooks in order, shutdown hooks in reverse, failures reported."""

from __future__ import annotations

import contextlib
import inspect
import logging
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from ecko.concurrency import run_sync
from ecko.types import Receive, Scope, Send

logger = logging.getLogger("ecko.lifespan")


async def call_hook(hook: Callable[..., Any], *args: Any) -> Any:
    """Call a sync or async hook; sync ones run in the threadpool."""
    if inspect.iscoroutinefunction(hook):
        return await hook(*args)
    result = await run_sync(hook, *args)
    if inspect.isawaitable(result):
        result = await result
    return result


class Lifespan:
    """Runs an app's startup and shutdown: a lifespan context manager, then hooks."""

    def __init__(
        self,
        startup: Sequence[Callable[..., Any]],
        shutdown: Sequence[Callable[..., Any]],
        context: Callable[[], contextlib.AbstractAsyncContextManager[Any]] | None = None,
    ) -> None:
        self.startup_hooks = tuple(startup)
        self.shutdown_hooks = tuple(shutdown)
        self.context = context
        self._stack: contextlib.AsyncExitStack | None = None

    async def startup(self) -> None:
        """Enter the lifespan context, then run startup hooks in registration order.

        Raises:
            Exception: the first failure; whatever had started is shut down first.
        """
        stack = contextlib.AsyncExitStack()
        try:
            if self.context is not None:
                await stack.enter_async_context(self.context())
            for hook in self.startup_hooks:
                await call_hook(hook)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def shutdown(self) -> list[BaseException]:
        """Run every shutdown hook in reverse order, then leave the lifespan context.

        Returns:
            The failures, in order; one failing hook does not stop the others.
        """
        failures: list[BaseException] = []
        for hook in reversed(self.shutdown_hooks):
            try:
                await call_hook(hook)
            except Exception as error:  # logged, not raised: every hook must get its turn
                logger.exception("Shutdown hook %s failed", getattr(hook, "__qualname__", hook))
                failures.append(error)
        if self._stack is not None:
            try:
                await self._stack.aclose()
            except Exception as error:  # logged here, reported to the server below
                logger.exception("The lifespan context failed while shutting down")
                failures.append(error)
            self._stack = None
        return failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Speak the ASGI lifespan protocol with the server."""
        started = False
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except BaseException as error:
                    text = "".join(traceback.format_exception(error))
                    logger.error("Application startup failed:\n%s", text)
                    await send({"type": "lifespan.startup.failed", "message": text})
                    if not isinstance(error, Exception):
                        raise
                    return
                started = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                failures = await self.shutdown() if started else []
                if failures:
                    text = "; ".join(f"{type(f).__name__}: {f}" for f in failures)
                    await send({"type": "lifespan.shutdown.failed", "message": text})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return
