"""The application pipeline: handlers, threadpool, hooks, routers, mounts and start-up freeze."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import threading
from typing import Any

import pytest

from ecko import (
    AppStartedError,
    Ecko,
    HTMLResponse,
    Request,
    Response,
    RouteDefinitionError,
    Router,
    context,
)
from ecko.testing import TestClient
from ecko.types import Receive, Scope, Send
from tests.conftest import ClientFactory

request_tag: contextvars.ContextVar[str] = contextvars.ContextVar("request_tag", default="unset")


def _wait_for(event: threading.Event, what: str) -> None:
    assert event.wait(10), f"timed out waiting for {what}"


# --- handlers: async on the loop, sync in the threadpool --------------------------------------


def test_async_handler_runs_on_the_event_loop(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    async def handler() -> dict[str, str]:
        asyncio.get_running_loop()  # raises outside an event loop thread
        return {"thread": threading.current_thread().name}

    assert client_for(app).get("/").json() == {"thread": "ecko-test-loop"}


def test_sync_handler_runs_in_the_threadpool(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> dict[str, Any]:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        return {"thread": threading.current_thread().name, "on_loop": on_loop}

    body = client_for(app).get("/").json()
    assert body["thread"].startswith("ecko-sync")
    assert body["on_loop"] is False


def test_sync_handlers_run_concurrently(client_for: ClientFactory) -> None:
    app = Ecko()
    barrier = threading.Barrier(3, timeout=10)

    @app.get("/meet")
    def meet() -> dict[str, int]:
        # Only passes if three handler calls are inside the pool at the same time.
        return {"arrived": barrier.wait()}

    client = client_for(app)
    results: list[int] = []

    def call() -> None:
        results.append(client.get("/meet").json()["arrived"])

    callers = [threading.Thread(target=call) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(15)
    assert sorted(results) == [0, 1, 2]


@dataclasses.dataclass
class Occupancy:
    """What the sync /work handler of `_counting_app` saw."""

    running: int = 0
    peak: int = 0
    threads: set[str] = dataclasses.field(default_factory=set)


def _fire(client: TestClient, requests: int) -> None:
    """Fire `requests` calls at the app's /work route at once and wait for them all."""
    threads = [threading.Thread(target=client.get, args=("/work",)) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)


def _counting_app(threadpool_size: int | None, release_at: int) -> Ecko[Occupancy]:
    """An app whose sync /work handler records the peak number of concurrent calls.

    Each call holds its thread until `release_at` calls overlap, so the pool fills up.
    """
    occupancy = Occupancy()
    if threadpool_size is None:
        app = Ecko(state=occupancy)
    else:
        app = Ecko(state=occupancy, threadpool_size=threadpool_size)
    lock = threading.Lock()
    release = threading.Event()

    @app.get("/work")
    def work() -> None:
        with lock:
            occupancy.running += 1
            occupancy.peak = max(occupancy.peak, occupancy.running)
            occupancy.threads.add(threading.current_thread().name)
            if occupancy.running >= release_at:
                release.set()
        _wait_for(release, f"{release_at} concurrent calls")
        with lock:
            occupancy.running -= 1

    return app


def test_threadpool_size_bounds_concurrent_sync_handlers(client_for: ClientFactory) -> None:
    app = _counting_app(threadpool_size=3, release_at=3)
    _fire(client_for(app), requests=8)
    assert app.state.peak == 3
    assert len(app.state.threads) == 3


def test_default_threadpool_runs_40_sync_handlers_at_once(client_for: ClientFactory) -> None:
    app = _counting_app(threadpool_size=None, release_at=40)
    assert app.threadpool_size == 40
    _fire(client_for(app), requests=45)
    assert app.state.peak == 40
    assert len(app.state.threads) == 40


def test_threadpool_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Ecko(threadpool_size=0)


def test_sync_handler_sees_the_callers_contextvars(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.before_request
    async def tag() -> None:
        request_tag.set(context.request.headers.get("x-tag", "none"))

    @app.get("/")
    def handler() -> dict[str, str]:
        return {"tag": request_tag.get()}

    client = client_for(app)
    assert client.get("/", headers={"X-Tag": "one"}).json() == {"tag": "one"}
    assert client.get("/", headers={"X-Tag": "two"}).json() == {"tag": "two"}


def test_sync_hooks_exception_handlers_and_middleware_run_in_the_threadpool(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    seen: dict[str, str] = {}

    def record(where: str) -> None:
        seen[where] = f"{threading.current_thread().name}:{request_tag.get()}"

    @app.before_request
    def before() -> None:
        record("before")

    @app.after_request
    def after(response: Response) -> Response:
        record("after")
        return response

    @app.exception_handler(LookupError)
    def on_lookup(exc: LookupError) -> tuple[dict[str, str], int]:
        record("exception_handler")
        return {"error": str(exc)}, 404

    def middleware(request: Request, call_next: Any) -> Response:
        record("middleware")
        response: Response = call_next()
        return response

    async def tagging(request: Request, call_next: Any) -> Response:
        request_tag.set("tagged")
        response: Response = await call_next()
        return response

    app.use(tagging)
    app.use(middleware)

    @app.get("/")
    def handler() -> None:
        record("handler")
        raise KeyError("nope")

    response = client_for(app).get("/")
    assert response.status_code == 404
    assert set(seen) == {"before", "after", "exception_handler", "middleware", "handler"}
    for where, value in seen.items():
        thread, _, tag = value.partition(":")
        assert thread.startswith("ecko-sync"), where
        assert tag == "tagged", where


# --- before_request / after_request -----------------------------------------------------------


def test_before_request_returning_none_lets_the_handler_run(client_for: ClientFactory) -> None:
    app = Ecko()
    calls: list[str] = []

    @app.before_request
    def first() -> None:
        calls.append("first")

    @app.before_request
    async def second(request: Request) -> None:
        calls.append(f"second {request.path}")

    @app.get("/")
    def handler() -> dict[str, list[str]]:
        return {"calls": calls}

    assert client_for(app).get("/").json() == {"calls": ["first", "second /"]}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_before_request_return_value_short_circuits(client_for: ClientFactory, kind: str) -> None:
    app = Ecko()
    handled: list[str] = []

    def authenticate() -> tuple[dict[str, str], int] | None:
        if context.request.headers.get("authorization") != "Bearer good":
            return {"error": "Unauthorized"}, 401
        return None

    async def authenticate_async() -> tuple[dict[str, str], int] | None:
        return authenticate()

    app.before_request(authenticate if kind == "sync" else authenticate_async)

    @app.get("/profile")
    def profile() -> dict[str, str]:
        handled.append("profile")
        return {"name": "ada"}

    client = client_for(app)
    refused = client.get("/profile")
    assert refused.status_code == 401
    assert refused.json() == {"error": "Unauthorized"}
    assert handled == []
    allowed = client.get("/profile", headers={"Authorization": "Bearer good"})
    assert allowed.json() == {"name": "ada"}
    assert handled == ["profile"]


def test_short_circuit_skips_later_before_hooks_but_runs_after_hooks(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    calls: list[str] = []

    @app.before_request
    def stop() -> HTMLResponse:
        calls.append("stop")
        return HTMLResponse("<p>maintenance</p>", 503)

    @app.before_request
    def never() -> None:
        calls.append("never")

    @app.after_request
    def after(response: Response) -> Response:
        calls.append(f"after {response.status_code}")
        return response

    @app.get("/")
    def handler() -> str:
        calls.append("handler")
        return "ok"

    response = client_for(app).get("/")
    assert response.status_code == 503
    assert response.text == "<p>maintenance</p>"
    assert calls == ["stop", "after 503"]


def test_before_request_raising_an_http_error_answers_it(client_for: ClientFactory) -> None:
    from ecko import Forbidden

    app = Ecko()

    @app.before_request
    def guard() -> None:
        raise Forbidden("Admins only")

    @app.get("/")
    def handler() -> str:
        return "ok"

    response = client_for(app).get("/")
    assert response.status_code == 403
    assert response.json()["detail"] == "Admins only"


def test_after_request_hooks_run_in_order_and_may_replace_the_response(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.after_request
    def add_header(response: Response) -> Response:
        response.headers["X-Order"] = "first"
        return response

    @app.after_request
    async def replace(response: Response) -> Response:
        replaced = Response(response.body + b"!", 200, media_type="text/plain")
        replaced.headers["X-Order"] = response.headers["x-order"] + ",second"
        return replaced

    @app.get("/")
    def handler() -> str:
        return "hi"

    response = client_for(app).get("/")
    assert response.text == "hi!"
    assert response.headers["x-order"] == "first,second"


def test_after_request_hook_sees_error_responses(client_for: ClientFactory) -> None:
    app = Ecko()
    statuses: list[int] = []

    @app.after_request
    def record(response: Response) -> Response:
        statuses.append(response.status_code)
        return response

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    client = client_for(app)
    assert client.get("/items/1").status_code == 200
    assert client.get("/items/x").status_code == 422
    assert client.get("/nothing").status_code == 404
    assert statuses == [200, 422, 404]


def test_after_request_hook_returning_no_response_is_a_logged_500(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    @app.after_request
    def forgetful(response: Response) -> None:
        response.headers["X-Seen"] = "1"

    @app.get("/")
    def handler() -> str:
        return "ok"

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert "after_request hook returned NoneType" in caplog.text


def test_hook_with_the_wrong_arity_is_refused_at_registration() -> None:
    app = Ecko()

    def after() -> None:
        return None

    with pytest.raises(RouteDefinitionError, match="after_request hook"):
        app.after_request(after)


def test_router_hooks_run_only_for_its_routes_inside_the_app_hooks(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    api = Router("/api")
    calls: list[str] = []

    @app.before_request
    def app_before() -> None:
        calls.append("app before")

    @app.after_request
    def app_after(response: Response) -> Response:
        calls.append("app after")
        return response

    @api.before_request
    async def api_before() -> None:
        calls.append("api before")

    @api.after_request
    def api_after(response: Response) -> Response:
        calls.append("api after")
        response.headers["X-Api"] = "1"
        return response

    @api.get("/items")
    def items() -> list[int]:
        calls.append("handler")
        return [1]

    @app.get("/plain")
    def plain() -> str:
        calls.append("plain")
        return "plain"

    app.include(api)
    client = client_for(app)
    response = client.get("/api/items")
    assert response.headers["x-api"] == "1"
    assert calls == ["app before", "api before", "handler", "api after", "app after"]
    calls.clear()
    assert "x-api" not in client.get("/plain").headers
    assert calls == ["app before", "plain", "app after"]


def test_router_before_request_short_circuits(client_for: ClientFactory) -> None:
    app = Ecko()
    admin = Router("/admin")

    @admin.before_request
    def only_admins(request: Request) -> tuple[dict[str, str], int] | None:
        if request.headers.get("x-role") != "admin":
            return {"error": "Forbidden"}, 403
        return None

    @admin.get("/")
    def dashboard() -> dict[str, bool]:
        return {"admin": True}

    app.include(admin)
    client = client_for(app)
    assert client.get("/admin").status_code == 403
    assert client.get("/admin", headers={"X-Role": "admin"}).json() == {"admin": True}


# --- registration and start-up ----------------------------------------------------------------


def test_registration_after_start_is_refused(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> str:
        return "ok"

    client_for(app)

    def late() -> str:
        return "late"

    with pytest.raises(AppStartedError, match="already serving"):
        app.get("/late")(late)
    with pytest.raises(AppStartedError):
        app.before_request(late)
    with pytest.raises(AppStartedError):
        app.use(lambda request, call_next: call_next())


def test_app_is_reusable_by_a_second_client(client_for: ClientFactory) -> None:
    app = Ecko()
    calls: list[str] = []

    @app.before_request
    def before() -> None:
        calls.append("before")

    @app.get("/")
    def handler() -> str:
        return "ok"

    client_for(app).get("/")
    client_for(app).get("/")
    assert calls == ["before", "before"]


def test_failed_start_up_does_not_double_hooks_when_retried() -> None:
    app = Ecko()
    calls: list[str] = []
    attempts: list[int] = []

    class Flaky:
        def __init__(self, inner: Any) -> None:
            attempts.append(1)
            if len(attempts) == 1:
                raise RuntimeError("not yet")
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await self.inner(scope, receive, send)

    app.use_asgi(Flaky)

    @app.before_request
    def before() -> None:
        calls.append("before")

    @app.get("/")
    def handler() -> str:
        return "ok"

    with pytest.raises(RuntimeError, match="not yet"), TestClient(app):
        pass
    with TestClient(app) as client:
        assert client.get("/").text == "ok"
    assert calls == ["before"]


def test_mounted_asgi_app_gets_its_prefix_as_root_path(client_for: ClientFactory) -> None:
    async def legacy(scope: Scope, receive: Receive, send: Send) -> None:
        body = f"{scope['root_path']}|{scope['path']}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    app = Ecko()
    app.mount("/legacy", legacy)

    @app.get("/")
    def home() -> str:
        return "home"

    client = client_for(app)
    assert client.get("/legacy/users/1").text == "/legacy|/legacy/users/1"
    assert client.get("/").text == "home"
    assert client.get("/legacyx").status_code == 404


def test_head_reuses_get_and_options_lists_methods(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/items")
    def items() -> list[int]:
        return [1, 2, 3]

    @app.post("/items")
    def create() -> None:
        return None

    client = client_for(app)
    head = client.head("/items")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(b"[1,2,3]"))
    options = client.options("/items")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    not_allowed = client.delete("/items")
    assert not_allowed.status_code == 405
    assert not_allowed.headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_trailing_slash_redirect_re_encodes_the_path(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/files/{name}")
    def file(name: str) -> dict[str, str]:
        return {"name": name}

    client = client_for(app, follow_redirects=False)
    response = client.get("/files/caf%C3%A9%20menu%0D%0AX-Injected:%201/?v=2")
    assert response.status_code == 308
    assert response.headers["location"] == "/files/caf%C3%A9%20menu%0D%0AX-Injected%3A%201?v=2"
    assert "x-injected" not in response.headers
    followed = client_for(app).get("/files/caf%C3%A9%20menu/")
    assert followed.json() == {"name": "café menu"}


def test_unknown_app_option_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['debgu'\].*'debug'"):
        Ecko(debgu=True)  # type: ignore[call-overload]
