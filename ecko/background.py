"""Background tasks: work a handler adds, run after its response has been sent."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, final

from ecko.concurrency import run_sync
from ecko.requests import after_response
from ecko.types import Scope

P = ParamSpec("P")

logger = logging.getLogger("ecko")


@final
class BackgroundTasks:
    """Work to run after the response is sent: declare a parameter of this type to get it.

    Tasks run in the order added, inside the request's context (`ecko.context` values are
    visible); sync functions run in the threadpool, async ones are awaited. A failing task
    is logged on the "ecko" logger with its traceback, and the next one still runs.
    """

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def add(self, func: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Run `func(*args, **kwargs)` after the response has been sent."""
        self._tasks.append((func, args, kwargs))

    def __len__(self) -> int:
        return len(self._tasks)

    def discard(self) -> None:
        """Drop the tasks added so far: the handler failed, so their work must not follow."""
        self._tasks.clear()

    async def run(self) -> None:
        """Run the tasks added so far, in order, logging each failure."""
        while self._tasks:
            # Popped one at a time, so a task may add another and it still runs.
            func, args, kwargs = self._tasks.pop(0)
            try:
                if _is_async(func):
                    await func(*args, **kwargs)
                else:
                    result = await run_sync(func, *args, **kwargs)
                    if inspect.isawaitable(result):  # a sync callable returning a coroutine
                        await result
            except Exception:
                logger.exception("Background task %s failed", _name(func))

    def __repr__(self) -> str:
        return f"BackgroundTasks({[_name(func) for func, _, _ in self._tasks]})"


def background_tasks_for(scope: Scope) -> BackgroundTasks:
    """Return the request's BackgroundTasks, scheduling them to run after the response."""
    tasks: BackgroundTasks | None = scope.get("ecko.background")
    if tasks is None:
        tasks = scope["ecko.background"] = BackgroundTasks()
        # First: tasks may still read the uploads, which are closed after them.
        after_response(scope).insert(0, tasks.run)
    return tasks


def _is_async(func: Callable[..., Any]) -> bool:
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - an async __call__ counts too
    )


def _name(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


__all__ = ["BackgroundTasks", "background_tasks_for"]
