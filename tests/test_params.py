from __future__ import annotations

import dataclasses
import enum
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, TypedDict
from uuid import UUID

import msgspec
import pytest

from ecko import Body, Cookie, Ecko, Header, Path, Query, Request, RouteDefinitionError, WebSocket
from ecko.params import Param, ParamField, compile_handler
from ecko.routing import Route
from tests.conftest import ClientFactory


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class CreateUser(msgspec.Struct):
    name: str
    email: str
    age: int | None = None


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Movie(TypedDict):
    title: str
    year: int


class Opaque:
    """A class msgspec can neither build from text nor from JSON."""


class HoldsOpaque(msgspec.Struct):
    inner: list[Opaque]


def errors_of(response: Any) -> list[dict[str, Any]]:
    """Return the 422 problem's `errors`, checking the problem shape on the way."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["type"], problem["status"]) == ("about:blank", 422)
    errors: list[dict[str, Any]] = problem["errors"]
    for error in errors:
        assert set(error) == {"loc", "msg", "type"}
    return errors


def locs(response: Any) -> list[list[Any]]:
    """Return the `loc` of every error in a 422 response."""
    return [error["loc"] for error in errors_of(response)]


# --- where each parameter comes from --------------------------------------------------------


def test_compile_handler_assigns_each_parameter_its_source() -> None:
    def handler(
        user_id: int,
        request: Request,
        user: CreateUser,
        q: str = "",
        tags: list[str] = Query([]),
        token: str = Header(""),
        session: str = Cookie(""),
    ) -> None: ...

    plan = compile_handler(handler, frozenset({"user_id"}), methods=frozenset({"POST"}))
    sources = {field.name: (field.source, field.key) for field in plan.fields}

    assert sources == {
        "user_id": ("path", "user_id"),
        "request": ("request", "request"),
        "user": ("body", "user"),
        "q": ("query", "q"),
        "tags": ("query", "tags"),
        "token": ("header", "token"),
        "session": ("cookie", "session"),
    }
    assert plan.body is not None
    assert plan.body.name == "user"


def test_path_name_query_rest_and_injected_request(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/users/{user_id}")
    def get_user(request: Request, user_id: int, include_posts: bool = False) -> dict[str, Any]:
        return {"id": user_id, "include_posts": include_posts, "path": request.path}

    client = client_for(app)

    assert client.get("/users/42?include_posts=true").json() == {
        "id": 42,
        "include_posts": True,
        "path": "/users/42",
    }
    assert client.get("/users/42").json()["include_posts"] is False


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    ("annotation", "payload", "expected"),
    [
        (dict, {"a": 1}, {"a": 1}),
        (dict[str, int], {"a": 1}, {"a": 1}),
        (list[int], [1, 2], [1, 2]),
        (CreateUser, {"name": "ada", "email": "a@x"}, {"name": "ada", "email": "a@x", "age": None}),
        (Point, {"x": 1}, {"x": 1, "y": 0}),
        (Movie, {"title": "Up", "year": 2009}, {"title": "Up", "year": 2009}),
    ],
)
def test_structured_types_come_from_the_json_body(
    client_for: ClientFactory, method: str, annotation: Any, payload: Any, expected: Any
) -> None:
    app = Ecko()

    def handler(data: Any) -> Any:
        if dataclasses.is_dataclass(data) and not isinstance(data, type):
            return dataclasses.asdict(data)
        return msgspec.to_builtins(data)

    handler.__annotations__["data"] = annotation
    app.add_route("/things", handler, [method])

    response = client_for(app).request(method, "/things", json=payload)

    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_spec_examples_run_as_written(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/users")
    def create_user(data: dict):  # type: ignore[no-untyped-def,type-arg]
        return {"created": data}, 201

    @app.get("/search")
    def search(
        q: str,
        page: int = 1,
        limit: int | None = None,
        tags: list[str] = [],  # noqa: B006 - the spec's own example; copied per request
    ) -> dict[str, Any]:
        return {"query": q, "page": page, "limit": limit, "tags": tags}

    @app.get("/items/{item_id}")
    def get_item(
        item_id: int = Path(description="The item ID"),
        q: str = Query("", description="Search query"),
        token: str = Header(alias="x-api-token"),
    ) -> dict[str, Any]:
        return {"item_id": item_id, "query": q}

    client = client_for(app)
    created = client.post("/users", json={"name": "ada"})

    assert (created.status_code, created.json()) == (201, {"created": {"name": "ada"}})
    assert client.get("/search?q=x&tags=a&tags=b").json() == {
        "query": "x",
        "page": 1,
        "limit": None,
        "tags": ["a", "b"],
    }
    item = client.get("/items/3?q=hi", headers={"X-API-Token": "t"})
    assert item.json() == {"item_id": 3, "query": "hi"}
    assert locs(client.get("/items/3")) == [["header", "x-api-token"]]


def test_list_on_get_is_a_repeated_query_key(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/filter")
    def filter_items(ids: list[int], names: list[str] | None = None) -> dict[str, Any]:
        return {"ids": ids, "names": names}

    client = client_for(app)

    assert client.get("/filter?ids=1&ids=2&ids=2").json() == {"ids": [1, 2, 2], "names": None}
    assert client.get("/filter?ids=1&names=a").json() == {"ids": [1], "names": ["a"]}
    assert locs(client.get("/filter")) == [["query", "ids"]]


def test_query_marker_reads_a_list_from_the_query_on_post(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/tag")
    def tag(tags: list[str] = Query([]), body: dict[str, int] | None = None) -> dict[str, Any]:
        return {"tags": tags, "body": body}

    client = client_for(app)

    assert client.post("/tag?tags=a&tags=b", json={"n": 1}).json() == {
        "tags": ["a", "b"],
        "body": {"n": 1},
    }
    assert client.post("/tag").json() == {"tags": [], "body": None}


# --- markers ----------------------------------------------------------------------------------


def test_markers_take_values_from_their_source(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/items/{item_id}")
    def update(
        item_id: int = Path(),
        q: str = Query(),
        x_trace: str = Header(),
        session: str = Cookie(),
        count: int = Body(),
    ) -> dict[str, Any]:
        return {"item_id": item_id, "q": q, "trace": x_trace, "session": session, "count": count}

    response = client_for(app).post(
        "/items/5?q=find",
        headers={"X-Trace": "t-1", "Cookie": "session=abc; other=1"},
        json=7,
    )

    assert response.json() == {
        "item_id": 5,
        "q": "find",
        "trace": "t-1",
        "session": "abc",
        "count": 7,
    }


def test_markers_apply_defaults_when_absent(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/defaults")
    def defaults(
        q: str = Query("none"),
        x_trace: str = Header("no-trace"),
        theme: str = Cookie("light"),
        count: int = Body(10),
    ) -> dict[str, Any]:
        return {"q": q, "trace": x_trace, "theme": theme, "count": count}

    assert client_for(app).post("/defaults").json() == {
        "q": "none",
        "trace": "no-trace",
        "theme": "light",
        "count": 10,
    }


def test_alias_names_the_value_on_the_wire(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/things/{id}")
    def thing(
        thing_id: str = Path(alias="id"),
        search: str = Query(alias="q"),
        token: str = Header(alias="X-API-Token"),
        sid: str = Cookie(alias="session-id"),
    ) -> dict[str, str]:
        return {"thing_id": thing_id, "search": search, "token": token, "sid": sid}

    client = client_for(app)
    response = client.get(
        "/things/t1?q=hello", headers={"x-api-token": "tok", "Cookie": "session-id=s1"}
    )

    assert response.json() == {"thing_id": "t1", "search": "hello", "token": "tok", "sid": "s1"}
    assert locs(client.get("/things/t1?search=hello")) == [
        ["query", "q"],
        ["header", "x-api-token"],
        ["cookie", "session-id"],
    ]


def test_header_name_defaults_to_dashes_and_is_case_insensitive(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.get("/agent")
    def agent(user_agent: str = Header(), x_request_id: str | None = Header(None)) -> list[Any]:
        return [user_agent, x_request_id]

    client = client_for(app)

    assert client.get("/agent", headers={"User-Agent": "probe/1"}).json() == ["probe/1", None]
    assert client.get("/agent", headers={"X-REQUEST-ID": "r-9"}).json() == ["testclient", "r-9"]


def test_repeated_header_fills_a_list(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/forwarded")
    def forwarded(x_forwarded_for: list[str] = Header([])) -> list[str]:
        return x_forwarded_for

    client = client_for(app)
    headers = [("X-Forwarded-For", "10.0.0.1"), ("x-forwarded-for", "10.0.0.2")]

    assert client.get("/forwarded", headers=headers).json() == ["10.0.0.1", "10.0.0.2"]
    assert client.get("/forwarded").json() == []


def test_marker_docs_are_kept_on_the_compiled_field() -> None:
    app = Ecko()

    @app.get("/docs")
    def documented(
        page: Annotated[
            int, Query(description="Page number", examples=[1, 2], deprecated=True)
        ] = 1,
    ) -> None: ...

    (route,) = app.routes
    assert isinstance(route, Route)
    (field,) = route.plan.fields
    assert isinstance(field, ParamField)
    assert field.description == "Page number"
    assert field.marker is not None
    assert field.marker.deprecated is True
    assert field.marker.examples == [1, 2]
    assert field.default == 1
    meta = field.annotation.__metadata__[0]
    assert isinstance(meta, msgspec.Meta)
    assert (meta.description, meta.examples) == ("Page number", [1, 2])


@pytest.mark.parametrize("style", ["default", "annotated"])
@pytest.mark.parametrize(
    ("marker", "annotation", "good", "bad", "message"),
    [
        (Query(ge=1), int, "1", "0", "Expected `int` >= 1"),
        (Query(gt=1), int, "2", "1", "Expected `int` >= 2"),  # msgspec says ints as >=
        (Query(le=10), int, "10", "11", "Expected `int` <= 10"),
        (Query(lt=10), float, "9.5", "10", "Expected `float` < 10"),
        (Query(min_length=2), str, "ab", "a", "Expected `str` of length >= 2"),
        (Query(max_length=3), str, "abc", "abcd", "Expected `str` of length <= 3"),
        (Query(pattern="^[a-z]+$"), str, "abc", "ab1", "Expected `str` matching regex"),
    ],
)
def test_constraints_are_enforced(
    client_for: ClientFactory,
    style: str,
    marker: Param,
    annotation: type,
    good: str,
    bad: str,
    message: str,
) -> None:
    app = Ecko()

    def handler(value: Any) -> dict[str, Any]:
        return {"value": value}

    if style == "default":
        handler.__annotations__["value"] = annotation
        handler.__defaults__ = (marker,)
    else:
        handler.__annotations__["value"] = Annotated[annotation, marker]
    app.add_route("/c", handler)
    client = client_for(app)

    assert client.get("/c", params={"value": good}).json() == {"value": annotation(good)}
    (error,) = errors_of(client.get("/c", params={"value": bad}))
    assert error["loc"] == ["query", "value"]
    assert message in error["msg"]
    assert error["type"] == "value_error"


def test_constraints_apply_to_path_header_and_cookie_values(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/pages/{page}")
    def page(
        page: int = Path(ge=1),
        x_code: str = Header("aa", pattern="^[a-z]{2}$"),
        lang: str = Cookie("en", max_length=2),
    ) -> list[Any]:
        return [page, x_code, lang]

    client = client_for(app)

    assert client.get("/pages/2", headers={"x-code": "zz"}).json() == [2, "zz", "en"]
    bad = client.get("/pages/0", headers={"x-code": "ZZZ", "Cookie": "lang=english"})
    assert locs(bad) == [["path", "page"], ["header", "x-code"], ["cookie", "lang"]]


def test_list_constraints_bound_the_length_and_each_item(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/scores")
    def scores(values: list[int] = Query([], max_length=2, ge=0)) -> list[int]:
        return values

    client = client_for(app)

    assert client.get("/scores?values=1&values=2").json() == [1, 2]
    (too_many,) = errors_of(client.get("/scores?values=1&values=2&values=3"))
    assert too_many["loc"] == ["query", "values"]
    (negative,) = errors_of(client.get("/scores?values=1&values=-1"))
    assert negative["loc"] == ["query", "values", 1]


# --- coercion -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "raw", "expected"),
    [
        (str, "hello world", "hello world"),
        (int, "-42", -42),
        (float, "2.5", 2.5),
        (float, "3", 3.0),
        (Decimal, "1.10", Decimal("1.10")),
        (
            UUID,
            "12345678-1234-5678-1234-567812345678",
            UUID("12345678-1234-5678-1234-567812345678"),
        ),
        (datetime, "2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (date, "2024-02-29", date(2024, 2, 29)),
        (time, "13:45:00", time(13, 45)),
        (timedelta, "P1DT2H", timedelta(days=1, hours=2)),
        (Color, "blue", Color.BLUE),
        (Priority, "2", Priority.HIGH),
        (Literal["asc", "desc"], "desc", "desc"),
        (int | None, "5", 5),
        (bool | None, "on", True),
    ],
)
def test_query_text_is_coerced_to_the_annotation(
    client_for: ClientFactory, annotation: Any, raw: str, expected: Any
) -> None:
    app = Ecko()
    received: list[Any] = []

    def handler(value: Any) -> str:
        received.append(value)
        return "ok"

    handler.__annotations__["value"] = annotation
    app.add_route("/coerce", handler)

    response = client_for(app).get("/coerce", params={"value": raw})

    assert response.status_code == 200, response.text
    assert received == [expected]
    assert type(received[0]) is type(expected)


@pytest.mark.parametrize(
    ("annotation", "raw"),
    [
        (int, "ten"),
        (float, "1.5.2"),
        (Decimal, "one"),
        (UUID, "not-a-uuid"),
        (datetime, "yesterday"),
        (date, "2024-02-30"),
        (time, "25:00"),
        (Color, "green"),
        (Literal["asc", "desc"], "up"),
        (int | None, "none"),
    ],
)
def test_text_that_does_not_fit_the_annotation_is_422(
    client_for: ClientFactory, annotation: Any, raw: str
) -> None:
    app = Ecko()

    def handler(value: Any) -> None: ...

    handler.__annotations__["value"] = annotation
    app.add_route("/coerce", handler)

    (error,) = errors_of(client_for(app).get("/coerce", params={"value": raw}))
    assert error["loc"] == ["query", "value"]
    assert error["type"] in ("type_error", "value_error")


def test_optional_without_default_is_none_when_absent(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/opt")
    def optional(limit: int | None, when: date | None = None) -> list[Any]:
        return [limit, when]

    client = client_for(app)

    assert client.get("/opt").json() == [None, None]
    assert client.get("/opt?limit=3&when=2024-01-01").json() == [3, "2024-01-01"]


@pytest.mark.parametrize(
    ("annotation", "raw", "expected"),
    [
        (list[int], ["3", "1", "3"], [3, 1, 3]),
        (tuple[int, ...], ["3", "1", "3"], [3, 1, 3]),
        (set[int], ["3", "1", "3"], [1, 3]),
        (frozenset[int], ["3", "1", "3"], [1, 3]),
        (list[Color], ["red", "blue"], ["red", "blue"]),
        (list[bool], ["yes", "off"], [True, False]),
        (tuple[int, str], ["1", "one"], [1, "one"]),
    ],
)
def test_repeated_keys_fill_collections(
    client_for: ClientFactory, annotation: Any, raw: list[str], expected: list[Any]
) -> None:
    app = Ecko()

    def handler(values: Any) -> Any:
        return sorted(values) if isinstance(values, (set, frozenset)) else list(values)

    handler.__annotations__["values"] = annotation
    app.add_route("/collect", handler)

    assert client_for(app).get("/collect", params={"values": raw}).json() == expected


def test_defaults_are_honoured(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/defaults")
    def defaults(
        page: int = 1,
        ratio: float = 0.5,
        order: Literal["asc", "desc"] = "asc",
        color: Color = Color.RED,
        since: date = date(2000, 1, 1),
        ids: tuple[int, ...] = (1, 2),
    ) -> list[Any]:
        return [page, ratio, order, color.value, since.isoformat(), list(ids)]

    client = client_for(app)

    assert client.get("/defaults").json() == [1, 0.5, "asc", "red", "2000-01-01", [1, 2]]
    assert client.get("/defaults?page=3&ids=9").json() == [3, 0.5, "asc", "red", "2000-01-01", [9]]


def test_mutable_default_is_never_shared_between_requests(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/tags")
    def tags_view(
        tags: list[str] = [],  # noqa: B006 - the behaviour under test
        extra: list[int] = Query([]),
    ) -> dict[str, list[Any]]:
        tags.append("mutated")
        extra.append(0)
        return {"tags": tags, "extra": extra}

    @app.post("/body")
    def body_view(data: dict[str, int] = {}) -> dict[str, int]:  # noqa: B006 - under test
        data["n"] = data.get("n", 0) + 1
        return data

    client = client_for(app)

    assert client.get("/tags").json() == {"tags": ["mutated"], "extra": [0]}
    assert client.get("/tags").json() == {"tags": ["mutated"], "extra": [0]}
    assert client.get("/tags?tags=a").json() == {"tags": ["a", "mutated"], "extra": [0]}
    assert client.post("/body").json() == {"n": 1}
    assert client.post("/body").json() == {"n": 1}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("YES", True),
        ("on", True),
        ("On", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("NO", False),
        ("off", False),
        ("OFF", False),
    ],
)
def test_bool_accepts_common_words_case_insensitively(
    client_for: ClientFactory, raw: str, expected: bool
) -> None:
    app = Ecko()

    @app.get("/flag")
    def flag(on: bool, many: list[bool] = Query([])) -> list[Any]:
        return [on, many]

    assert client_for(app).get("/flag", params={"on": raw, "many": [raw, raw]}).json() == [
        expected,
        [expected, expected],
    ]


@pytest.mark.parametrize("raw", ["2", "", "maybe", "tru", "y"])
def test_bool_refuses_other_words(client_for: ClientFactory, raw: str) -> None:
    app = Ecko()

    @app.get("/flag")
    def flag(on: bool) -> bool:
        return on

    assert locs(client_for(app).get("/flag", params={"on": raw})) == [["query", "on"]]


@pytest.mark.parametrize(
    "raw",
    [
        "1_000",
        "\u0661\u0662\u0663",  # ARABIC-INDIC DIGITS, which int() would take
        "\uff11\uff12",  # FULLWIDTH DIGITS, likewise
        "1" * 5000,
        "12.5",
        "0x10",
        "",
    ],
)
def test_int_refuses_underscores_foreign_digits_and_absurd_lengths(
    client_for: ClientFactory, raw: str
) -> None:
    app = Ecko()

    @app.get("/n")
    def number(n: int) -> int:
        return n

    (error,) = errors_of(client_for(app).get("/n", params={"n": raw}))
    assert error["loc"] == ["query", "n"]


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "+Infinity", "infinity"])
def test_float_refuses_nan_and_inf_by_default(client_for: ClientFactory, raw: str) -> None:
    app = Ecko()

    @app.get("/x")
    def x(value: float, values: list[float] = Query([])) -> float:
        return value

    client = client_for(app)

    assert locs(client.get("/x", params={"value": raw})) == [["query", "value"]]
    assert locs(client.get("/x", params={"value": "1", "values": ["2", raw]})) == [
        ["query", "values"]
    ]


def test_float_accepts_nan_and_inf_when_allowed(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/x")
    def x(value: float = Query(allow_inf_nan=True)) -> str:
        return repr(value)

    client = client_for(app)

    assert client.get("/x?value=nan").text == "nan"
    assert client.get("/x?value=-inf").text == "-inf"
    assert client.get("/x?value=1.5").text == "1.5"


def test_huge_float_is_refused_not_turned_into_inf(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/x")
    def x(value: float) -> float:
        return value

    assert locs(client_for(app).get("/x?value=1e400")) == [["query", "value"]]


# --- errors -----------------------------------------------------------------------------------


def test_every_bad_field_is_listed(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/orders/{order_id}")
    def update(
        order_id: int,
        user: CreateUser,
        page: int = 1,
        sort: Literal["asc", "desc"] = "asc",
        x_version: int = Header(),
        region: str = Cookie(),
    ) -> None: ...

    response = client_for(app).post(
        "/orders/abc?page=x&sort=sideways",
        headers={"x-version": "v2"},
        json={"name": 5, "email": "a@x", "age": "old"},
    )

    assert locs(response) == [
        ["path", "order_id"],
        ["query", "page"],
        ["query", "sort"],
        ["header", "x-version"],
        ["cookie", "region"],
        ["body", "name"],
        ["body", "age"],
    ]
    by_loc = {tuple(error["loc"]): error for error in errors_of(response)}
    assert by_loc["query", "page"]["msg"] == "Expected `int`, got `str`"
    assert by_loc["query", "page"]["type"] == "type_error"
    assert by_loc["cookie", "region"] == {
        "loc": ["cookie", "region"],
        "msg": "Field required",
        "type": "missing",
    }


def test_missing_required_body_fields_are_each_listed(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/users")
    def create(user: CreateUser) -> None: ...

    errors = errors_of(client_for(app).post("/users", json={"age": 3}))

    assert errors == [
        {"loc": ["body", "name"], "msg": "Field required", "type": "missing"},
        {"loc": ["body", "email"], "msg": "Field required", "type": "missing"},
    ]


def test_nested_body_error_points_into_the_document(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/batch")
    def batch(users: list[CreateUser]) -> None: ...

    (error,) = errors_of(
        client_for(app).post("/batch", json=[{"name": "a", "email": "b"}, {"name": "c"}])
    )

    assert error["loc"] == ["body", 1]
    assert "email" in error["msg"]


def test_missing_required_body_is_422(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/users")
    def create(user: CreateUser) -> None: ...

    assert errors_of(client_for(app).post("/users")) == [
        {"loc": ["body"], "msg": "A JSON request body is required", "type": "missing"}
    ]


def test_optional_body_may_be_omitted(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/maybe")
    def maybe(user: CreateUser | None = None) -> bool:
        return user is None

    assert client_for(app).post("/maybe").json() is True


@pytest.mark.parametrize(
    ("body", "position"),
    [
        (b'{"name": x}', 9),
        (b'{"name" "ada"}', 8),
        (b'{"name": "ada",}', 15),
        (b'{"name": "a", "email": "e"} x', 29),
        (b'{"name": "ada"', 14),
    ],
)
def test_malformed_json_is_422_naming_the_byte(
    client_for: ClientFactory, body: bytes, position: int
) -> None:
    app = Ecko()

    @app.post("/users")
    def create(user: CreateUser) -> None: ...

    response = client_for(app).post(
        "/users", content=body, headers={"content-type": "application/json"}
    )

    (error,) = errors_of(response)
    assert error["loc"] == ["body"]
    assert error["type"] == "json_invalid"
    assert error["msg"].startswith("Invalid JSON: ")
    assert f"(byte {position})" in error["msg"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ],
)
def test_json_under_a_wrong_content_type_is_415(
    client_for: ClientFactory, content_type: str
) -> None:
    app = Ecko()

    @app.post("/users")
    def create(user: CreateUser) -> None: ...

    response = client_for(app).post(
        "/users", content=b'{"name": "a", "email": "b"}', headers={"content-type": content_type}
    )

    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Unsupported Media Type"


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "application/merge-patch+json"],
)
def test_json_content_types_and_none_are_accepted(
    client_for: ClientFactory, content_type: str | None
) -> None:
    app = Ecko()

    @app.patch("/users")
    def patch(user: CreateUser) -> str:
        return user.name

    headers = {"content-type": content_type} if content_type else {}
    response = client_for(app).patch(
        "/users", content=b'{"name": "a", "email": "b"}', headers=headers
    )

    assert (response.status_code, response.text) == (200, "a")


@pytest.mark.parametrize("annotation", [list[Any], Any, dict[str, Any], CreateUser])
def test_deeply_nested_json_is_a_clean_422(client_for: ClientFactory, annotation: Any) -> None:
    app = Ecko(max_body_size=None)

    def handler(data: Any = Body()) -> None: ...

    handler.__annotations__["data"] = annotation
    app.add_route("/deep", handler, ["POST"])
    client = client_for(app, raise_server_exceptions=False)

    for body in (b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000):
        response = client.post("/deep", content=body, headers={"content-type": "application/json"})
        (error,) = errors_of(response)
        assert error["loc"] == ["body"]


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe",
        b'{"name": "\xff", "email": "x"}',
        b'{"name": 1, "email": "\xc3\x28"}',
    ],
)
def test_invalid_utf8_body_is_a_clean_422(client_for: ClientFactory, body: bytes) -> None:
    app = Ecko()

    @app.post("/users")
    def create(user: CreateUser) -> None: ...

    response = client_for(app, raise_server_exceptions=False).post(
        "/users", content=body, headers={"content-type": "application/json"}
    )

    (error,) = errors_of(response)
    assert error["loc"] == ["body"]
    assert error["type"] == "json_invalid"
    assert re.search(r"\(byte \d+\)", error["msg"])


def test_invalid_utf8_body_error_names_the_bad_byte(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/any")
    def anything(data: dict[str, Any]) -> None: ...

    response = client_for(app).post(
        "/any", content=b'{"k": "ok\xff"}', headers={"content-type": "application/json"}
    )

    (error,) = errors_of(response)
    assert error["msg"] == "Invalid JSON: the body is not valid UTF-8 (byte 9)"


# --- registration errors ------------------------------------------------------------------------


def refused(path: str, handler: Any, methods: tuple[str, ...] = ("GET",)) -> str:
    """Register `handler` and return the RouteDefinitionError message it raises."""
    app = Ecko()
    with pytest.raises(RouteDefinitionError) as caught:
        app.add_route(path, handler, methods)
    return str(caught.value)


def test_struct_param_on_get_is_refused() -> None:
    def handler(user: CreateUser) -> None: ...

    message = refused("/users", handler)
    assert "'user' would be read from the JSON body" in message
    assert "GET requests carry none" in message


@pytest.mark.parametrize(("stars", "kind"), [("*", "args"), ("**", "kwargs")])
def test_star_parameters_are_refused(stars: str, kind: str) -> None:
    def star_args(*args: int) -> None: ...

    def star_kwargs(**kwargs: int) -> None: ...

    handler = star_args if kind == "args" else star_kwargs
    assert f"takes {stars}{kind}; handlers declare each parameter by name" in refused("/x", handler)


def test_positional_only_parameter_is_refused() -> None:
    def handler(page: int, /) -> None: ...

    assert "positional-only" in refused("/x", handler)


def test_unresolvable_forward_reference_is_refused() -> None:
    def handler(user: NotDefinedAnywhere) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    message = refused("/x", handler, ("POST",))
    assert "Cannot read the type hints" in message
    assert "NotDefinedAnywhere" in message


def test_path_marker_without_a_template_param_is_refused() -> None:
    def handler(item_id: int = Path()) -> None: ...

    message = refused("/items", handler)
    assert "'item_id' is marked Path() but the route path has no {item_id}" in message


def test_path_marker_alias_must_name_a_template_param() -> None:
    def handler(item_id: int = Path(alias="id")) -> None: ...

    assert "has no {id}" in refused("/items/{item_id}", handler)


def test_two_body_params_are_refused() -> None:
    def handler(user: CreateUser, extra: dict[str, Any]) -> None: ...

    message = refused("/users", handler, ("POST",))
    assert "reads 'user', 'extra' from the JSON body" in message


@pytest.mark.parametrize(
    ("annotation", "complaint"),
    [
        (complex, "complex is not built from text"),
        (Opaque, "Opaque is not built from text"),
        (bytes, "bytes is not built from text"),
        (list[CreateUser], "struct is not built from text"),
        (list[list[int]], "list is not built from text"),
        (int | Opaque, "Opaque"),
    ],
)
def test_unsupported_text_param_types_are_refused(annotation: Any, complaint: str) -> None:
    def handler(value: Any) -> None: ...

    handler.__annotations__["value"] = annotation
    message = refused("/x", handler)

    assert "parameter 'value'" in message
    assert complaint in message
    if complaint.endswith("is not built from text"):
        assert "use str, int, float, bool, Decimal, UUID, datetime" in message


def test_structured_type_from_query_or_header_is_refused() -> None:
    def from_query(filters: dict[str, str] = Query()) -> None: ...

    def from_header(meta: Point = Header()) -> None: ...

    assert "cannot come from the query" in refused("/x", from_query)
    assert "cannot come from the header" in refused("/x", from_header)


def test_list_from_path_or_cookie_is_refused() -> None:
    def from_path(ids: list[int]) -> None: ...

    def from_cookie(ids: list[int] = Cookie()) -> None: ...

    assert "cannot be read from the path" in refused("/x/{ids}", from_path)
    assert "cannot be read from the cookie" in refused("/x", from_cookie)


def test_body_of_an_opaque_class_is_refused() -> None:
    def whole(data: Opaque = Body()) -> None: ...

    def nested(data: HoldsOpaque) -> None: ...

    assert "uses Opaque, which JSON cannot be decoded into" in refused("/x", whole, ("POST",))
    assert "uses Opaque" in refused("/x", nested, ("POST",))


def test_constraint_that_does_not_fit_the_type_is_refused() -> None:
    def pattern_on_int(value: int = Query(pattern="^1")) -> None: ...

    def bound_is_text(value: Annotated[int, Query(ge="one")]) -> None: ...

    assert "Can only set `pattern` on a str type" in refused("/x", pattern_on_int)
    assert "`ge` must be an int or float" in refused("/x", bound_is_text)


def test_websocket_param_on_http_route_is_refused() -> None:
    def handler(ws: WebSocket) -> None: ...

    assert "register it with @app.websocket(path)" in refused("/x", handler)


def test_body_param_on_a_websocket_route_is_refused() -> None:
    app = Ecko()

    async def chat(ws: WebSocket, message: CreateUser = Body()) -> None: ...

    with pytest.raises(RouteDefinitionError, match="WebSocket handlers have no request body"):
        app.websocket("/chat")(chat)


def test_unannotated_and_object_params_read_plain_text(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/loose")
    def loose(a, b: object = "dflt") -> list[Any]:  # type: ignore[no-untyped-def]
        return [a, b]

    assert client_for(app).get("/loose?a=1").json() == ["1", "dflt"]


def test_ellipsis_default_in_a_marker_means_required(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler(token: str = Header(...), page: int = Query(...)) -> dict[str, Any]:
        return {"token": token, "page": page}

    client = client_for(app)
    missing = client.get("/")
    assert missing.status_code == 422
    assert [error["loc"] for error in missing.json()["errors"]] == [
        ["header", "token"],
        ["query", "page"],
    ]
    assert client.get("/?page=2", headers={"token": "t"}).json() == {"token": "t", "page": 2}


def test_types_local_to_the_registering_function_resolve_under_future_annotations(
    client_for: ClientFactory,
) -> None:
    # This module uses `from __future__ import annotations`: the hint is the string "Point".
    class Point(msgspec.Struct):
        x: int
        y: int

    app = Ecko()

    @app.post("/points")
    def create(point: Point) -> dict[str, int]:
        return {"sum": point.x + point.y}

    assert client_for(app).post("/points", json={"x": 1, "y": 2}).json() == {"sum": 3}
