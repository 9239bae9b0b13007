"""Run blocking callables in a bounded threadpool with the caller's contextvars."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    # At run time imported when the first pool starts: concurrent.futures.thread and queue
    # cost ~0.4 ms of `import ecko` (benchmarks/).
    from concurrent.futures import ThreadPoolExecutor

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_THREADPOOL_SIZE = 40
"""Threads for sync handlers: fixed, not derived from the core count (I/O-bound work)."""

_executor: ThreadPoolExecutor | None = None
_executor_size = DEFAULT_THREADPOOL_SIZE


def configure_threadpool(size: int) -> None:
    """Set the number of threads that run sync handlers, hooks and middleware.

    Raises:
        ValueError: `size` is below 1.
    """
    global _executor, _executor_size
    if size < 1:
        raise ValueError(f"threadpool size must be at least 1, got {size}")
    if size != _executor_size and _executor is not None:
        _executor.shutdown(wait=False)
        _executor = None
    _executor_size = size


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        from concurrent.futures import ThreadPoolExecutor

        _executor = ThreadPoolExecutor(max_workers=_executor_size, thread_name_prefix="ecko-sync")
    return _executor


async def run_sync(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call `func` in the threadpool with a copy of the current contextvars; await its result."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await loop.run_in_executor(_get_executor(), call)


def separate_threadpool(name: str) -> ThreadPoolExecutor:
    """Return a new pool, as large as the main one, for code that waits on the main one.

    A sync middleware blocks its thread until the handler's response is ready; if it held a
    thread of the pool that the handler (or an inner sync middleware) needs, a burst of
    requests would take every thread and wait forever. Threads start only when used.
    """
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=_executor_size, thread_name_prefix=f"ecko-sync-{name}")


async def run_sync_in(
    executor: ThreadPoolExecutor, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """Call `func` in `executor` with a copy of the current contextvars; await its result."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await loop.run_in_executor(executor, call)


_DONE = object()


def _next_or_done(iterator: Iterator[Any]) -> Any:
    try:
        return next(iterator)
    except StopIteration:
        return _DONE


async def iterate_in_threadpool(iterable: Iterable[T]) -> AsyncIterator[T]:
    """Iterate a blocking iterable, fetching each item in the threadpool."""
    iterator = iter(iterable)
    while True:
        item = await run_sync(_next_or_done, iterator)
        if item is _DONE:
            return
        yield item
