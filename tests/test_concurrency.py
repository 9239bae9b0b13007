"""The threadpool: run_sync, iterate_in_threadpool and configure_threadpool."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator

import pytest

from ecko.concurrency import (
    DEFAULT_THREADPOOL_SIZE,
    configure_threadpool,
    iterate_in_threadpool,
    run_sync,
    run_sync_in,
    separate_threadpool,
)

current_user: contextvars.ContextVar[str] = contextvars.ContextVar("current_user", default="none")


@pytest.fixture(autouse=True)
def default_threadpool() -> Iterator[None]:
    """Leave the process-wide pool at its default size for the next test."""
    yield
    configure_threadpool(DEFAULT_THREADPOOL_SIZE)


def test_default_threadpool_size_is_40() -> None:
    assert DEFAULT_THREADPOOL_SIZE == 40


def test_run_sync_runs_in_a_worker_thread_and_returns_the_result() -> None:
    def work(a: int, *, b: int) -> tuple[int, str]:
        return a + b, threading.current_thread().name

    total, thread = asyncio.run(run_sync(work, 2, b=3))
    assert total == 5
    assert thread.startswith("ecko-sync")
    assert thread != threading.current_thread().name


def test_run_sync_copies_the_callers_contextvars() -> None:
    def read_and_write() -> str:
        seen = current_user.get()
        current_user.set("changed in thread")
        return seen

    async def main() -> tuple[str, str]:
        current_user.set("ada")
        seen = await run_sync(read_and_write)
        return seen, current_user.get()

    seen, after = asyncio.run(main())
    assert seen == "ada"
    # The worker ran in a copy: its own change stays there.
    assert after == "ada"


def test_run_sync_keeps_each_tasks_context_apart() -> None:
    barrier = threading.Barrier(10, timeout=10)

    def read() -> str:
        barrier.wait()  # all ten are in the pool at once
        return current_user.get()

    async def one(name: str) -> str:
        current_user.set(name)
        return await run_sync(read)

    async def main() -> list[str]:
        return await asyncio.gather(*(one(f"user-{i}") for i in range(10)))

    assert asyncio.run(main()) == [f"user-{i}" for i in range(10)]


def test_run_sync_raises_the_functions_exception() -> None:
    def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        asyncio.run(run_sync(fail))


def test_run_sync_does_not_block_the_event_loop() -> None:
    release = threading.Event()

    def blocking() -> str:
        assert release.wait(10)
        return "done"

    async def main() -> str:
        task = asyncio.create_task(run_sync(blocking))
        await asyncio.sleep(0)
        # The loop still runs other work while the thread blocks; that work releases it.
        release.set()
        return await task

    assert asyncio.run(main()) == "done"


def test_configure_threadpool_bounds_concurrency() -> None:
    configure_threadpool(2)
    lock = threading.Lock()
    running = 0
    peak = 0
    names: set[str] = set()
    two_in = threading.Event()

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            names.add(threading.current_thread().name)
            if running == 2:
                two_in.set()
        assert two_in.wait(10)
        with lock:
            running -= 1

    async def main() -> None:
        await asyncio.gather(*(run_sync(work) for _ in range(6)))

    asyncio.run(main())
    assert peak == 2
    assert len(names) == 2


def test_configure_threadpool_refuses_sizes_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        configure_threadpool(0)


def test_iterate_in_threadpool_fetches_each_item_in_a_worker() -> None:
    threads: list[str] = []

    def numbers() -> Iterator[int]:
        for number in range(4):
            threads.append(threading.current_thread().name)
            yield number

    async def main() -> list[int]:
        return [item async for item in iterate_in_threadpool(numbers())]

    assert asyncio.run(main()) == [0, 1, 2, 3]
    assert len(threads) == 4
    assert all(name.startswith("ecko-sync") for name in threads)


def test_iterate_in_threadpool_propagates_errors() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    async def main() -> list[int]:
        return [item async for item in iterate_in_threadpool(broken())]

    with pytest.raises(OSError, match="disk gone"):
        asyncio.run(main())


def test_iterate_in_threadpool_sees_the_callers_contextvars() -> None:
    def values() -> Iterator[str]:
        yield current_user.get()

    async def main() -> list[str]:
        current_user.set("grace")
        return [item async for item in iterate_in_threadpool(values())]

    assert asyncio.run(main()) == ["grace"]


def test_separate_threadpool_lets_a_waiting_caller_not_starve_the_main_pool() -> None:
    configure_threadpool(1)
    waiter_pool = separate_threadpool("waiter")

    def wait_for_main_pool(loop: asyncio.AbstractEventLoop) -> str:
        # Blocks its own thread until work in the (single-thread) main pool is done.
        future = asyncio.run_coroutine_threadsafe(run_sync(current_user.get), loop)
        return f"{threading.current_thread().name} saw {future.result(10)}"

    async def main() -> str:
        current_user.set("linus")
        return await run_sync_in(waiter_pool, wait_for_main_pool, asyncio.get_running_loop())

    try:
        assert asyncio.run(main()) == "ecko-sync-waiter_0 saw linus"
        assert waiter_pool._max_workers == 1
    finally:
        waiter_pool.shutdown()
