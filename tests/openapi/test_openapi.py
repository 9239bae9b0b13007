"""The OpenAPI document: built from the routes' plans, served once."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import httpx
import msgspec
import pytest

from ecko import (
    Body,
    Cookie,
    Ecko,
    Header,
    HTMLResponse,
    Path,
    Query,
    Request,
    Router,
    WebSocket,
)
from ecko.openapi import OpenAPI, ValidationProblem, build_document, setup_openapi
from ecko.testing import LiveServer
from tests.conftest import ClientFactory

APPS = FilePath(__file__).resolve().parent.parent / "e2e" / "apps"
VALIDATION_REF = {"$ref": "#/components/schemas/ValidationProblem"}


class CreateUser(msgspec.Struct):
    """A user to create."""

    name: Annotated[str, msgspec.Meta(min_length=1)]
    email: str
    age: int | None = None


class User(msgspec.Struct):
    """A stored user."""

    id: int
    name: str


@dataclasses.dataclass
class Note:
    """A note."""

    text: str


EMPTY_NOTE = Note("empty")


class Color(enum.Enum):
    """A colour."""

    RED = "red"
    BLUE = "blue"


def fetch_document(client_for: ClientFactory, app: Ecko[Any]) -> dict[str, Any]:
    response = client_for(app).get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


def parameters_by_name(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {parameter["name"]: parameter for parameter in operation["parameters"]}


def spec_example_app() -> Ecko[Any]:
    # The spec's "OpenAPI Documentation" example, as written there.
    app = Ecko()
    setup_openapi(
        app,
        title="My API",
        version="1.0.0",
        description="My awesome API",
    )

    @app.get("/users/{user_id}")
    def get_user(user_id: int):  # type: ignore[no-untyped-def]  # the spec's handler has no hints
        """Get a user by their ID."""
        return {"id": user_id}

    return app


def test_spec_example_documents_the_route_with_its_docstring_and_types(
    client_for: ClientFactory,
) -> None:
    document = fetch_document(client_for, spec_example_app())

    assert document["openapi"] == "3.1.0"
    assert document["info"] == {
        "title": "My API",
        "version": "1.0.0",
        "description": "My awesome API",
    }
    assert list(document["paths"]) == ["/users/{user_id}"]
    operation = document["paths"]["/users/{user_id}"]["get"]
    assert operation["operationId"] == "get_user"
    assert operation["summary"] == "Get a user by their ID."
    assert operation["description"] == "Get a user by their ID."
    assert operation["parameters"] == [
        {"name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    ]
    # Unannotated return: JSON of any shape.
    assert operation["responses"]["200"] == {
        "description": "OK",
        "content": {"application/json": {"schema": {}}},
    }
    assert operation["responses"]["422"]["content"] == {
        "application/problem+json": {"schema": VALIDATION_REF}
    }


def test_setup_openapi_is_exported_lazily_by_ecko() -> None:
    # Needs the lazy `setup_openapi` export in ecko/__init__.py.
    from ecko import setup_openapi as exported

    assert exported is setup_openapi


def test_struct_body_becomes_a_required_json_request_body_with_its_component(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    setup_openapi(app)

    @app.post("/users", status_code=201)
    def create_user(user: CreateUser) -> User:
        return User(1, user.name)

    document = fetch_document(client_for, app)

    operation = document["paths"]["/users"]["post"]
    assert operation["requestBody"] == {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateUser"}}},
        "required": True,
    }
    assert "parameters" not in operation
    assert document["components"]["schemas"]["CreateUser"] == {
        "title": "CreateUser",
        "description": "A user to create.",
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "email": {"type": "string"},
            "age": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
        },
        "required": ["name", "email"],
    }
    assert operation["responses"]["201"] == {
        "description": "Created",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}},
    }
    assert operation["responses"]["422"]["content"]["application/problem+json"] == {
        "schema": VALIDATION_REF
    }


def test_body_with_a_default_is_optional_and_keeps_its_description(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    setup_openapi(app)

    @app.put("/notes/{note_id}")
    def put_note(note_id: int, note: Note = Body(EMPTY_NOTE, description="The new text")) -> Note:
        return note

    document = fetch_document(client_for, app)

    body = document["paths"]["/notes/{note_id}"]["put"]["requestBody"]
    assert body["required"] is False
    assert body["description"] == "The new text"
    assert body["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Note"
    assert document["components"]["schemas"]["Note"]["required"] == ["text"]


def test_markers_give_alias_description_constraints_examples_and_defaults(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    setup_openapi(app)

    @app.get("/search")
    def search(
        q: Annotated[
            str,
            Query(
                alias="query",
                description="Text to find",
                min_length=2,
                max_length=50,
                pattern="^[a-z]+$",
                examples=["shoes"],
            ),
        ],
        page: int = Query(1, ge=1, le=100),
        ratio: float = Query(0.5, gt=0, lt=1),
        color: Color = Color.RED,
        kind: Literal["a", "b"] = "a",
        old: str | None = Query(None, deprecated=True),
    ) -> list[str]:
        return [q]

    document = fetch_document(client_for, app)

    parameters = parameters_by_name(document["paths"]["/search"]["get"])
    assert list(parameters) == ["query", "page", "ratio", "color", "kind", "old"]
    assert parameters["query"] == {
        "name": "query",
        "in": "query",
        "required": True,
        "description": "Text to find",
        "schema": {
            "description": "Text to find",
            "examples": ["shoes"],
            "type": "string",
            "minLength": 2,
            "maxLength": 50,
            "pattern": "^[a-z]+$",
        },
        "examples": {"example1": {"value": "shoes"}},
    }
    assert parameters["page"]["required"] is False
    assert parameters["page"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 1,
    }
    assert parameters["ratio"]["schema"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "exclusiveMaximum": 1,
        "default": 0.5,
    }
    assert parameters["color"]["schema"] == {
        "$ref": "#/components/schemas/Color",
        "default": "red",
    }
    assert document["components"]["schemas"]["Color"]["enum"] == ["blue", "red"]
    assert parameters["kind"]["schema"] == {"enum": ["a", "b"], "default": "a"}
    assert parameters["old"]["deprecated"] is True
    assert parameters["old"]["schema"]["default"] is None


def test_constraints_in_the_document_are_the_ones_requests_are_checked_against(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    setup_openapi(app)

    @app.get("/items")
    def items(limit: int = Query(10, ge=1, le=50)) -> dict[str, int]:
        return {"limit": limit}

    client = client_for(app)
    schema = client.get("/openapi.json").json()["paths"]["/items"]["get"]["parameters"][0]

    assert (schema["schema"]["minimum"], schema["schema"]["maximum"]) == (1, 50)
    assert client.get("/items?limit=50").json() == {"limit": 50}
    assert client.get("/items?limit=51").status_code == 422
    assert client.get("/items?limit=0").status_code == 422


def test_header_and_cookie_parameters_use_their_wire_names(client_for: ClientFactory) -> None:
    app = Ecko()
    setup_openapi(app)

    @app.get("/me")
    def me(
        x_api_key: str = Header(description="Your key"),
        user_agent: str | None = Header(None),
        trace: str = Header("off", alias="X-Trace-Mode", deprecated=True),
        session_id: str = Cookie(),
        theme: str = Cookie("light"),
    ) -> dict[str, str]:
        return {}

    document = fetch_document(client_for, app)

    parameters = document["paths"]["/me"]["get"]["parameters"]
    described = [(p["name"], p["in"], p["required"]) for p in parameters]
    assert described == [
        ("x-api-key", "header", True),
        ("user-agent", "header", False),
        ("x-trace-mode", "header", False),
        ("session_id", "cookie", True),
        ("theme", "cookie", False),
    ]
    assert parameters[0]["description"] == "Your key"
    assert parameters[2]["deprecated"] is True
    assert parameters[4]["schema"] == {"type": "string", "default": "light"}


def test_list_query_parameter_is_an_exploded_array(client_for: ClientFactory) -> None:
    app = Ecko()
    setup_openapi(app)

    @app.get("/filter")
    def filter_items(tag: list[str] = Query([], max_length=3)) -> list[str]:
        return tag

    client = client_for(app)
    parameter = client.get("/openapi.json").json()["paths"]["/filter"]["get"]["parameters"][0]

    assert parameter == {
        "name": "tag",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": True,
        "schema": {"type": "array", "items": {"type": "string"}, "maxItems": 3, "default": []},
    }
    # The documented serialization is the one the plan reads.
    assert client.get("/filter?tag=a&tag=b").json() == ["a", "b"]


def test_tags_summary_description_and_deprecated_come_from_the_route(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    setup_openapi(app, tags=["users", {"name": "admin", "description": "Staff only"}])
    router = Router("/admin", tags=["admin"])

    @router.get("/users", tags=["users"], deprecated=True)
    def list_users() -> list[str]:
        """List every user.

        Sorted by name. Staff only.
        """
        return []

    @app.get("/stats", summary="Statistics", description="Counts per day.")
    def stats() -> dict[str, int]:
        """Ignored: the route's summary and description win."""
        return {}

    @app.get("/plain")
    def plain() -> dict[str, int]:
        return {}

    app.include(router)
    document = fetch_document(client_for, app)

    users = document["paths"]["/admin/users"]["get"]
    assert users["tags"] == ["admin", "users"]
    assert users["summary"] == "List every user."
    assert users["description"] == "Sorted by name. Staff only."
    assert users["deprecated"] is True
    stats_operation = document["paths"]["/stats"]["get"]
    assert (stats_operation["summary"], stats_operation["description"]) == (
        "Statistics",
        "Counts per day.",
    )
    assert "deprecated" not in stats_operation
    assert "tags" not in stats_operation
    plain_operation = document["paths"]["/plain"]["get"]
    assert "summary" not in plain_operation
    assert "description" not in plain_operation
    assert document["tags"] == [
        {"name": "users"},
        {"name": "admin", "description": "Staff only"},
    ]


def test_hidden_routes_websockets_and_the_docs_routes_are_left_out(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    setup_openapi(app)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()

    @app.get("/visible")
    def visible() -> dict[str, str]:
        return {}

    client = client_for(app)
    document = client.get("/openapi.json").json()

    assert list(document["paths"]) == ["/visible"]
    assert client.get("/health").json() == {"status": "ok"}


def test_router_prefix_and_rest_of_path_parameters(client_for: ClientFactory) -> None:
    app = Ecko()
    setup_openapi(app)
    router = Router("/api/v1")

    @router.get("/files/{file_path:path}")
    def read_file(file_path: str) -> str:
        return file_path

    @router.get("/raw/{name}")
    def raw(request: Request) -> dict[str, str]:
        return dict(request.path_params)

    app.include(router)
    client = client_for(app)
    paths = client.get("/openapi.json").json()["paths"]

    assert list(paths) == ["/api/v1/files/{file_path}", "/api/v1/raw/{name}"]
    read = paths["/api/v1/files/{file_path}"]["get"]
    assert read["parameters"] == [
        {"name": "file_path", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    assert read["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    # A template parameter the handler does not declare is still a path parameter.
    raw_operation = paths["/api/v1/raw/{name}"]["get"]
    assert raw_operation["parameters"] == [
        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    assert "422" not in raw_operation["responses"]


def test_path_parameter_with_an_alias_is_named_as_in_the_template(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    setup_openapi(app)

    @app.get("/items/{item_id}")
    def item(identifier: int = Path(alias="item_id", ge=1)) -> dict[str, int]:
        return {"id": identifier}

    operation = fetch_document(client_for, app)["paths"]["/items/{item_id}"]["get"]

    assert operation["parameters"] == [
        {
            "name": "item_id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    ]


def test_validation_response_only_for_routes_that_read_input(client_for: ClientFactory) -> None:
    app = Ecko()
    setup_openapi(app)

    @app.get("/ping")
    def ping(request: Request) -> dict[str, str]:
        return {"pong": request.method}

    @app.get("/echo")
    def echo(text: str) -> dict[str, str]:
        return {"text": text}

    paths = fetch_document(client_for, app)["paths"]

    assert list(paths["/ping"]["get"]["responses"]) == ["200"]
    assert list(paths["/echo"]["get"]["responses"]) == ["200", "422"]


def test_a_real_422_body_matches_the_documented_validation_problem(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    setup_openapi(app)

    @app.post("/users")
    def create_user(user: CreateUser, notify: bool = False) -> User:
        return User(1, user.name)

    client = client_for(app)
    document = client.get("/openapi.json").json()
    response = client.post("/users?notify=maybe", json={"name": "", "email": 3})

    assert response.status_code == 422
    documented = document["paths"]["/users"]["post"]["responses"]["422"]["content"]
    assert list(documented) == [response.headers["content-type"]]
    problem = msgspec.json.decode(response.content, type=ValidationProblem)
    assert problem.status == 422
    assert [error["loc"] for error in problem.errors] == [
        ["query", "notify"],
        ["body", "name"],
        ["body", "email"],
    ]
    schema = document["components"]["schemas"]["ValidationProblem"]
    assert schema["required"] == ["type", "title", "status", "detail", "errors"]
    assert schema["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}
    assert "ProblemDetails" in document["components"]["schemas"]


def test_response_schemas_follow_the_return_annotation(client_for: ClientFactory) -> None:
    app = Ecko()
    setup_openapi(app)

    @app.delete("/users/{user_id}")
    def delete_user(user_id: int) -> None:
        return None

    @app.post("/jobs", status_code=202)
    def start_job() -> None:
        return None

    @app.get("/page")
    def page() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>")

    @app.get("/pair")
    def pair() -> tuple[User, int]:
        return User(1, "a"), 200

    @app.get("/maybe")
    def maybe() -> User | None:
        return None

    @app.get("/download")
    def download() -> bytes:
        return b"data"

    @app.get("/opaque")
    def opaque() -> object:
        return {}

    @app.get("/numbers")
    def numbers() -> dict[str, list[int]]:
        return {}

    client = client_for(app)
    paths = client.get("/openapi.json").json()["paths"]

    def success(path: str, method: str = "get") -> tuple[str, dict[str, Any]]:
        responses = paths[path][method]["responses"]
        status = next(code for code in responses if code != "422")
        return status, responses[status]

    assert success("/users/{user_id}", "delete") == ("204", {"description": "No Content"})
    assert client.delete("/users/1").status_code == 204
    assert success("/jobs", "post") == ("202", {"description": "Accepted"})
    assert client.post("/jobs").status_code == 202
    assert success("/page") == ("200", {"description": "OK", "content": {"text/html": {}}})
    user_ref = {"schema": {"$ref": "#/components/schemas/User"}}
    assert success("/pair") == (
        "200",
        {"description": "OK", "content": {"application/json": user_ref}},
    )
    assert success("/maybe") == (
        "200",
        {"description": "OK", "content": {"application/json": user_ref}},
    )
    assert success("/download")[1]["content"] == {"application/octet-stream": {}}
    assert success("/opaque")[1]["content"] == {"application/json": {"schema": {}}}
    assert success("/numbers")[1]["content"]["application/json"]["schema"] == {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "integer"}},
    }


def test_operation_ids_are_unique(client_for: ClientFactory) -> None:
    app = Ecko()
    setup_openapi(app)
    books, films = Router("/books"), Router("/films")

    @books.get("/")
    def list_items() -> list[str]:
        return []

    @films.get("/")
    def list_items_films() -> list[str]:
        return []

    films.add_route("/all", list_items, ["GET"])

    @app.route("/both", ["GET", "POST"], name="both")
    def both() -> dict[str, str]:
        return {}

    app.include(books)
    app.include(films)
    paths = fetch_document(client_for, app)["paths"]

    ids = [operation["operationId"] for item in paths.values() for operation in item.values()]
    assert ids == ["both_get", "both_post", "list_items", "list_items_films", "list_items_2"]


def test_document_for_many_routes_is_built_once_and_cached(
    client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[int] = []

    def counting_build(app: Ecko[Any], **options: Any) -> dict[str, Any]:
        builds.append(1)
        return build_document(app, **options)

    monkeypatch.setattr("ecko.openapi.build_document", counting_build)
    app = Ecko()
    openapi = setup_openapi(app)
    for number in range(300):

        def handler(item_id: int, q: str | None = None) -> User:
            return User(item_id, q or "")

        app.add_route(f"/resource{number}/{{item_id}}", handler, ["GET"], name=f"get_{number}")
    client = client_for(app)

    first = client.get("/openapi.json")
    second = client.get("/openapi.json")

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert len(first.json()["paths"]) == 300
    assert builds == [1]
    assert openapi.document() is openapi.document()
    assert builds == [1]


def test_document_read_before_serving_includes_routes_added_afterwards(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    openapi = setup_openapi(app)

    @app.get("/first")
    def first() -> dict[str, str]:
        return {}

    early = openapi.document()

    @app.get("/second")
    def second() -> dict[str, str]:
        return {}

    assert list(early["paths"]) == ["/first"]
    assert list(fetch_document(client_for, app)["paths"]) == ["/first", "/second"]


def test_mounted_app_documents_its_root_path_as_server(client_for: ClientFactory) -> None:
    api = Ecko()
    setup_openapi(api, title="Inner")

    @api.get("/items")
    def items() -> list[str]:
        return []

    outer = Ecko()
    outer.mount("/v1", api)
    client = client_for(outer)

    document = client.get("/v1/openapi.json").json()
    page = client.get("/v1/docs").text

    assert document["servers"] == [{"url": "/v1"}]
    assert list(document["paths"]) == ["/items"]
    assert 'url: "/v1/openapi.json"' in page


def test_explicit_servers_and_disabled_docs_page(client_for: ClientFactory) -> None:
    app = Ecko()
    openapi = setup_openapi(
        app,
        docs=None,
        servers=["https://api.example.com", {"url": "https://staging.example.com"}],
    )
    client = client_for(app)

    assert isinstance(openapi, OpenAPI)
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").json()["servers"] == [
        {"url": "https://api.example.com"},
        {"url": "https://staging.example.com"},
    ]


def test_openapi_url_none_serves_nothing_but_builds_the_document(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    openapi = setup_openapi(app, openapi_url=None, docs=None)

    @app.get("/items")
    def items() -> list[str]:
        return []

    client = client_for(app)

    assert client.get("/openapi.json").status_code == 404
    assert list(openapi.document()["paths"]) == ["/items"]


def test_docs_page_without_a_document_is_refused() -> None:
    with pytest.raises(ValueError, match="pass openapi_url or set docs=None"):
        setup_openapi(Ecko(), openapi_url=None)


def rich_app() -> Ecko[Any]:
    app = Ecko()
    setup_openapi(app, title="Rich", version="2.0", tags=["users"], servers=["https://x.test"])
    router = Router("/api", tags=["users"])

    @router.get("/users/{user_id}")
    def get_user(user_id: int, verbose: bool = False) -> User:
        """Fetch a user.

        Longer text.
        """
        return User(user_id, "x")

    @router.post("/users", status_code=201)
    def create_user(user: CreateUser) -> User:
        return User(1, user.name)

    @router.get("/files/{path:path}", deprecated=True)
    def files(path: str, color: Color = Color.RED, tags: list[str] = []) -> bytes:  # noqa: B006 - a default read, never mutated
        return b""

    @app.put("/notes/{note_id}")
    def put_note(
        note_id: int, note: Note = Body(EMPTY_NOTE), x_trace: str | None = Header(None)
    ) -> tuple[Note, int]:
        return note, 200

    @app.route("/multi", ["GET", "POST", "PATCH"])
    def multi(session: str = Cookie("none")) -> None:
        return None

    app.include(router)
    return app


@pytest.mark.parametrize("make_app", [spec_example_app, rich_app])
def test_document_is_valid_openapi_3_1(make_app: Any) -> None:
    validator = pytest.importorskip("openapi_spec_validator", reason="dev extra not installed")
    app: Ecko[Any] = make_app()

    document = build_document(app, title="t", version="1")

    validator.validate(document)
    # The document is plain JSON data: it survives a round trip unchanged.
    assert json.loads(json.dumps(document)) == document


def test_openapi_and_docs_through_a_real_server() -> None:
    with (
        LiveServer("openapi_app:app", cwd=APPS) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        schema = http.get("/openapi.json")
        page = http.get("/docs")
        created = http.post("/users", json={"name": "Ada", "email": "ada@example.com"})

    assert schema.status_code == 200
    document = schema.json()
    assert document["info"]["title"] == "My API"
    assert document["paths"]["/users/{user_id}"]["get"]["description"] == "Get a user by their ID."
    assert document["paths"]["/users"]["post"]["requestBody"]["content"]["application/json"] == {
        "schema": {"$ref": "#/components/schemas/CreateUser"}
    }
    assert "CreateUser" in document["components"]["schemas"]
    assert page.status_code == 200
    assert 'url: "/openapi.json"' in page.text
    assert created.status_code == 201


def test_non_finite_defaults_and_examples_are_left_out_so_the_document_stays_valid() -> None:
    app = Ecko()

    @app.get("/limits")
    def limits(
        upper: float = Query(float("inf"), allow_inf_nan=True, examples=[float("nan"), 1.5]),
    ) -> dict[str, float]:
        return {"upper": upper}

    document = build_document(app, title="T", version="1")
    parameter = document["paths"]["/limits"]["get"]["parameters"][0]
    assert "default" not in parameter["schema"]
    assert [example["value"] for example in parameter.get("examples", {}).values()] == [1.5]
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)
