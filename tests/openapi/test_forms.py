"""Form() and File() parameters documented as form request bodies, as the plan reads them."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from ecko import Ecko, File, Form, UploadFile
from ecko.openapi import build_document
from tests.conftest import ClientFactory


class Signup(msgspec.Struct):
    """A sign-up form."""

    name: str
    age: int = 0
    avatar: UploadFile | None = None


def document_of(app: Ecko[Any]) -> dict[str, Any]:
    validator = pytest.importorskip("openapi_spec_validator")
    document = build_document(app, title="T", version="1")
    validator.validate(document)
    return document


def form_app() -> Ecko[Any]:
    app = Ecko()

    @app.post("/login")
    def login(
        username: str = Form(min_length=2, description="Who you are"),
        password: str = Form(),
        remember: bool = Form(False),
    ) -> dict[str, Any]:
        return {"username": username, "remember": remember}

    @app.post("/upload")
    def upload(
        file: UploadFile,
        extra: Annotated[list[UploadFile] | None, File()] = None,
        note: Annotated[str, Form()] = "none",
    ) -> dict[str, Any]:
        return {"name": file.filename, "extra": len(extra or []), "note": note}

    @app.post("/signup")
    def signup(form: Annotated[Signup, Form()]) -> dict[str, Any]:
        return {"name": form.name, "age": form.age}

    return app


def test_text_fields_are_a_urlencoded_or_multipart_body(client_for: ClientFactory) -> None:
    app = form_app()
    body = document_of(app)["paths"]["/login"]["post"]["requestBody"]

    assert body["required"] is True
    assert list(body["content"]) == ["application/x-www-form-urlencoded", "multipart/form-data"]
    schema = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert schema["required"] == ["username", "password"]
    assert schema["properties"]["username"] == {
        "type": "string",
        "minLength": 2,
        "description": "Who you are",
    }
    assert schema["properties"]["remember"] == {"type": "boolean", "default": False}
    # The documented encoding and constraint are the ones the app applies.
    client = client_for(app)
    ok = client.post("/login", data={"username": "ada", "password": "x", "remember": "true"})
    assert ok.json() == {"username": "ada", "remember": True}
    assert client.post("/login", data={"username": "a", "password": "x"}).status_code == 422


def test_files_are_binary_parts_of_a_multipart_body(client_for: ClientFactory) -> None:
    app = form_app()
    operation = document_of(app)["paths"]["/upload"]["post"]
    body = operation["requestBody"]

    assert list(body["content"]) == ["multipart/form-data"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert schema["properties"] == {
        "file": {"type": "string", "format": "binary"},
        "extra": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "note": {"type": "string", "default": "none"},
    }
    assert schema["required"] == ["file"]
    assert "422" in operation["responses"]
    sent = client_for(app).post(
        "/upload",
        files=[("file", ("a.txt", b"a")), ("extra", ("b.txt", b"b")), ("extra", ("c.txt", b"c"))],
    )
    assert sent.json() == {"name": "a.txt", "extra": 2, "note": "none"}


def test_form_model_becomes_one_field_per_attribute() -> None:
    schema = document_of(form_app())["paths"]["/signup"]["post"]["requestBody"]["content"]
    assert list(schema) == ["multipart/form-data"]
    properties = schema["multipart/form-data"]["schema"]

    assert properties["properties"] == {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "avatar": {"type": "string", "format": "binary"},
    }
    assert properties["required"] == ["name"]
