"""Operations in the document: responses, bodies, operationId, summary and description."""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

import msgspec
import pytest

from ecko import Ecko, NotFound, Router
from ecko.openapi import ProblemDetails, build_document, setup_openapi
from tests.conftest import ClientFactory

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}


class User(msgspec.Struct):
    """A stored user."""

    id: int
    name: str


class Missing(msgspec.Struct):
    """What GET /users/{id} answers for an unknown id."""

    message: str


@dataclasses.dataclass
class Address:
    """A postal address."""

    street: str
    city: str = "Paris"


class Tag(TypedDict):
    """A label."""

    label: str


def document_of(app: Ecko[Any]) -> dict[str, Any]:
    validator = pytest.importorskip("openapi_spec_validator")
    document = build_document(app, title="T", version="1")
    validator.validate(document)
    return document


def test_responses_option_adds_documented_statuses(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get(
        "/users/{user_id}",
        responses={
            404: Missing,
            410: "The user left",
            409: None,
            429: {
                "description": "Slow down",
                "headers": {"retry-after": {"schema": {"type": "integer"}}},
            },
            403: {"description": "Not yours", "model": ProblemDetails},
        },
    )
    def get_user(user_id: int) -> User:
        if user_id == 0:
            raise NotFound("gone")
        return User(user_id, "Ada")

    responses = document_of(app)["paths"]["/users/{user_id}"]["get"]["responses"]

    assert list(responses) == ["200", "403", "404", "409", "410", "422", "429"]
    assert responses["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/User"
    }
    assert responses["404"] == {
        "description": "Not Found",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Missing"}}},
    }
    # A description alone documents Ecko's own error body for that status.
    assert responses["410"] == {
        "description": "The user left",
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }
    assert responses["409"] == {"description": "Conflict"}
    assert responses["429"] == {
        "description": "Slow down",
        "headers": {"retry-after": {"schema": {"type": "integer"}}},
    }
    assert responses["403"] == {
        "description": "Not yours",
        "content": {"application/problem+json": {"schema": PROBLEM_REF}},
    }


def test_responses_option_replaces_the_success_status_description() -> None:
    app = Ecko()

    @app.post("/users", status_code=201, responses={201: {"description": "Created", "model": User}})
    def create_user() -> dict[str, Any]:
        return {"id": 1, "name": "Ada"}

    responses = document_of(app)["paths"]["/users"]["post"]["responses"]

    assert responses == {
        "201": {
            "description": "Created",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}},
        }
    }


def test_return_annotations_list_tuple_and_optional(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/users")
    def list_users() -> list[User]:
        return [User(1, "Ada")]

    @app.post("/users", status_code=201)
    def create_user() -> tuple[User, int]:
        return User(2, "Bo"), 201

    @app.get("/users/first")
    def first_user() -> User | None:
        return None

    client = client_for(app)
    paths = document_of(app)["paths"]

    assert paths["/users"]["get"]["responses"]["200"]["content"]["application/json"] == {
        "schema": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}
    }
    assert list(paths["/users"]["post"]["responses"]) == ["201"]
    # `X | None` may answer 204: returning None sends an empty 204.
    assert list(paths["/users/first"]["get"]["responses"]) == ["200", "204"]
    assert client.get("/users/first").status_code == 204
    assert client.post("/users").status_code == 201


def test_dataclass_typeddict_and_dict_bodies() -> None:
    app = Ecko()

    @app.post("/addresses")
    def add_address(address: Address) -> Address:
        return address

    @app.put("/tags")
    def put_tags(tag: Tag) -> Tag:
        return tag

    @app.patch("/settings")
    def patch_settings(settings: dict[str, int]) -> dict[str, int]:
        return settings

    document = document_of(app)
    paths, schemas = document["paths"], document["components"]["schemas"]

    def body(path: str, method: str) -> Any:
        return paths[path][method]["requestBody"]["content"]["application/json"]["schema"]

    assert body("/addresses", "post") == {"$ref": "#/components/schemas/Address"}
    assert schemas["Address"]["required"] == ["street"]
    assert schemas["Address"]["properties"]["city"] == {"type": "string", "default": "Paris"}
    assert body("/tags", "put") == {"$ref": "#/components/schemas/Tag"}
    assert schemas["Tag"]["required"] == ["label"]
    assert body("/settings", "patch") == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }


def test_operation_id_option_and_stable_deduplication() -> None:
    app = Ecko()
    books, films = Router("/books"), Router("/films")

    @books.get("/")
    def list_items() -> list[str]:
        return []

    @films.get("/", operation_id="listFilms")
    def list_films() -> list[str]:
        return []

    @films.get("/all")
    def list_items_again() -> list[str]:
        return []

    films.add_route("/copy", list_items, ["GET"])
    app.include(books)
    app.include(films)

    def ids() -> list[str]:
        document = build_document(app, title="T", version="1")
        return [op["operationId"] for item in document["paths"].values() for op in item.values()]

    assert ids() == ["list_items", "listFilms", "list_items_again", "list_items_2"]
    assert ids() == ids()


def test_summary_is_the_docstrings_first_line_and_description_the_rest() -> None:
    app = Ecko()

    def wrapped() -> None:
        pass

    # A first paragraph wrapped over two lines (set here: the linter wants one-line summaries).
    wrapped.__doc__ = """List the orders of a customer.
        Only open ones, newest first.

        Paginated by `page`.
        """
    app.add_route("/wrapped", wrapped)

    @app.get("/single")
    def single() -> None:
        """Say hello."""

    paths = document_of(app)["paths"]

    assert paths["/wrapped"]["get"]["summary"] == "List the orders of a customer."
    assert paths["/wrapped"]["get"]["description"] == (
        "Only open ones, newest first.\n\nPaginated by `page`."
    )
    # A one-line docstring is both: "docstrings become descriptions".
    assert paths["/single"]["get"]["summary"] == "Say hello."
    assert paths["/single"]["get"]["description"] == "Say hello."


def test_setup_openapi_hides_its_own_routes_from_the_document(client_for: ClientFactory) -> None:
    app = Ecko()
    setup_openapi(app, docs="swagger")

    assert client_for(app).get("/openapi.json").json()["paths"] == {}
