"""Function middleware (`app.use`) and standard ASGI middleware (`app.use_asgi`)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ecko import Ecko, NotFound, Request, Response, StreamingResponse, context
from ecko.middleware import MiddlewareResultError
from ecko.testing import TestClient
from ecko.types import ASGIApp, Message, Receive, Scope, Send
from tests.conftest import ClientFactory


def _recording(name: str, log: list[str]) -> Any:
    async def middleware(request: Request, call_next: Any) -> Response:
        log.append(f"{name} in")
        response: Response = await call_next()
        log.append(f"{name} out")
        response.headers.add("x-trail", name)
        return response

    return middleware


def test_first_added_middleware_is_outermost(client_for: ClientFactory) -> None:
    app = Ecko()
    log: list[str] = []
    app.use(_recording("outer", log))
    app.use(_recording("inner", log))

    @app.get("/")
    def handler() -> str:
        log.append("handler")
        return "ok"

    response = client_for(app).get("/")
    assert log == ["outer in", "inner in", "handler", "inner out", "outer out"]
    assert response.headers.get_list("x-trail") == ["inner", "outer"]


def test_timing_middleware_from_the_spec(client_for: ClientFactory) -> None:
    async def timing_middleware(request: Request, call_next: Any) -> Response:
        start = time.time()
        response: Response = await call_next()
        response._headers["X-Response-Time"] = f"{time.time() - start:.3f}s"
        return response

    app = Ecko()
    app.use(timing_middleware)

    @app.get("/")
    def handler() -> dict[str, bool]:
        return {"ok": True}

    response = client_for(app).get("/")
    assert response.headers["x-response-time"].endswith("s")
    assert float(response.headers["x-response-time"][:-1]) >= 0


def test_sync_middleware_runs_in_the_threadpool_around_the_handler(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    log: list[str] = []

    def sync_middleware(request: Request, call_next: Any) -> Response:
        log.append(f"sync in {threading.current_thread().name.startswith('ecko-sync')}")
        response: Response = call_next()
        response.headers["X-Sync"] = context.request.path
        log.append("sync out")
        return response

    app.use(_recording("async", log))
    app.use(sync_middleware)

    @app.get("/here")
    async def handler() -> str:
        log.append("handler")
        return "ok"

    response = client_for(app).get("/here")
    assert response.headers["x-sync"] == "/here"
    assert log == ["async in", "sync in True", "handler", "sync out", "async out"]


class HeaderMiddleware:
    """A middleware object with an async `__call__`, configured at construction."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    async def __call__(self, request: Request, call_next: Any) -> Response:
        response: Response = await call_next()
        response.headers[self.name] = self.value
        return response


class ThreadMiddleware:
    """A middleware object with a sync `__call__`: it runs in the threadpool."""

    def __call__(self, request: Request, call_next: Any) -> Response:
        response: Response = call_next()
        response.headers["X-Thread"] = threading.current_thread().name
        return response


def test_middleware_may_be_an_object_with_a_call_method(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use(HeaderMiddleware("X-Version", "2"))
    app.use(ThreadMiddleware())

    @app.get("/")
    async def handler() -> str:
        return "ok"

    response = client_for(app).get("/")
    assert response.headers["x-version"] == "2"
    assert response.headers["x-thread"].startswith("ecko-sync")


def _get_all(client: TestClient, count: int) -> list[int]:
    """Send `count` concurrent GET / requests; return the statuses of those answered in time."""
    statuses: list[int] = []

    def call() -> None:
        statuses.append(client.get("/").status_code)

    threads = [threading.Thread(target=call, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return statuses


def test_sync_middleware_around_a_sync_handler_cannot_starve_the_pool(
    client_for: ClientFactory,
) -> None:
    app = Ecko(threadpool_size=1)

    def passthrough(request: Request, call_next: Any) -> Response:
        response: Response = call_next()
        return response

    app.use(passthrough)

    @app.get("/")
    def handler() -> str:
        return "ok"

    # The middleware waits in a thread for the handler, which needs a thread of its own.
    assert _get_all(client_for(app), 1) == [200]


def test_nested_sync_middleware_survive_a_burst_larger_than_the_pool(
    client_for: ClientFactory,
) -> None:
    app = Ecko(threadpool_size=2)
    inside = threading.Barrier(2, timeout=10)

    def outer(request: Request, call_next: Any) -> Response:
        response: Response = call_next()
        return response

    def inner(request: Request, call_next: Any) -> Response:
        response: Response = call_next()
        return response

    app.use(outer)
    app.use(inner)

    @app.get("/")
    def handler() -> str:
        inside.wait()  # two handler calls overlap: every pool is full at that moment
        return "ok"

    assert _get_all(client_for(app), 8) == [200] * 8


def test_middleware_may_answer_without_calling_next(client_for: ClientFactory) -> None:
    app = Ecko()
    handled: list[str] = []

    async def maintenance(request: Request, call_next: Any) -> Response:
        if request.headers.get("x-bypass") != "yes":
            return Response("Down for maintenance", 503, media_type="text/plain")
        response: Response = await call_next()
        return response

    app.use(maintenance)

    @app.get("/")
    def handler() -> str:
        handled.append("yes")
        return "up"

    client = client_for(app)
    assert client.get("/").status_code == 503
    assert handled == []
    assert client.get("/", headers={"X-Bypass": "yes"}).text == "up"


def test_middleware_sees_404s_and_error_responses(client_for: ClientFactory) -> None:
    app = Ecko()
    statuses: list[tuple[str, int]] = []

    async def observer(request: Request, call_next: Any) -> Response:
        response: Response = await call_next()
        statuses.append((request.path, response.status_code))
        return response

    app.use(observer)

    @app.get("/missing-user")
    def missing_user() -> None:
        raise NotFound("User not found")

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("boom")

    @app.get("/number/{value}")
    def number(value: int) -> int:
        return value

    client = client_for(app)
    client.get("/nowhere")
    client.get("/missing-user")
    client.get("/crash")
    client.get("/number/abc")
    client.post("/crash")
    assert statuses == [
        ("/nowhere", 404),
        ("/missing-user", 404),
        ("/crash", 500),
        ("/number/abc", 422),
        ("/crash", 405),
    ]


def test_middleware_returning_a_non_response_is_a_500_logged_with_its_name(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    async def forgetful_middleware(request: Request, call_next: Any) -> Any:
        await call_next()
        return {"not": "a response"}

    app.use(forgetful_middleware)

    @app.get("/")
    def handler() -> str:
        return "ok"

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert response.json()["title"] == "Internal Server Error"
    assert "forgetful_middleware" not in response.text
    [record] = [r for r in caplog.records if r.name.startswith("ecko")]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], MiddlewareResultError)
    assert "forgetful_middleware returned dict, not a Response" in caplog.text
    assert f"middleware {__name__}." in record.getMessage()


def test_sync_middleware_returning_none_is_a_logged_500(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    def sync_forgetful(request: Request, call_next: Any) -> None:
        call_next()

    app.use(sync_forgetful)

    @app.get("/")
    def handler() -> str:
        return "ok"

    assert client_for(app).get("/").status_code == 500
    assert "sync_forgetful returned NoneType, not a Response" in caplog.text


def test_middleware_raising_an_http_error_answers_it(client_for: ClientFactory) -> None:
    from ecko import Unauthorized

    app = Ecko()

    async def require_token(request: Request, call_next: Any) -> Response:
        if "authorization" not in request.headers:
            raise Unauthorized("Token required", headers={"WWW-Authenticate": "Bearer"})
        response: Response = await call_next()
        return response

    app.use(require_token)

    @app.get("/")
    def handler() -> str:
        return "secret"

    client = client_for(app)
    refused = client.get("/")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["detail"] == "Token required"
    assert client.get("/", headers={"Authorization": "x"}).text == "secret"


def test_middleware_crash_is_a_logged_500_that_outer_middleware_sees(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()
    log: list[str] = []
    app.use(_recording("outer", log))

    async def crashing(request: Request, call_next: Any) -> Response:
        raise ZeroDivisionError("oops")

    app.use(crashing)

    @app.get("/")
    def handler() -> str:
        return "ok"

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert response.headers["x-trail"] == "outer"
    assert "oops" not in response.text
    assert "middleware" in caplog.text
    assert "crashing" in caplog.text


def test_middleware_exception_reaches_an_exception_handler(client_for: ClientFactory) -> None:
    app = Ecko()

    class QuotaExceeded(Exception):
        pass

    @app.exception_handler(QuotaExceeded)
    def on_quota(exc: QuotaExceeded) -> tuple[dict[str, str], int]:
        return {"error": "quota"}, 429

    async def quota(request: Request, call_next: Any) -> Response:
        raise QuotaExceeded()

    app.use(quota)

    @app.get("/")
    def handler() -> str:
        return "ok"

    response = client_for(app).get("/")
    assert (response.status_code, response.json()) == (429, {"error": "quota"})


def test_use_refuses_a_non_callable() -> None:
    app = Ecko()
    with pytest.raises(TypeError, match="middleware function"):
        app.use("cors")  # type: ignore[arg-type]


# --- streaming through middleware ---------------------------------------------------------------


def test_streaming_response_passes_through_middleware_unbuffered(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    release = threading.Event()
    log: list[str] = []
    app.use(_recording("mw", log))

    @app.get("/")
    def handler() -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield b"first "
            assert release.wait(10), "the test never released the rest of the stream"
            yield b"second"

        return StreamingResponse(chunks(), media_type="text/plain")

    with client_for(app).stream("GET", "/") as response:
        assert response.headers["x-trail"] == "mw"
        parts = response.iter_bytes()
        # The middleware has returned, yet the generator is still waiting for the test.
        assert next(parts) == b"first "
        assert log == ["mw in", "mw out"]
        release.set()
        assert b"".join(parts) == b"second"


# --- standard ASGI middleware -------------------------------------------------------------------


class AddHeader:
    """A pure ASGI middleware adding one header to every HTTP response."""

    def __init__(self, app: ASGIApp, name: str, value: str) -> None:
        self.app = app
        self.name = name.encode()
        self.value = value.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (self.name, self.value)]
            await send(message)

        await self.app(scope, receive, send_with_header)


class ScopeCounter:
    """A pure ASGI middleware counting the scopes it sees, by type."""

    def __init__(self, app: ASGIApp, counts: dict[str, int]) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.counts[scope["type"]] = self.counts.get(scope["type"], 0) + 1
        await self.app(scope, receive, send)


def test_use_asgi_wraps_a_standard_asgi_middleware(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use_asgi(AddHeader, name="X-Powered-By", value="ecko")

    @app.get("/")
    def handler() -> str:
        return "ok"

    client = client_for(app)
    assert client.get("/").headers["x-powered-by"] == "ecko"
    assert client.get("/missing").headers["x-powered-by"] == "ecko"


def test_use_asgi_middleware_sees_lifespan_and_http_scopes(client_for: ClientFactory) -> None:
    app = Ecko()
    counts: dict[str, int] = {}
    app.use_asgi(ScopeCounter, counts=counts)
    started: list[bool] = []

    @app.on_startup
    def startup() -> None:
        started.append(True)

    @app.get("/")
    def handler() -> str:
        return "ok"

    client = client_for(app)
    client.get("/")
    client.get("/")
    assert counts == {"lifespan": 1, "http": 2}
    assert started == [True]


def test_asgi_middleware_wraps_function_middleware(client_for: ClientFactory) -> None:
    app = Ecko()
    log: list[str] = []
    app.use(_recording("function", log))
    app.use_asgi(AddHeader, name="x-trail", value="asgi")

    @app.get("/")
    def handler() -> str:
        return "ok"

    response = client_for(app).get("/")
    # The ASGI middleware adds its header last, as it sees the finished response start.
    assert response.headers.get_list("x-trail") == ["function", "asgi"]


def test_first_asgi_middleware_added_is_outermost(client_for: ClientFactory) -> None:
    app = Ecko()
    app.use_asgi(AddHeader, name="x-layer", value="outer")
    app.use_asgi(AddHeader, name="x-layer", value="inner")

    @app.get("/")
    def handler() -> str:
        return "ok"

    assert client_for(app).get("/").headers.get_list("x-layer") == ["inner", "outer"]


def test_dotted_paths_reach_every_public_name_of_the_built_in_middleware() -> None:
    # logging's dictConfig (and pickle) resolve "ecko.middleware.cors.CORSMiddleware" by
    # walking attributes, and the package attribute `cors` is the factory, not the module.
    code = (
        "import importlib, logging.config\n"
        "import ecko.middleware as package\n"
        "resolve = logging.config.BaseConfigurator({}).resolve\n"
        "for module in package._BUILT_IN:\n"
        "    for name in importlib.import_module(f'ecko.middleware.{module}').__all__:\n"
        "        resolve(f'ecko.middleware.{module}.{name}')\n"
        "print(len(package._BUILT_IN))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 11
