"""Schemathesis against the todo example's own schema, over a real server: no 500s, no lies."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecko.testing import LiveServer

# Skipped, not failed, where the dev extra is missing; imported again below for their types.
pytest.importorskip("schemathesis", reason="schemathesis (dev extra) not installed")
import hypothesis
import schemathesis

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "examples"
MAX_EXAMPLES = int(os.environ.get("ECKO_SCHEMATHESIS_EXAMPLES", "25"))
# OpenAPI lets a document leave statuses out ("it is not expected for the documentation to
# cover all possible HTTP response codes", 3.1 section 4.8.16): undocumented statuses are
# checked below instead.
EXCLUDED_CHECKS = [schemathesis.checks.status_code_conformance]


@pytest.fixture(scope="module")
def todo_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    env = {"TODO_DB": str(tmp_path_factory.mktemp("todo") / "todo.sqlite3")}
    with LiveServer("todo:app", cwd=EXAMPLES, env=env) as server:
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json")


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_todo_api_answers_as_its_schema_says(todo_schema: Any, mode: str) -> None:
    # Seeded (derandomize) and bounded: MAX_EXAMPLES cases per operation and mode.
    generation_mode = schemathesis.GenerationMode(mode)
    labels: list[str] = []
    for result in todo_schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        if mode == "negative" and not any(
            len(inputs)
            for inputs in (
                operation.path_parameters,
                operation.query,
                operation.headers,
                operation.cookies,
                operation.body,
            )
        ):
            continue

        @hypothesis.given(case=operation.as_strategy(generation_mode=generation_mode))
        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)
            documented = case.operation.definition.raw["responses"]
            if str(response.status_code) not in documented:
                # Undocumented: only the example's own NotFound, in Ecko's problem shape.
                assert response.status_code == 404, (case.operation.label, response.status_code)
                assert response.headers["content-type"] == ["application/problem+json"]
                assert response.json()["status"] == 404

        check()
    assert {
        "GET /todos",
        "POST /todos",
        "GET /todos/{todo_id}",
        "PUT /todos/{todo_id}",
        "DELETE /todos/{todo_id}",
    } <= set(labels)
