"""HTTP errors, exception handlers, the error formatter, unhandled 500s and debug mode."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
import pytest

from ecko import (
    BadRequest,
    Conflict,
    Ecko,
    Forbidden,
    HTMLResponse,
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    Request,
    Response,
    TooManyRequests,
    Unauthorized,
    ValidationError,
)
from ecko.exceptions import FieldError, _FixedStatusError
from tests.conftest import ClientFactory

PROBLEM = "application/problem+json"


# --- HTTP exceptions become problem details -----------------------------------------------------


def test_raise_not_found_gives_a_404_problem_with_the_detail(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/users/{user_id}")
    def get_user(user_id: int) -> dict[str, int]:
        raise NotFound("User not found")

    response = client_for(app).get("/users/1")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "User not found",
    }


@pytest.mark.parametrize(
    ("exception", "status", "title"),
    [
        (BadRequest, 400, "Bad Request"),
        (Unauthorized, 401, "Unauthorized"),
        (Forbidden, 403, "Forbidden"),
        (NotFound, 404, "Not Found"),
        (MethodNotAllowed, 405, "Method Not Allowed"),
        (Conflict, 409, "Conflict"),
        (ValidationError, 422, "Unprocessable Content"),
        (TooManyRequests, 429, "Too Many Requests"),
        (InternalServerError, 500, "Internal Server Error"),
    ],
)
def test_each_http_exception_has_its_status_and_default_detail(
    client_for: ClientFactory, exception: type[_FixedStatusError], status: int, title: str
) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> None:
        raise exception()

    response = client_for(app).get("/")
    assert response.status_code == status
    body = response.json()
    assert (body["status"], body["title"]) == (status, title)
    expected_detail = "Request validation failed" if exception is ValidationError else title
    assert body["detail"] == expected_detail


def test_http_exception_with_status_detail_and_headers(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> None:
        raise HTTPException(503, "Down for maintenance", headers={"Retry-After": "120"})

    response = client_for(app).get("/")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "120"
    assert response.json()["detail"] == "Down for maintenance"
    assert response.json()["title"] == "Service Unavailable"


def test_http_exception_detail_may_be_structured(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> None:
        raise Conflict(detail={"field": "email", "reason": "taken"})

    assert client_for(app).get("/").json()["detail"] == {"field": "email", "reason": "taken"}


def test_raised_http_500_is_not_logged_as_unhandled(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> None:
        raise InternalServerError("Upstream is broken")

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert response.json()["detail"] == "Upstream is broken"
    assert "Unhandled" not in caplog.text


def test_validation_error_lists_its_field_errors(client_for: ClientFactory) -> None:
    app = Ecko()
    errors: list[FieldError] = [{"loc": ["body", "email"], "msg": "Taken", "type": "value_error"}]

    @app.post("/")
    def handler() -> None:
        raise ValidationError(errors)

    body = client_for(app).post("/").json()
    assert body["status"] == 422
    assert body["errors"] == errors


def test_too_many_requests_carries_retry_after(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/")
    def handler() -> None:
        raise TooManyRequests("Slow down", headers={"Retry-After": "5"})

    response = client_for(app).get("/")
    assert (response.status_code, response.headers["retry-after"]) == (429, "5")


# --- exception handlers -------------------------------------------------------------------------


class RateLimitExceeded(Exception):
    pass


def test_exception_handler_for_a_custom_exception(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.exception_handler(RateLimitExceeded)
    def handle_rate_limit(exc: RateLimitExceeded) -> tuple[dict[str, str], int]:
        return {"error": "Too many requests"}, 429

    @app.exception_handler(ValueError)
    def handle_value_error(exc: ValueError) -> tuple[dict[str, str], int]:
        return {"error": str(exc)}, 400

    @app.get("/limited")
    def limited() -> None:
        raise RateLimitExceeded()

    @app.get("/value")
    def value() -> None:
        raise ValueError("not a number")

    client = client_for(app)
    limited_response = client.get("/limited")
    assert (limited_response.status_code, limited_response.json()) == (
        429,
        {"error": "Too many requests"},
    )
    value_response = client.get("/value")
    assert (value_response.status_code, value_response.json()) == (400, {"error": "not a number"})


def test_exception_handler_is_found_along_the_mro(client_for: ClientFactory) -> None:
    app = Ecko()

    class AppError(Exception):
        pass

    class PaymentError(AppError):
        pass

    class CardDeclined(PaymentError):
        pass

    @app.exception_handler(AppError)
    def on_app_error(exc: AppError) -> tuple[dict[str, str], int]:
        return {"handled_by": "AppError", "type": type(exc).__name__}, 400

    @app.exception_handler(PaymentError)
    def on_payment_error(exc: PaymentError) -> tuple[dict[str, str], int]:
        return {"handled_by": "PaymentError", "type": type(exc).__name__}, 402

    @app.get("/{kind}")
    def fail(kind: str) -> None:
        raise {"app": AppError, "payment": PaymentError, "card": CardDeclined}[kind]()

    client = client_for(app)
    assert client.get("/app").json() == {"handled_by": "AppError", "type": "AppError"}
    card = client.get("/card")
    assert card.status_code == 402
    assert card.json() == {"handled_by": "PaymentError", "type": "CardDeclined"}


def test_async_exception_handler_taking_request_and_exc(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.exception_handler(KeyError)
    async def on_key_error(request: Request, exc: KeyError) -> HTMLResponse:
        return HTMLResponse(f"<p>{request.path}: missing {exc.args[0]}</p>", 404)

    @app.get("/lookup")
    async def lookup() -> None:
        raise KeyError("thing")

    response = client_for(app).get("/lookup")
    assert response.status_code == 404
    assert response.text == "<p>/lookup: missing thing</p>"


def test_exception_handler_plain_return_keeps_the_http_status(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.exception_handler(NotFound)
    def on_not_found(exc: NotFound) -> dict[str, Any]:
        return {"missing": exc.detail}

    @app.get("/")
    def handler() -> None:
        raise NotFound("gone")

    response = client_for(app).get("/")
    assert (response.status_code, response.json()) == (404, {"missing": "gone"})


def test_exception_handler_for_a_status_code_also_catches_routing_misses(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.exception_handler(404)
    def not_found(request: Request, exc: HTTPException) -> tuple[dict[str, str], int]:
        return {"error": f"nothing at {request.path}", "detail": str(exc.detail)}, 404

    @app.exception_handler(405)
    def not_allowed(exc: HTTPException) -> Response:
        return Response("no", 405, exc.headers)

    @app.get("/users/{user_id}")
    def get_user(user_id: int) -> dict[str, int]:
        raise NotFound("User not found")

    client = client_for(app)
    miss = client.get("/nowhere")
    assert miss.status_code == 404
    assert miss.json()["error"] == "nothing at /nowhere"
    raised = client.get("/users/3")
    assert raised.json() == {"error": "nothing at /users/3", "detail": "User not found"}
    method = client.post("/users/3")
    assert (method.status_code, method.text) == (405, "no")
    assert method.headers["allow"] == "GET, HEAD, OPTIONS"


def test_status_handler_wins_over_a_class_handler(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.exception_handler(HTTPException)
    def any_http(exc: HTTPException) -> dict[str, str]:
        return {"by": "class"}

    @app.exception_handler(404)
    def not_found(exc: HTTPException) -> dict[str, str]:
        return {"by": "status"}

    @app.get("/conflict")
    def conflict() -> None:
        raise Conflict()

    client = client_for(app)
    assert client.get("/missing").json() == {"by": "status"}
    assert client.get("/conflict").json() == {"by": "class"}
    assert client.get("/conflict").status_code == 409


def test_validation_errors_reach_a_422_handler(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.exception_handler(ValidationError)
    def on_invalid(exc: ValidationError) -> tuple[dict[str, Any], int]:
        return {"invalid": [".".join(str(part) for part in e["loc"]) for e in exc.errors]}, 400

    @app.get("/items")
    def items(limit: int) -> dict[str, int]:
        return {"limit": limit}

    response = client_for(app).get("/items", params={"limit": "many"})
    assert (response.status_code, response.json()) == (400, {"invalid": ["query.limit"]})


def test_failing_exception_handler_is_a_logged_500(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()

    @app.exception_handler(ValueError)
    def broken(exc: ValueError) -> None:
        raise RuntimeError("handler broke")

    @app.get("/")
    def handler() -> None:
        raise ValueError("original")

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert "handler broke" not in response.text
    assert "exception handler" in caplog.text
    assert "handler broke" in caplog.text


def test_exception_handler_with_a_wrong_signature_is_refused() -> None:
    from ecko import RouteDefinitionError

    app = Ecko()

    def no_args() -> None:
        return None

    with pytest.raises(RouteDefinitionError, match=r"must take \(exc\) or \(request, exc\)"):
        app.exception_handler(ValueError)(no_args)


# --- the error formatter ------------------------------------------------------------------------


def _envelope(exc: HTTPException, problem: dict[str, Any]) -> tuple[dict[str, Any], int]:
    return {"error": {"code": problem["status"], "message": problem["detail"]}}, exc.status_code


def test_error_formatter_option_replaces_the_error_shape(client_for: ClientFactory) -> None:
    app = Ecko(error_formatter=_envelope)

    @app.get("/users/{user_id}")
    def get_user(user_id: int) -> None:
        raise NotFound("User not found", headers={"X-Hint": "try 1"})

    client = client_for(app)
    raised = client.get("/users/2")
    assert raised.status_code == 404
    assert raised.headers["content-type"] == "application/json"
    assert raised.headers["x-hint"] == "try 1"
    assert raised.json() == {"error": {"code": 404, "message": "User not found"}}
    miss = client.get("/nope")
    assert miss.json() == {"error": {"code": 404, "message": "No route matches GET /nope"}}
    invalid = client.get("/users/abc")
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == 422
    method = client.delete("/users/2")
    assert method.status_code == 405
    assert method.headers["allow"] == "GET, HEAD, OPTIONS"


def test_error_formatter_decorator_receives_the_exception_and_problem(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    received: list[tuple[type[HTTPException], dict[str, Any]]] = []

    @app.error_formatter
    def formatter(exc: HTTPException, problem: dict[str, Any]) -> str:
        received.append((type(exc), problem))
        return f"error {problem['status']}: {problem['detail']}"

    @app.get("/")
    def handler() -> None:
        raise Forbidden("No entry")

    response = client_for(app).get("/")
    assert response.status_code == 403
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "error 403: No entry"
    assert received == [
        (
            Forbidden,
            {"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "No entry"},
        )
    ]


def test_error_formatter_shapes_errors_of_middleware_too(client_for: ClientFactory) -> None:
    app = Ecko(error_formatter=_envelope)

    async def guard(request: Request, call_next: Any) -> Response:
        raise Unauthorized("Token missing")

    app.use(guard)

    @app.get("/")
    def handler() -> str:
        return "ok"

    response = client_for(app).get("/")
    assert (response.status_code, response.json()) == (
        401,
        {"error": {"code": 401, "message": "Token missing"}},
    )


def test_error_formatter_shapes_unhandled_500s_without_leaking(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[tuple[type[HTTPException], dict[str, Any]]] = []

    def formatter(exc: HTTPException, problem: dict[str, Any]) -> dict[str, Any]:
        received.append((type(exc), problem))
        return {"error": {"code": problem["status"], "message": problem["detail"]}}

    app = Ecko(error_formatter=formatter)

    @app.get("/")
    def handler() -> None:
        raise RuntimeError("secret internals")

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": 500, "message": "The server hit an unexpected error; it has been logged."}
    }
    request_id = response.headers["x-request-id"]
    assert "secret internals" not in response.text
    assert [kind for kind, _ in received] == [InternalServerError]
    assert received[0][1]["request_id"] == request_id
    assert f"Unhandled RuntimeError in GET / [request id {request_id}]" in caplog.text


def test_debug_mode_keeps_the_traceback_even_with_an_error_formatter(
    client_for: ClientFactory,
) -> None:
    app = _exploding_app(debug=True, error_formatter=_envelope)
    body = client_for(app).get("/explode").json()
    assert body["message"] == "password hunter2 rejected"
    assert "traceback" in body


def test_failing_error_formatter_is_a_logged_500(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(exc: HTTPException, problem: dict[str, Any]) -> object:
        raise RuntimeError("formatter broke")

    app = Ecko(error_formatter=broken)
    seen: list[int] = []

    async def middleware(request: Request, call_next: Any) -> Response:
        response: Response = await call_next()
        seen.append(response.status_code)
        return response

    app.use(middleware)

    @app.get("/")
    def handler() -> None:
        raise NotFound()

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert seen == [500]
    assert response.json()["title"] == "Internal Server Error"
    assert "formatter broke" not in response.text
    assert "(error formatter)" in caplog.text
    assert "formatter broke" in caplog.text


def test_error_formatter_failing_on_an_unhandled_500_falls_back_to_problem_details(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(exc: HTTPException, problem: dict[str, Any]) -> object:
        raise RuntimeError("formatter broke")

    response = client_for(_exploding_app(error_formatter=broken)).get("/explode")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "Unhandled DatabaseOnFire" in caplog.text
    assert "Unhandled RuntimeError in GET /explode (error formatter)" in caplog.text


# --- unhandled exceptions -----------------------------------------------------------------------


class DatabaseOnFire(Exception):
    pass


def _exploding_app(**options: Any) -> Ecko[Any]:
    app = Ecko(**options)

    @app.get("/explode")
    def explode() -> None:
        secret = "hunter2"
        raise DatabaseOnFire(f"password {secret} rejected")

    return app


def test_unhandled_exception_is_a_generic_500_without_exception_text(
    client_for: ClientFactory,
) -> None:
    response = client_for(_exploding_app()).get("/explode")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["title"] == "Internal Server Error"
    assert body["status"] == 500
    assert "hunter2" not in response.text
    assert "DatabaseOnFire" not in response.text
    assert "Traceback" not in response.text
    assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"])
    assert response.headers["x-request-id"] == body["request_id"]


def test_unhandled_exception_is_logged_with_traceback_and_request_id(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="ecko"):
        response = client_for(_exploding_app()).get("/explode")
    request_id = response.json()["request_id"]
    [record] = [r for r in caplog.records if r.name.startswith("ecko")]
    assert record.levelno == logging.ERROR
    message = record.getMessage()
    assert "DatabaseOnFire" in message
    assert "GET /explode" in message
    assert request_id in message
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], DatabaseOnFire)
    assert "Traceback (most recent call last)" in caplog.text
    assert "in explode" in caplog.text


def test_client_sent_request_id_is_reused_in_log_and_response(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    response = client_for(_exploding_app()).get("/explode", headers={"X-Request-ID": "abc-123"})
    assert response.json()["request_id"] == "abc-123"
    assert "[request id abc-123]" in caplog.text


def test_debug_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECKO_DEBUG", raising=False)
    assert Ecko().debug is False


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False)])
def test_ecko_debug_environment_variable_turns_debug_on(
    client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("ECKO_DEBUG", value)
    app = _exploding_app()
    assert app.debug is expected
    body = client_for(app).get("/explode").json()
    assert ("traceback" in body) is expected


def test_explicit_debug_false_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECKO_DEBUG", "1")
    assert Ecko(debug=False).debug is False


def test_debug_mode_answers_html_with_the_traceback_to_browsers(
    client_for: ClientFactory,
) -> None:
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = client_for(_exploding_app(debug=True)).get(
        "/explode", headers={"Accept": browser_accept}
    )
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "DatabaseOnFire" in page
    assert "password hunter2 rejected" in page
    assert "Traceback (most recent call last)" in page
    assert "GET /explode" in page
    assert response.headers["x-request-id"] in page


def test_debug_mode_answers_json_with_the_traceback_otherwise(client_for: ClientFactory) -> None:
    client = client_for(_exploding_app(debug=True))
    for accept in ("application/json", "*/*"):
        response = client.get("/explode", headers={"Accept": accept})
        assert response.status_code == 500
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["type"] == "about:blank"
        qualified = f"{DatabaseOnFire.__module__}.DatabaseOnFire"
        assert body["exception"] == qualified
        assert body["message"] == "password hunter2 rejected"
        assert body["detail"] == f"{qualified}: password hunter2 rejected"
        assert body["status"] == 500
        assert body["request_id"] == response.headers["x-request-id"]
        functions = [frame["function"] for frame in body["traceback"]]
        assert functions[-1] == "explode"
        assert "raise DatabaseOnFire" in body["traceback"][-1]["code"]
        assert "Traceback (most recent call last)" in body["traceback_text"]


def test_debug_mode_still_answers_http_errors_as_problems(client_for: ClientFactory) -> None:
    app = Ecko(debug=True)

    @app.get("/")
    def handler() -> None:
        raise NotFound("Not here")

    body = client_for(app).get("/", headers={"Accept": "text/html"}).json()
    assert body == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Not here",
    }


def test_unhandled_exception_skips_after_hooks_but_not_middleware(
    client_for: ClientFactory,
) -> None:
    app = _exploding_app()
    seen: list[str] = []

    @app.after_request
    def after(response: Response) -> Response:
        seen.append(f"after {response.status_code}")
        return response

    async def middleware(request: Request, call_next: Any) -> Response:
        response: Response = await call_next()
        seen.append(f"middleware {response.status_code}")
        return response

    app.use(middleware)
    client_for(app).get("/explode")
    assert seen == ["middleware 500"]


def test_struct_error_detail_is_encoded(client_for: ClientFactory) -> None:
    class Reason(msgspec.Struct):
        code: str

    app = Ecko()

    @app.get("/")
    def handler() -> None:
        raise BadRequest(detail=Reason("E42"))

    assert client_for(app).get("/").json()["detail"] == {"code": "E42"}


def test_status_500_handler_shapes_unhandled_errors_which_are_still_logged(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = Ecko()
    seen: list[BaseException] = []

    @app.exception_handler(500)
    def server_error(exc: Exception) -> tuple[dict[str, str], int]:
        seen.append(exc)
        return {"error": "sorry"}, 500

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    with caplog.at_level(logging.ERROR, logger="ecko.error"):
        answer = client_for(app).get("/boom")
    assert (answer.status_code, answer.json()) == (500, {"error": "sorry"})
    assert isinstance(seen[0], RuntimeError)
    assert "secret detail" in caplog.text


def test_fixed_status_errors_take_any_detail_first() -> None:
    error = Conflict({"field": "email"})
    assert (error.status_code, error.detail) == (409, {"field": "email"})
    assert HTTPException(418, "teapot").status_code == 418


def test_http_exception_refuses_a_status_that_is_not_an_error() -> None:
    with pytest.raises(ValueError, match=r"error status \(400-599\), got 999"):
        HTTPException(999, "nope")
    with pytest.raises(ValueError, match="got 200"):
        HTTPException(200)
