"""httpx transports into an ASGI app: on a loop thread (TestClient) or the running loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx

from ecko.testing._asgi import (
    _BodyReader,
    _build_scope,
    _error_response,
    _Event,
    _HTTPExchange,
    _Lifespan,
    _response_head,
)
from ecko.types import ASGIApp

T = TypeVar("T")


class _Portal:
    """An event loop in a daemon thread, running coroutines submitted from other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._stopped:
                raise RuntimeError("The TestClient is closed.")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="ecko-test")
                loop.set_default_executor(executor)
                thread = threading.Thread(
                    target=self._run, args=(loop, executor), name="ecko-test-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _run(
        loop: asyncio.AbstractEventLoop, executor: concurrent.futures.ThreadPoolExecutor
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            # A sync handler still blocked in a worker must not hang close(); idle workers exit.
            executor.shutdown(wait=False, cancel_futures=True)
            asyncio.set_event_loop(None)
            loop.close()

    @property
    def closed(self) -> bool:
        """Tell whether stop() was called."""
        return self._stopped

    def in_loop_thread(self) -> bool:
        """Tell whether the caller runs on the portal's own thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coroutine` on the loop, starting it on first use."""
        try:
            loop = self._start()
        except BaseException:
            coroutine.close()
            raise
        return asyncio.run_coroutine_threadsafe(coroutine, loop)

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the loop and wait for its result."""
        return self.submit(coroutine).result()

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Call `callback(*args)` on the loop thread."""
        self._start().call_soon_threadsafe(callback, *args)

    def stop(self) -> None:
        """Cancel what still runs, close the loop and join its thread; idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            thread.join()


class _SyncResponseBody(httpx.SyncByteStream):
    """A response body fed, chunk by chunk, from the app task on the portal loop."""

    def __init__(
        self,
        events: queue.SimpleQueue[_Event],
        exchange: _HTTPExchange,
        portal: _Portal,
        raise_server_exceptions: bool,
    ) -> None:
        self._events = events
        self._exchange = exchange
        self._portal = portal
        self._reader = _BodyReader(raise_server_exceptions)
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        while not self._reader.body_ended:
            chunk = self._reader.chunk(self._events.get())
            if chunk:
                yield chunk

    def close(self) -> None:
        """Wait for the app to finish (raising a late error), or cancel it if the body is unread."""
        if self._closed:
            return
        self._closed = True
        if not self._reader.body_ended:
            if not self._portal.closed:  # a closed portal has cancelled the app already
                self._portal.call(self._exchange.abort())
            return
        while self._reader.outcome is None:
            self._reader.settle(self._events.get())


class _AppTarget:
    """What both transports call: the app, the scope details they add, the lifespan state."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        client: tuple[str, int],
        root_path: str,
        raise_server_exceptions: bool,
    ) -> None:
        self.app = app
        self.client = client
        self.root_path = root_path
        self.raise_server_exceptions = raise_server_exceptions
        self.app_state: dict[str, Any] = {}
        self._lifespan: _Lifespan | None = None


class _TestClientTransport(_AppTarget, httpx.BaseTransport):
    """An httpx transport calling an ASGI app on a portal loop; lifespan runs on enter/close."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        client: tuple[str, int],
        root_path: str,
        raise_server_exceptions: bool,
    ) -> None:
        super().__init__(
            app, client=client, root_path=root_path, raise_server_exceptions=raise_server_exceptions
        )
        self.portal = _Portal()
        # A client dropped without close() must not leave its loop thread behind.
        self._finalizer = weakref.finalize(self, self.portal.stop)

    def __enter__(self) -> _TestClientTransport:
        lifespan = _Lifespan(self.app, self.app_state)
        try:
            self.portal.call(lifespan.startup())
        except BaseException:
            self.portal.stop()
            raise
        self._lifespan = lifespan
        return self

    def close(self) -> None:
        """Run the lifespan shutdown (if it started) and stop the loop thread."""
        lifespan, self._lifespan = self._lifespan, None
        try:
            if lifespan is not None:
                self.portal.call(lifespan.shutdown())
        finally:
            self.portal.stop()

    def check_thread(self) -> None:
        """Refuse a blocking call from the app's own loop, which would deadlock."""
        if self.portal.in_loop_thread():
            raise RuntimeError(
                "TestClient was called from inside the app's event loop; use AsyncTestClient."
            )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Run `request` through the app; return once it has started the response."""
        self.check_thread()
        assert isinstance(request.stream, httpx.SyncByteStream)
        body = [bytes(chunk) for chunk in request.stream]
        scope = _build_scope(
            request,
            scope_type="http",
            client=self.client,
            root_path=self.root_path,
            state=self.app_state,
        )
        events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        exchange = _HTTPExchange(self.app, scope, body, events.put)
        self.portal.submit(exchange.run())
        head = _response_head(events.get(), self.raise_server_exceptions)
        if head is None:
            return _error_response()
        stream = _SyncResponseBody(events, exchange, self.portal, self.raise_server_exceptions)
        return httpx.Response(head[0], headers=head[1], stream=stream)


class _AsyncResponseBody(httpx.AsyncByteStream):
    """A response body fed from the app task through an asyncio.Queue."""

    def __init__(
        self, events: asyncio.Queue[_Event], exchange: _HTTPExchange, raise_server_exceptions: bool
    ) -> None:
        self._events = events
        self._exchange = exchange
        self._reader = _BodyReader(raise_server_exceptions)
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._reader.body_ended:
            chunk = self._reader.chunk(await self._events.get())
            if chunk:
                yield chunk

    async def aclose(self) -> None:
        """Wait for the app to finish (raising a late error), or cancel it if the body is unread."""
        if self._closed:
            return
        self._closed = True
        if not self._reader.body_ended:
            await self._exchange.abort()
            return
        while self._reader.outcome is None:
            self._reader.settle(await self._events.get())


class _AsyncTestClientTransport(_AppTarget, httpx.AsyncBaseTransport):
    """An httpx async transport calling an ASGI app on the caller's loop."""

    async def __aenter__(self) -> _AsyncTestClientTransport:
        lifespan = _Lifespan(self.app, self.app_state)
        await lifespan.startup()
        self._lifespan = lifespan
        return self

    async def aclose(self) -> None:
        """Run the lifespan shutdown, if it started."""
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.shutdown()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Run `request` through the app; return once it has started the response."""
        assert isinstance(request.stream, httpx.AsyncByteStream)
        body = [bytes(chunk) async for chunk in request.stream]
        scope = _build_scope(
            request,
            scope_type="http",
            client=self.client,
            root_path=self.root_path,
            state=self.app_state,
        )
        events: asyncio.Queue[_Event] = asyncio.Queue()
        exchange = _HTTPExchange(self.app, scope, body, events.put_nowait)
        task = asyncio.create_task(exchange.run())
        try:
            head = _response_head(await events.get(), self.raise_server_exceptions)
        except BaseException:
            task.cancel()
            raise
        if head is None:
            return _error_response()
        stream = _AsyncResponseBody(events, exchange, self.raise_server_exceptions)
        return httpx.Response(head[0], headers=head[1], stream=stream)
