from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from typing import Any

import pytest

from ecko import AppStartedError, Ecko, Request, Response, RouteDefinitionError, Router
from ecko.routing import Route, RouteTable, Segment, parse_template, template_shape
from ecko.types import Handler, Message, Receive, Scope, Send
from tests.conftest import ClientFactory

PROBLEM_JSON = "application/problem+json"


def request_once(app: Ecko[Any], path: str = "/") -> int:
    """Send one GET straight to the ASGI app (no lifespan) and return the status."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status: int = sent[0]["status"]
    return status


# --- registration API -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_each_method_decorator_serves_its_method(client_for: ClientFactory, method: str) -> None:
    app = Ecko()
    register: Callable[[str], Callable[[Handler], Handler]] = getattr(app, method.lower())

    @register("/thing")
    def handler() -> tuple[dict[str, str], int, dict[str, str]]:
        return {"method": method}, 200, {"x-handled-by": method}

    client = client_for(app)
    response = client.request(method, "/thing")

    assert response.status_code == 200
    assert response.headers["x-handled-by"] == method
    if method != "HEAD":
        assert response.json() == {"method": method}
        assert client.request("TRACE", "/thing").status_code == 405


def test_all_method_decorators_share_one_path(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/items")
    def list_items() -> str:
        return "list"

    @app.post("/items")
    def create_item() -> str:
        return "create"

    @app.delete("/items")
    def delete_items() -> str:
        return "delete"

    client = client_for(app)

    assert client.get("/items").text == "list"
    assert client.post("/items").text == "create"
    assert client.delete("/items").text == "delete"


def test_route_registers_the_given_methods(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.route("/doc", methods=["PUT", "patch"])
    def write(request: Request) -> dict[str, str]:
        return {"method": request.method}

    client = client_for(app)

    assert client.put("/doc").json() == {"method": "PUT"}
    assert client.patch("/doc").json() == {"method": "PATCH"}
    refused = client.get("/doc")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "OPTIONS, PATCH, PUT"


def test_add_route_registers_a_plain_function(client_for: ClientFactory) -> None:
    app = Ecko()

    def ping(count: int = 1) -> dict[str, int]:
        return {"pong": count}

    app.add_route("/ping", ping, ["GET", "POST"])
    client = client_for(app)

    assert client.get("/ping?count=3").json() == {"pong": 3}
    assert client.post("/ping").json() == {"pong": 1}


def test_route_options_are_kept_on_the_route() -> None:
    app = Ecko()

    @app.get("/a", name="alpha", summary="Get alpha", tags=["letters"], include_in_schema=False)
    def first() -> None:
        """Ignored summary.

        Longer text.
        """

    @app.post("/b", status_code=201)
    def second() -> None:
        """Create a b.

        Body of the description.
        """

    alpha, beta = app.routes
    assert isinstance(alpha, Route)
    assert isinstance(beta, Route)
    assert (alpha.name, alpha.summary, alpha.tags, alpha.include_in_schema) == (
        "alpha",
        "Get alpha",
        ("letters",),
        False,
    )
    assert alpha.status_code == 200
    assert (beta.name, beta.summary, beta.status_code, beta.include_in_schema) == (
        "second",
        "Create a b.",
        201,
        True,
    )
    assert beta.description == "Create a b.\n\nBody of the description."
    assert beta.methods == frozenset({"POST"})


def test_status_code_is_the_default_success_status(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/users", status_code=201)
    def create_user(data: dict[str, Any]) -> dict[str, Any]:
        return {"created": data}

    @app.post("/explicit", status_code=201)
    def explicit() -> tuple[dict[str, bool], int]:
        return {"ok": True}, 200

    client = client_for(app)
    created = client.post("/users", json={"name": "ada"})

    assert created.status_code == 201
    assert created.json() == {"created": {"name": "ada"}}
    assert client.post("/explicit").status_code == 200


@pytest.mark.parametrize("status_code", [99, 600])
def test_status_code_outside_1xx_5xx_is_refused(status_code: int) -> None:
    app = Ecko()

    with pytest.raises(RouteDefinitionError, match=f"status_code {status_code}"):
        app.add_route("/x", lambda: None, status_code=status_code)


def test_unknown_http_method_is_refused() -> None:
    app = Ecko()

    with pytest.raises(RouteDefinitionError, match="unknown HTTP method"):
        app.add_route("/x", lambda: None, ["GET", "FETCH"])


# --- path templates -----------------------------------------------------------------------


def test_path_param_is_converted_to_its_annotation(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/users/{user_id}")
    def get_user(user_id: int) -> dict[str, int]:
        return {"user_id": user_id}

    client = client_for(app)

    assert client.get("/users/7").json() == {"user_id": 7}
    bad = client.get("/users/seven")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["path", "user_id"]


def test_param_matches_exactly_one_segment(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/users/{name}")
    def get_user(name: str) -> dict[str, str]:
        return {"name": name}

    client = client_for(app)

    assert client.get("/users/ada%20lovelace").json() == {"name": "ada lovelace"}
    assert client.get("/users/a/b").status_code == 404
    assert client.get("/users//").status_code == 404


def test_path_converter_matches_the_rest_of_the_path(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/files/{file_path:path}")
    def read_file(file_path: str) -> dict[str, str]:
        return {"file_path": file_path}

    @app.get("/pages/{number:path}")
    def page(number: int) -> dict[str, int]:
        return {"number": number}

    client = client_for(app)

    assert client.get("/files/a/b/c.txt").json() == {"file_path": "a/b/c.txt"}
    assert client.get("/files/x").json() == {"file_path": "x"}
    assert client.get("/pages/12").json() == {"number": 12}
    assert client.get("/files").status_code == 404


@pytest.mark.parametrize("static_first", [True, False])
def test_static_route_beats_a_dynamic_one(client_for: ClientFactory, static_first: bool) -> None:
    app = Ecko()

    def me() -> dict[str, str]:
        return {"user": "me"}

    def by_id(user_id: int) -> dict[str, int]:
        return {"user": user_id}

    if static_first:
        app.add_route("/users/me", me)
        app.add_route("/users/{user_id}", by_id)
    else:
        app.add_route("/users/{user_id}", by_id)
        app.add_route("/users/me", me)
    client = client_for(app)

    assert client.get("/users/me").json() == {"user": "me"}
    assert client.get("/users/42").json() == {"user": 42}


def test_literal_segment_beats_param_deeper_in_the_path(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/orgs/{org}/members")
    def members(org: str) -> str:
        return f"members of {org}"

    @app.get("/orgs/{org}/{section}")
    def section(org: str, section: str) -> str:
        return f"{section} of {org}"

    @app.get("/orgs/{org}/{rest:path}")
    def anything(org: str, rest: str) -> str:
        return f"{rest} under {org}"

    client = client_for(app)

    assert client.get("/orgs/acme/members").text == "members of acme"
    assert client.get("/orgs/acme/billing").text == "billing of acme"
    assert client.get("/orgs/acme/a/b").text == "a/b under acme"


def test_same_shape_for_another_method_uses_its_own_param_names(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/items/{item_id}")
    def read(item_id: int) -> dict[str, int]:
        return {"read": item_id}

    @app.put("/items/{key}")
    def write(key: str) -> dict[str, str]:
        return {"wrote": key}

    client = client_for(app)

    assert client.get("/items/3").json() == {"read": 3}
    assert client.put("/items/abc").json() == {"wrote": "abc"}


def test_duplicate_route_is_refused_naming_both_handlers() -> None:
    app = Ecko()

    @app.get("/users")
    def list_users() -> None: ...

    with pytest.raises(RouteDefinitionError) as caught:

        @app.get("/users")
        def list_users_again() -> None: ...

    message = str(caught.value)
    assert "list_users_again" in message
    assert "<locals>.list_users)" in message


def test_same_shape_with_other_param_names_conflicts_for_the_same_method() -> None:
    app = Ecko()

    @app.get("/users/{user_id}")
    def by_id(user_id: int) -> None: ...

    with pytest.raises(RouteDefinitionError) as caught:

        @app.get("/users/{name}")
        def by_name(name: str) -> None: ...

    message = str(caught.value)
    assert "GET /users/{name}" in message
    assert "GET /users/{user_id}" in message
    assert "by_name" in message
    assert "by_id" in message


def test_route_method_overlap_conflicts_through_route_with_several_methods() -> None:
    app = Ecko()
    app.add_route("/x", lambda: None, ["GET", "POST"])

    with pytest.raises(RouteDefinitionError, match="POST /x"):
        app.add_route("/x", lambda: None, ["PUT", "POST"])


def test_duplicate_on_a_router_is_refused_at_its_decorator() -> None:
    router = Router("/api")

    @router.get("/ping")
    def ping() -> None: ...

    with pytest.raises(RouteDefinitionError, match="GET /api/ping"):

        @router.get("/ping")
        def ping_again() -> None: ...


def test_router_route_conflicting_with_an_app_route_is_refused_at_include() -> None:
    app = Ecko()
    router = Router("/api")

    @app.get("/api/ping")
    def app_ping() -> None: ...

    @router.get("/ping")
    def router_ping() -> None: ...

    with pytest.raises(RouteDefinitionError) as caught:
        app.include(router)

    assert "app_ping" in str(caught.value)
    assert "router_ping" in str(caught.value)


@pytest.mark.parametrize(
    ("path", "complaint"),
    [
        ("users", "must start with '/'"),
        ("/users/id-{id}", "must be a whole '{name}'"),
        ("/users/{id:int}", "unknown converter 'int'"),
        ("/users/{id}/{id}", "uses {id} twice"),
        ("/files/{rest:path}/edit", "must be the last segment"),
        ("/users/{1st}", "not a valid parameter name"),
    ],
)
def test_malformed_template_is_refused_at_registration(path: str, complaint: str) -> None:
    app = Ecko()

    with pytest.raises(RouteDefinitionError) as caught:
        app.add_route(path, lambda: None)

    assert complaint in str(caught.value)


# --- misses: 404, 405, HEAD, OPTIONS, trailing slashes -----------------------------------------


def test_unknown_path_is_404_problem_json(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def home() -> str:
        return "home"

    response = client_for(app).get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["type"] == "about:blank"
    assert problem["title"] == "Not Found"
    assert problem["status"] == 404
    assert "/nowhere" in problem["detail"]


def test_wrong_method_is_405_problem_json_with_allow(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/items")
    def list_items() -> list[int]:
        return []

    @app.post("/items")
    def create_item() -> None: ...

    response = client_for(app).delete("/items")

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    problem = response.json()
    assert (problem["type"], problem["title"], problem["status"]) == (
        "about:blank",
        "Method Not Allowed",
        405,
    )
    assert "DELETE" in problem["detail"]


def test_head_answers_every_get_route_without_a_body(client_for: ClientFactory) -> None:
    app = Ecko()
    calls: list[int] = []

    @app.get("/users/{user_id}")
    def get_user(user_id: int) -> dict[str, Any]:
        calls.append(user_id)
        return {"id": user_id, "name": "Ada Lovelace"}

    client = client_for(app)
    full = client.get("/users/1")
    head = client.head("/users/1")

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == full.headers["content-length"]
    assert head.headers["content-length"] == str(len(full.content))
    assert head.headers["content-type"] == "application/json"
    assert calls == [1, 1]


def test_head_only_route_does_not_answer_get(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.head("/probe")
    def probe() -> Response:
        return Response(None, 204, {"x-probe": "yes"})

    client = client_for(app)

    assert client.head("/probe").headers["x-probe"] == "yes"
    refused = client.get("/probe")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "HEAD, OPTIONS"


def test_options_on_a_route_path_is_204_with_allow(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/users/{user_id}")
    def get_user(user_id: int) -> None: ...

    @app.delete("/users/{user_id}")
    def delete_user(user_id: int) -> None: ...

    client = client_for(app)
    response = client.options("/users/5")

    assert response.status_code == 204
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"
    assert response.content == b""
    assert client.options("/nowhere").status_code == 404


def test_explicit_options_route_replaces_the_automatic_answer(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/x")
    def get_x() -> None: ...

    @app.options("/x")
    def options_x() -> dict[str, str]:
        return {"custom": "yes"}

    response = client_for(app).options("/x")

    assert response.status_code == 200
    assert response.json() == {"custom": "yes"}


def test_missing_trailing_slash_redirects_308_keeping_the_query(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/dir/")
    def directory(q: str = "") -> dict[str, str]:
        return {"q": q}

    client = client_for(app, follow_redirects=False)
    response = client.get("/dir?q=a%20b&x=1")

    assert response.status_code == 308
    assert response.headers["location"] == "/dir/?q=a%20b&x=1"
    assert client_for(app).get("/dir?q=a%20b").json() == {"q": "a b"}


def test_extra_trailing_slash_redirects_308_keeping_the_query(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/users")
    def create(name: str) -> dict[str, str]:
        return {"name": name}

    client = client_for(app, follow_redirects=False)
    response = client.post("/users/?name=ada")

    assert response.status_code == 308
    assert response.headers["location"] == "/users?name=ada"
    followed = client_for(app).post("/users/?name=ada")
    assert followed.json() == {"name": "ada"}
    assert followed.request.method == "POST"


def test_redirect_slashes_false_answers_404(client_for: ClientFactory) -> None:
    app = Ecko(redirect_slashes=False)

    @app.get("/a")
    def a() -> None: ...

    @app.get("/b/")
    def b() -> None: ...

    client = client_for(app, follow_redirects=False)

    assert client.get("/a/").status_code == 404
    assert client.get("/b").status_code == 404


def test_trailing_slash_miss_with_no_other_route_is_404(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/a")
    def a() -> None: ...

    client = client_for(app, follow_redirects=False)

    assert client.get("/b/").status_code == 404
    assert client.get("/").status_code == 404


def test_missing_slash_redirects_to_a_dynamic_or_rest_route_ending_in_slash(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.get("/users/{user_id}/")
    def user(user_id: int) -> dict[str, int]:
        return {"user_id": user_id}

    @app.get("/files/{rest:path}")
    def files(rest: str) -> dict[str, str]:
        return {"rest": rest}

    client = client_for(app, follow_redirects=False)

    assert client.get("/users/7").headers["location"] == "/users/7/"
    assert client.get("/files/a/b/").status_code == 200  # the rest route takes it as it is
    assert client.get("/nothing").status_code == 404


def test_redirect_of_a_path_holding_crlf_is_not_a_server_error(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/{name}")
    def named(name: str) -> dict[str, str]:
        return {"name": name}

    client = client_for(app, follow_redirects=False, raise_server_exceptions=False)
    response = client.get("/a%0D%0ASet-Cookie:%20x=1/")

    assert response.status_code == 308
    assert response.headers["location"] == "/a%0D%0ASet-Cookie%3A%20x%3D1"
    assert "set-cookie" not in response.headers


# --- routers --------------------------------------------------------------------------------


def test_router_prefixes_paths_and_adds_its_tags(client_for: ClientFactory) -> None:
    app = Ecko()
    api = Router("/api", tags=["api"])

    @api.get("/")
    def index() -> str:
        return "index"

    @api.post("/users", tags=["users", "api"], status_code=201)
    def create_user() -> str:
        return "created"

    app.include(api)
    client = client_for(app, follow_redirects=False)

    assert client.get("/api").text == "index"
    created = client.post("/api/users")
    assert (created.status_code, created.text) == (201, "created")
    assert client.get("/users").status_code == 404
    tags = {route.path: route.tags for route in app.routes}
    assert tags == {"/api": ("api",), "/api/users": ("api", "users")}


def test_router_has_every_method_decorator(client_for: ClientFactory) -> None:
    app = Ecko()
    router = Router("/r")
    for method in ("get", "post", "put", "patch", "delete", "options"):
        getattr(router, method)("/m")(lambda method=method: method)
    router.route("/multi", methods=["GET", "PUT"])(lambda: "multi")
    router.add_route("/added", lambda: "added")
    router.head("/h")(lambda: Response(None, 200, {"x-head": "1"}))
    app.include(router)
    client = client_for(app)

    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        assert client.request(method, "/r/m").text == method.lower()
    assert client.put("/r/multi").text == "multi"
    assert client.get("/r/added").text == "added"
    assert client.head("/r/h").headers["x-head"] == "1"


def test_router_hooks_run_only_for_its_routes(client_for: ClientFactory) -> None:
    app = Ecko()
    api = Router("/api")
    seen: list[str] = []

    @api.before_request
    def before(request: Request) -> None:
        seen.append(f"before {request.path}")

    @api.after_request
    def after(response: Response) -> Response:
        response.headers["x-api"] = "1"
        return response

    @api.get("/inside")
    def inside() -> str:
        return "inside"

    @app.get("/outside")
    def outside() -> str:
        return "outside"

    app.include(api)
    client = client_for(app)
    inner = client.get("/api/inside")
    outer = client.get("/outside")

    assert inner.headers["x-api"] == "1"
    assert "x-api" not in outer.headers
    assert outer.text == "outside"
    assert seen == ["before /api/inside"]


def test_router_before_hook_may_answer_instead_of_the_handler(client_for: ClientFactory) -> None:
    app = Ecko()
    admin = Router("/admin")

    @admin.before_request
    def guard(request: Request) -> tuple[dict[str, str], int] | None:
        if request.headers.get("x-admin") != "yes":
            return {"error": "admins only"}, 403
        return None

    @admin.get("/panel")
    def panel() -> str:
        return "panel"

    app.include(admin)
    client = client_for(app)

    refused = client.get("/admin/panel")
    assert (refused.status_code, refused.json()) == (403, {"error": "admins only"})
    assert client.get("/admin/panel", headers={"x-admin": "yes"}).text == "panel"


def test_nested_routers_stack_prefixes_tags_and_hooks(client_for: ClientFactory) -> None:
    app = Ecko()
    api = Router("/api", tags=["api"])
    v1 = Router("/v1", tags=["v1"])
    order: list[str] = []

    @app.before_request
    def app_before() -> None:
        order.append("app before")

    @app.after_request
    def app_after(response: Response) -> Response:
        order.append("app after")
        return response

    @api.before_request
    def api_before() -> None:
        order.append("api before")

    @api.after_request
    def api_after(response: Response) -> Response:
        order.append("api after")
        return response

    @v1.before_request
    def v1_before() -> None:
        order.append("v1 before")

    @v1.after_request
    def v1_after(response: Response) -> Response:
        order.append("v1 after")
        return response

    @v1.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        order.append("handler")
        return {"item_id": item_id}

    api.include(v1)
    app.include(api)
    client = client_for(app)

    assert client.get("/api/v1/items/3").json() == {"item_id": 3}
    assert order == [
        "app before",
        "api before",
        "v1 before",
        "handler",
        "v1 after",
        "api after",
        "app after",
    ]
    (route,) = app.routes
    assert route.tags == ("api", "v1")
    assert client.get("/v1/items/3").status_code == 404


def test_registering_on_a_router_after_include_raises() -> None:
    app = Ecko()
    api = Router("/api")
    v1 = Router("/v1")

    @v1.get("/a")
    def a() -> None: ...

    api.include(v1)
    app.include(api)

    with pytest.raises(AppStartedError, match="already included"):
        api.add_route("/late", lambda: None)
    with pytest.raises(AppStartedError, match="already included"):
        v1.get("/late")(lambda: None)
    with pytest.raises(AppStartedError, match="already included"):
        api.before_request(lambda: None)


@pytest.mark.parametrize("prefix", ["api", "/api/"])
def test_router_prefix_must_start_and_not_end_with_slash(prefix: str) -> None:
    with pytest.raises(RouteDefinitionError, match="must start with '/'"):
        Router(prefix)


# --- mounts ---------------------------------------------------------------------------------


def test_mounted_asgi_app_sees_root_path_and_the_full_path(client_for: ClientFactory) -> None:
    app = Ecko()
    seen: list[tuple[str, str]] = []

    async def legacy(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope["root_path"], scope["path"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"legacy"})

    @app.get("/legacyish")
    def not_mounted() -> str:
        return "ecko"

    app.mount("/legacy", legacy)
    client = client_for(app)

    assert client.get("/legacy/old/page?x=1").text == "legacy"
    assert client.get("/legacy").text == "legacy"
    assert client.get("/legacyish").text == "ecko"
    assert seen == [("/legacy", "/legacy/old/page"), ("/legacy", "/legacy")]


def test_mounted_ecko_app_routes_below_its_prefix(client_for: ClientFactory) -> None:
    app = Ecko()
    admin = Ecko()

    @admin.get("/users/{user_id}", name="user")
    def user(request: Request, user_id: int) -> dict[str, Any]:
        return {"user_id": user_id, "path": request.path, "root": request.scope["root_path"]}

    app.mount("/admin", admin)
    client = client_for(app, follow_redirects=False)

    assert client.get("/admin/users/3").json() == {
        "user_id": 3,
        "path": "/admin/users/3",
        "root": "/admin",
    }
    redirect = client.get("/admin/users/3/?full=1")
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/admin/users/3?full=1")
    assert client.get("/users/3").status_code == 404


def test_same_mount_prefix_twice_is_refused() -> None:
    app = Ecko()

    async def inner(scope: Scope, receive: Receive, send: Send) -> None: ...

    app.mount("/legacy", inner)
    with pytest.raises(RouteDefinitionError, match="already mounted at '/legacy'"):
        app.mount("/legacy", inner)


@pytest.mark.parametrize("prefix", ["legacy", "/legacy/"])
def test_mount_prefix_must_start_and_not_end_with_slash(prefix: str) -> None:
    app = Ecko()

    async def inner(scope: Scope, receive: Receive, send: Send) -> None: ...

    with pytest.raises(RouteDefinitionError, match="must start with '/'"):
        app.mount(prefix, inner)


# --- url_for ----------------------------------------------------------------------------------


def test_url_for_fills_and_percent_encodes_params(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/", name="home")
    def home() -> None: ...

    @app.get("/items/{item_id}", name="item")
    def item(item_id: str) -> dict[str, str]:
        return {"item_id": item_id}

    @app.get("/files/{file_path:path}", name="file")
    def file(file_path: str) -> dict[str, str]:
        return {"file_path": file_path}

    assert app.url_for("home") == "/"
    assert app.url_for("item", item_id=42) == "/items/42"
    assert app.url_for("item", item_id="a b/c?d#e") == "/items/a%20b%2Fc%3Fd%23e"
    assert app.url_for("item", item_id="café") == "/items/caf%C3%A9"
    assert app.url_for("file", file_path="dir/my file.txt") == "/files/dir/my%20file.txt"
    client = client_for(app)
    assert client.get(app.url_for("item", item_id="café & co?")).json() == {"item_id": "café & co?"}
    assert client.get(app.url_for("file", file_path="a b/c#d")).json() == {"file_path": "a b/c#d"}


def test_url_for_names_routes_of_included_routers() -> None:
    app = Ecko()
    api = Router("/api")

    @api.get("/users/{user_id}")
    def get_user(user_id: int) -> None: ...

    app.include(api)

    assert app.url_for("get_user", user_id=3) == "/api/users/3"


def test_url_for_unknown_name_raises_key_error() -> None:
    app = Ecko()

    with pytest.raises(KeyError, match="No route is named 'missing'"):
        app.url_for("missing")


def test_url_for_missing_or_unexpected_params_raise_key_error() -> None:
    app = Ecko()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> None: ...

    with pytest.raises(KeyError, match=r"missing \['item_id'\]"):
        app.url_for("item")
    with pytest.raises(KeyError, match=r"unexpected \['color'\]"):
        app.url_for("item", item_id=1, color="red")


def test_url_for_with_a_slash_in_a_segment_routes_back(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/items/{item_id}", name="item")
    def item(item_id: str) -> dict[str, str]:
        return {"item_id": item_id}

    assert client_for(app).get(app.url_for("item", item_id="a/b")).json() == {"item_id": "a/b"}


# --- after start ----------------------------------------------------------------------------


def test_registration_after_the_first_request_raises_app_started_error() -> None:
    app = Ecko()

    @app.get("/")
    def home() -> str:
        return "home"

    assert request_once(app) == 200

    async def other(scope: Scope, receive: Receive, send: Send) -> None: ...

    with pytest.raises(AppStartedError, match="already serving"):
        app.get("/late")(lambda: None)
    with pytest.raises(AppStartedError):
        app.add_route("/late", lambda: None)
    with pytest.raises(AppStartedError):
        app.include(Router("/r"))
    with pytest.raises(AppStartedError):
        app.mount("/m", other)
    with pytest.raises(AppStartedError):
        app.before_request(lambda: None)
    assert request_once(app, "/late") == 404


# --- parse_template and RouteTable ------------------------------------------------------------


def test_parse_template_splits_literals_params_and_rest() -> None:
    assert parse_template("/") == (Segment(""),)
    assert parse_template("/users/{user_id}/files/{path:path}") == (
        Segment("users"),
        Segment("{user_id}", "user_id"),
        Segment("files"),
        Segment("{path:path}", "path", rest=True),
    )
    assert parse_template("/dir/") == (Segment("dir"), Segment(""))


def test_template_shape_erases_param_names() -> None:
    assert template_shape(parse_template("/a/{x}/b/{y:path}")) == "/a/{}/b/{:path}"
    assert template_shape(parse_template("/a/{x}")) == template_shape(parse_template("/a/{y}"))


def _table(*paths: str) -> RouteTable:
    table = RouteTable()
    for index, path in enumerate(paths):
        table.add(Route(path, lambda: None, ["GET"], name=f"route{index}"))
    return table


def _matched(table: RouteTable, path: str) -> tuple[str, list[str]] | None:
    found = table.match(path)
    if found is None:
        return None
    entry, values = found
    return entry.routes["GET"].path, values


def test_route_table_matches_static_paths_by_lookup() -> None:
    table = _table("/", "/about", "/dir/")

    assert table.static.keys() == {"/", "/about", "/dir/"}
    assert _matched(table, "/about") == ("/about", [])
    assert _matched(table, "/dir/") == ("/dir/", [])
    assert _matched(table, "/dir") is None
    assert _matched(table, "/about/") is None


def test_route_table_matches_dynamic_paths_with_values_in_order() -> None:
    table = _table("/users/{user_id}", "/users/{user_id}/posts/{post_id}", "/files/{rest:path}")

    assert _matched(table, "/users/7") == ("/users/{user_id}", ["7"])
    assert _matched(table, "/users/7/posts/9") == ("/users/{user_id}/posts/{post_id}", ["7", "9"])
    assert _matched(table, "/files/a/b/c") == ("/files/{rest:path}", ["a/b/c"])
    assert _matched(table, "/users") is None
    assert _matched(table, "/users/") is None
    assert _matched(table, "/users/7/posts") is None
    assert _matched(table, "/files/") is None
    assert _matched(table, "relative") is None


def test_route_table_prefers_literal_then_param_then_rest_and_backtracks() -> None:
    table = _table(
        "/a/{x}/c",
        "/a/b/d",
        "/a/{x}/{y}",
        "/a/{rest:path}",
        "/a/me",
    )

    assert _matched(table, "/a/me") == ("/a/me", [])
    assert _matched(table, "/a/b/d") == ("/a/b/d", [])
    # "b" takes the literal branch first, which dead-ends at "c"; the param branch matches.
    assert _matched(table, "/a/b/c") == ("/a/{x}/c", ["b"])
    assert _matched(table, "/a/b/z") == ("/a/{x}/{y}", ["b", "z"])
    assert _matched(table, "/a/b/z/w") == ("/a/{rest:path}", ["b/z/w"])
    assert _matched(table, "/a/solo") == ("/a/{rest:path}", ["solo"])


def test_route_table_keeps_an_encoded_slash_inside_its_segment() -> None:
    table = _table("/items/{item_id}", "/items/{item_id}/{part}", "/files/{rest:path}")

    def match_raw(path: str, raw_path: bytes) -> tuple[str, list[str]] | None:
        found = table.match(path, raw_path)
        return None if found is None else (found[0].routes["GET"].path, found[1])

    assert match_raw("/items/a/b", b"/items/a%2Fb") == ("/items/{item_id}", ["a/b"])
    assert match_raw("/items/a/b", b"/items/a%2fb") == ("/items/{item_id}", ["a/b"])
    assert match_raw("/items/a/b", b"/items/a/b") == ("/items/{item_id}/{part}", ["a", "b"])
    assert match_raw("/items/é/x", b"/items/%C3%A9%2F/x") == (
        "/items/{item_id}/{part}",
        ["é/", "x"],
    )
    assert match_raw("/files/a/b/c", b"/files/a%2Fb/c") == ("/files/{rest:path}", ["a/b/c"])
    assert match_raw("/items/\udcff/b", b"/items/%FF%2Fb") is None


def test_route_table_entry_lists_allowed_methods() -> None:
    table = RouteTable()
    table.add(Route("/x/{a}", lambda a: None, ["GET"]))
    table.add(Route("/x/{b}", lambda b: None, ["DELETE"]))
    found = table.match("/x/1")

    assert found is not None
    entry, _ = found
    assert entry.allow == "DELETE, GET, HEAD, OPTIONS"
    assert entry.routes["DELETE"].param_names == ("b",)


def test_static_path_without_the_method_falls_through_to_a_dynamic_route(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.post("/users/me")
    def update_me() -> dict[str, str]:
        return {"who": "me"}

    @app.get("/users/{user_id}")
    def get_user(user_id: str) -> dict[str, str]:
        return {"user_id": user_id}

    client = client_for(app)
    assert client.get("/users/me").json() == {"user_id": "me"}
    assert client.head("/users/me").status_code == 200
    assert client.post("/users/me").json() == {"who": "me"}
    refused = client.delete("/users/me")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert client.options("/users/me").headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_slash_redirect_passes_the_raw_query_string_on_byte_for_byte() -> None:
    app = Ecko()

    @app.get("/items")
    def items() -> dict[str, str]:
        return {}

    async def call(query: bytes) -> dict[bytes, bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/items/",
            "root_path": "",
            "query_string": query,
            "headers": [],
        }
        await app(scope, receive, send)
        assert sent[0]["status"] == 308
        return dict(sent[0]["headers"])

    assert asyncio.run(call(b"a=%C3%A9&b=1"))[b"location"] == b"/items?a=%C3%A9&b=1"
    assert asyncio.run(call(b"a=\xe9"))[b"location"] == b"/items?a=%E9"
    assert asyncio.run(call(b"a=\r\nSet-Cookie:x"))[b"location"] == b"/items?a=%0D%0ASet-Cookie:x"
