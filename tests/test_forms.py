"""Forms: urlencoded and multipart bodies, Form()/File() parameters, uploads and the limits."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ecko import Ecko, File, Form, Request, RouteDefinitionError, UploadFile
from ecko.forms import FormData, FormLimits
from tests.conftest import ClientFactory

BOUNDARY = "XyZ-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def part(headers: str, content: bytes = b"") -> bytes:
    """Build one multipart part: its header lines, a blank line, the content."""
    return f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + content + b"\r\n"


def field(name: str, value: str) -> bytes:
    return part(f'Content-Disposition: form-data; name="{name}"', value.encode())


def end() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


def form_app() -> Ecko[Any]:
    app = Ecko()

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        form = await request.form()
        return {
            key: [v if isinstance(v, str) else f"file:{v.filename}" for v in form.getlist(key)]
            for key in form
        }

    return app


# -- Form() fields ------------------------------------------------------------------------


def test_form_fields_are_coerced_like_query_params(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/signup")
    def signup(
        name: str = Form(),
        age: int = Form(),
        tags: list[str] = Form([]),
        subscribe: bool = Form(False),
    ) -> dict[str, Any]:
        return {"name": name, "age": age, "tags": tags, "subscribe": subscribe}

    client = client_for(app)
    data = {"name": "Ada", "age": "36", "tags": ["a", "b"], "subscribe": "on"}
    expected = {"name": "Ada", "age": 36, "tags": ["a", "b"], "subscribe": True}
    assert client.post("/signup", data=data).json() == expected
    # The same fields in a multipart body.
    response = client.post("/signup", data=data, files={"unused": ("x.txt", b"x")})
    assert response.json() == expected


def test_invalid_and_missing_form_fields_return_422_naming_each(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.post("/signup")
    def signup(name: str = Form(), age: int = Form(ge=0)) -> str:
        return name

    response = client_for(app).post("/signup", data={"age": "-1"})

    assert response.status_code == 422
    assert [(error["loc"], error["type"]) for error in response.json()["errors"]] == [
        (["form", "name"], "missing"),
        (["form", "age"], "value_error"),
    ]


def test_empty_form_inputs_count_as_not_given(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/search")
    def search(q: str = Form(), page: int | None = Form(None)) -> dict[str, Any]:
        return {"q": q, "page": page}

    client = client_for(app)
    assert client.post("/search", data={"q": "x", "page": ""}).json() == {"q": "x", "page": None}
    assert client.post("/search", data={"q": ""}).json()["errors"][0]["loc"] == ["form", "q"]


def test_form_field_alias_and_non_finite_floats(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/price")
    def price(amount: float = Form(alias="amount-eur")) -> float:
        return amount

    client = client_for(app)
    assert client.post("/price", data={"amount-eur": "2.5"}).json() == 2.5
    response = client.post("/price", data={"amount-eur": "nan"})
    assert response.json()["errors"][0]["loc"] == ["form", "amount-eur"]


class Signup(msgspec.Struct):
    name: str
    age: int
    tags: list[str] = []
    subscribe: bool = False


@dataclasses.dataclass
class Contact:
    email: str
    message: str = ""


def test_struct_parameter_is_filled_from_the_whole_form(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/signup")
    def signup(form: Signup = Form()) -> Signup:
        return form

    data = {"name": "Ada", "age": "36", "tags": ["x", "y"], "subscribe": "yes"}
    assert client_for(app).post("/signup", data=data).json() == {
        "name": "Ada",
        "age": 36,
        "tags": ["x", "y"],
        "subscribe": True,
    }


def test_form_model_errors_name_every_bad_field(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/signup")
    def signup(form: Signup = Form()) -> Signup:
        return form

    response = client_for(app).post("/signup", data={"age": "old"})

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [
        ["form", "name"],
        ["form", "age"],
    ]


def test_dataclass_parameter_is_filled_from_the_form(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/contact")
    def contact(form: Contact = Form()) -> dict[str, str]:
        return dataclasses.asdict(form)

    response = client_for(app).post("/contact", data={"email": "a@b.c"})
    assert response.json() == {"email": "a@b.c", "message": ""}


class Upload(msgspec.Struct):
    title: str
    document: UploadFile
    extras: list[UploadFile] = []


class Address(msgspec.Struct):
    city: str


class Nested(msgspec.Struct):
    address: Address


def test_form_model_can_hold_files_beside_query_params(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/documents")
    async def documents(form: Upload = Form(), draft: bool = False) -> dict[str, Any]:
        return {
            "title": form.title,
            "document": (await form.document.read()).decode(),
            "extras": [extra.filename for extra in form.extras],
            "draft": draft,
        }

    files = [("document", ("d.txt", b"body")), ("extras", ("e1", b"")), ("extras", ("e2", b""))]
    response = client_for(app).post("/documents?draft=true", data={"title": "T"}, files=files)
    assert response.json() == {
        "title": "T",
        "document": "body",
        "extras": ["e1", "e2"],
        "draft": True,
    }


def test_form_model_with_nested_objects_is_refused() -> None:
    app = Ecko()

    with pytest.raises(RouteDefinitionError, match=r"'form\.address'"):

        @app.post("/nested")
        def nested(form: Nested = Form()) -> str:
            return ""


def test_json_body_on_a_form_route_is_415(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/signup")
    def signup(name: str = Form()) -> str:
        return name

    response = client_for(app).post("/signup", json={"name": "Ada"})

    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]


def test_form_route_without_body_reports_missing_fields(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/signup")
    def signup(name: str = Form()) -> str:
        return name

    response = client_for(app).post("/signup")
    assert response.json()["errors"][0]["loc"] == ["form", "name"]


def test_form_parameters_are_refused_where_no_form_can_come(client_for: ClientFactory) -> None:
    app = Ecko()

    with pytest.raises(RouteDefinitionError, match="form body"):

        @app.get("/search")
        def search(q: str = Form()) -> str:
            return q

    with pytest.raises(RouteDefinitionError, match="one body"):

        @app.post("/both")
        def both(data: dict[str, int], name: str = Form()) -> str:
            return name

    with pytest.raises(RouteDefinitionError, match="UploadFile"):

        @app.post("/upload")
        def upload(file: str = File()) -> str:
            return file

    with pytest.raises(RouteDefinitionError, match="cannot be filled from a form"):

        @app.post("/nested")
        def nested(value: dict[str, int] = Form()) -> str:
            return ""


# -- Files ---------------------------------------------------------------------------------


def test_upload_file_parameter_reads_the_file(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/upload")
    async def upload(avatar: UploadFile, title: str = Form()) -> dict[str, Any]:
        first = await avatar.read(2)
        rest = await avatar.read()
        await avatar.seek(0)
        again = await avatar.read()
        return {
            "title": title,
            "filename": avatar.filename,
            "content_type": avatar.content_type,
            "header": avatar.headers["content-disposition"],
            "size": avatar.size,
            "parts": [first.decode(), rest.decode(), again.decode()],
        }

    files = {"avatar": ("me.png", b"hello", "image/png")}
    response = client_for(app).post("/upload", data={"title": "Me"}, files=files)

    assert response.json() == {
        "title": "Me",
        "filename": "me.png",
        "content_type": "image/png",
        "header": 'form-data; name="avatar"; filename="me.png"',
        "size": 5,
        "parts": ["he", "llo", "hello"],
    }


def test_list_of_upload_files_takes_every_file(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/photos")
    async def photos(photos: list[UploadFile] = File()) -> list[str]:
        return [f"{photo.filename}:{(await photo.read()).decode()}" for photo in photos]

    files = [("photos", ("a.txt", b"A")), ("photos", ("b.txt", b"B"))]
    assert client_for(app).post("/photos", files=files).json() == ["a.txt:A", "b.txt:B"]


def test_optional_file_is_none_when_absent_or_not_chosen(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/profile")
    def profile(name: str = Form(), avatar: UploadFile | None = None) -> dict[str, Any]:
        return {"name": name, "avatar": avatar.filename if avatar else None}

    client = client_for(app)
    assert client.post("/profile", data={"name": "a"}).json() == {"name": "a", "avatar": None}
    # A browser sends an empty part with filename="" when no file was chosen.
    body = field("name", "a") + part(
        'Content-Disposition: form-data; name="avatar"; filename=""\r\n'
        "Content-Type: application/octet-stream"
    )
    response = client.post("/profile", content=body + end(), headers={"content-type": MULTIPART})
    assert response.json() == {"name": "a", "avatar": None}


def test_missing_or_text_file_returns_422(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/upload")
    def upload(document: UploadFile) -> str:
        return document.filename or ""

    client = client_for(app)
    missing = client.post("/upload", files={"other": ("x", b"x")}).json()["errors"][0]
    assert (missing["loc"], missing["type"]) == (["form", "document"], "missing")
    text = client.post("/upload", data={"document": "not a file"}).json()["errors"][0]
    assert (text["loc"], text["msg"]) == (["form", "document"], "Expected a file, got a text field")


def test_upload_is_spooled_to_disk_past_the_threshold_and_saved(
    client_for: ClientFactory, tmp_path: Path
) -> None:
    app = Ecko()
    seen: list[UploadFile] = []

    @app.before_request
    def small_spool(request: Request) -> None:
        request.form_limits = FormLimits(spool_threshold=1024)

    @app.post("/upload")
    async def upload(small: UploadFile, large: UploadFile) -> dict[str, Any]:
        seen.extend([small, large])
        await large.read(10)
        await large.save(tmp_path / "large.bin")
        return {"small": small.in_memory, "large": large.in_memory, "at": await large.seek(0, 1)}

    content = bytes(range(256)) * 64
    files = {"small": ("s.bin", b"s" * 100), "large": ("l.bin", content)}
    response = client_for(app).post("/upload", files=files)

    assert response.json() == {"small": True, "large": False, "at": 10}
    assert (tmp_path / "large.bin").read_bytes() == content
    assert all(upload.file.closed for upload in seen)  # closed once the response was sent


def test_upload_file_write_appends_and_counts(tmp_path: Path) -> None:
    import asyncio

    async def scenario() -> tuple[bytes, int]:
        upload = UploadFile(filename="n.txt", spool_threshold=4)
        await upload.write(b"ab")
        await upload.write(b"cdef")  # crosses the threshold: rolled over in the threadpool
        await upload.seek(0)
        data = await upload.read()
        size = upload.size
        await upload.close()
        await upload.close()  # closing twice is harmless
        return data, size

    assert asyncio.run(scenario()) == (b"abcdef", 6)


def test_disk_writes_and_reads_run_in_the_threadpool() -> None:
    import asyncio
    import io
    import threading

    threads: list[str] = []

    class RecordingFile(io.BytesIO):
        def write(self, data: Any, /) -> int:
            threads.append(threading.current_thread().name)
            return super().write(data)

        def read(self, size: int | None = -1, /) -> bytes:
            threads.append(threading.current_thread().name)
            return super().read(size)

    async def scenario() -> bytes:
        upload = UploadFile(RecordingFile(), filename="disk.bin")
        await upload.write(b"on disk")
        await upload.seek(0)
        return await upload.read()

    assert asyncio.run(scenario()) == b"on disk"
    assert len(threads) == 2
    assert all(name.startswith("ecko-sync") for name in threads)


# -- request.form() ---------------------------------------------------------------------


def test_request_form_returns_the_raw_multi_dict_once(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        form = await request.form()
        again = await request.form()
        doc = form["doc"]
        assert isinstance(doc, UploadFile)
        return {
            "same": form is again,
            "tags": form.getlist("tag"),
            "last": form["tag"],
            "doc": doc.filename,
            "files": len(form.files()),
            "texts": form.getlist("doc", str),
        }

    response = client_for(app).post(
        "/raw", data={"tag": ["a", "b"]}, files={"doc": ("d.txt", b"d")}
    )
    assert response.json() == {
        "same": True,
        "tags": ["a", "b"],
        "last": "b",
        "doc": "d.txt",
        "files": 1,
        "texts": [],
    }


def test_form_data_is_a_read_only_multi_dict() -> None:
    form = FormData([("a", "1"), ("b", "2"), ("a", "3")])

    assert dict(form) == {"a": "3", "b": "2"}
    assert form.getlist("a") == ["1", "3"]
    assert form.multi_items() == [("a", "1"), ("b", "2"), ("a", "3")]
    assert len(form) == 2
    assert "FormData" in repr(form)


def test_urlencoded_values_are_percent_decoded(client_for: ClientFactory) -> None:
    body = b"name=caf%C3%A9+au+lait&empty=&flag&a%26b=c%3Dd"
    response = client_for(form_app()).post(
        "/raw", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.json() == {
        "name": ["café au lait"],
        "empty": [""],
        "flag": [""],
        "a&b": ["c=d"],
    }


def test_request_stream_yields_the_body_once(client_for: ClientFactory) -> None:
    app = Ecko(max_body_size=10)

    @app.post("/stream")
    async def stream(request: Request) -> dict[str, Any]:
        chunks = [chunk async for chunk in request.stream()]
        try:
            await request.body()
        except RuntimeError as error:
            return {"body": b"".join(chunks).decode(), "again": str(error)}
        return {}

    client = client_for(app)
    assert client.post("/stream", content=b"0123456789").json() == {
        "body": "0123456789",
        "again": "The request body was already consumed by request.stream() or request.form()",
    }
    assert client.post("/stream", content=b"0123456789a").status_code == 413


def test_non_form_body_to_request_form_is_415(client_for: ClientFactory) -> None:
    response = client_for(form_app()).post(
        "/raw", content=b"hi", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415


# -- Bad input -----------------------------------------------------------------------------


def post_multipart(
    client_for: ClientFactory,
    body: bytes,
    content_type: str = MULTIPART,
    app: Ecko[Any] | None = None,
) -> tuple[int, str]:
    response = client_for(app or form_app()).post(
        "/raw", content=body, headers={"content-type": content_type}
    )
    assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code, response.json()["detail"]


def test_missing_boundary_is_400(client_for: ClientFactory) -> None:
    status, detail = post_multipart(client_for, field("a", "1") + end(), "multipart/form-data")
    assert (status, detail) == (
        400,
        "The multipart/form-data Content-Type has no boundary parameter",
    )


def test_invalid_boundary_is_400(client_for: ClientFactory) -> None:
    status, detail = post_multipart(client_for, b"x", "multipart/form-data; boundary=" + "b" * 71)
    assert status == 400
    assert detail.startswith(f"The multipart boundary {'b' * 71!r} is invalid")
    status, detail = post_multipart(client_for, b"x", 'multipart/form-data; boundary="a\x7fb"')
    assert status == 400


def test_body_not_starting_with_the_boundary_is_400(client_for: ClientFactory) -> None:
    status, detail = post_multipart(client_for, b"--other\r\n\r\nvalue\r\n--other--\r\n")
    assert status == 400
    assert detail.startswith("The multipart body is malformed")


def test_truncated_body_is_400(client_for: ClientFactory) -> None:
    body = field("a", "1") + part('Content-Disposition: form-data; name="b"', b"cut sho")[:-2]
    status, detail = post_multipart(client_for, body)
    assert status == 400
    assert detail.startswith("The multipart body is truncated")


def test_part_without_content_disposition_is_400(client_for: ClientFactory) -> None:
    status, detail = post_multipart(client_for, part("Content-Type: text/plain", b"x") + end())
    assert (status, detail) == (400, "Part 1 of the form has no Content-Disposition header")


def test_part_without_a_name_is_400(client_for: ClientFactory) -> None:
    body = field("a", "1") + part("Content-Disposition: form-data", b"x") + end()
    status, detail = post_multipart(client_for, body)
    assert status == 400
    assert detail.startswith("Part 2 of the form is not")


def test_field_that_is_not_utf8_is_400(client_for: ClientFactory) -> None:
    body = part('Content-Disposition: form-data; name="a"', b"\xff\xfe") + end()
    assert post_multipart(client_for, body) == (400, "The form field 'a' is not valid UTF-8")


def test_adversarial_field_content_parses_in_linear_time(client_for: ClientFactory) -> None:
    # Near-boundaries and bare CRs make the parser look closer at every byte.
    content = b"\r\n--" + BOUNDARY[:-1].encode() + b"\r" * 1000
    body = part('Content-Disposition: form-data; name="a"', content * 900) + end()
    started = time.perf_counter()
    response = client_for(form_app()).post(
        "/raw", content=body, headers={"content-type": MULTIPART}
    )
    assert response.status_code == 200
    assert time.perf_counter() - started < 2


def test_huge_part_header_is_413(client_for: ClientFactory) -> None:
    header = 'Content-Disposition: form-data; name="a"\r\nX-Padding: ' + "p" * 20_000
    status, detail = post_multipart(client_for, part(header, b"x") + end())
    assert status == 413
    assert detail == "The headers of part 1 exceed the limit of 8192 bytes"


def test_part_with_too_many_headers_is_413(client_for: ClientFactory) -> None:
    lines = "\r\n".join(f"X-{index}: v" for index in range(20))
    body = part(f'Content-Disposition: form-data; name="a"\r\n{lines}', b"x") + end()
    assert post_multipart(client_for, body) == (413, "Part 1 of the form has too many headers")


def test_part_headers_are_limited_in_total(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.post("/raw")
    async def raw(request: Request) -> int:
        return len(await request.form(FormLimits(max_part_header_size=120)))

    lines = "\r\n".join(f"X-{index}: {'v' * 30}" for index in range(3))
    body = part(f'Content-Disposition: form-data; name="a"\r\n{lines}', b"x") + end()
    status, detail = post_multipart(client_for, body, app=app)
    assert (status, detail) == (413, "The headers of part 1 exceed the limit of 120 bytes")


def test_thousands_of_tiny_parts_are_refused_quickly(client_for: ClientFactory) -> None:
    body = b"".join(field(f"f{index}", "") for index in range(20_000)) + end()
    started = time.perf_counter()
    app = Ecko(max_body_size=None)

    @app.post("/raw")
    async def raw(request: Request) -> int:
        return len(await request.form())

    status, detail = post_multipart(client_for, body, app=app)
    assert (status, detail) == (413, "The form has more than 1000 parts")
    assert time.perf_counter() - started < 2


def limited_app(**limits: Any) -> Ecko[Any]:
    app = Ecko()

    @app.post("/raw")
    async def raw(request: Request) -> int:
        return len(await request.form(FormLimits(**limits)))

    return app


def test_too_many_fields_is_413(client_for: ClientFactory) -> None:
    body = field("a", "1") + field("b", "2") + field("c", "3") + end()
    status, detail = post_multipart(client_for, body, app=limited_app(max_fields=2))
    assert (status, detail) == (413, "The form has more than 2 fields")
    client = client_for(limited_app(max_fields=2))
    response = client.post("/raw", data={"a": "1", "b": "2", "c": "3"})
    assert (response.status_code, response.json()["detail"]) == (
        413,
        "The form has more than 2 fields",
    )


def test_too_many_files_is_413(client_for: ClientFactory) -> None:
    files = [("f", (f"{index}.txt", b"x")) for index in range(3)]
    response = client_for(limited_app(max_files=2)).post("/raw", files=files)
    assert (response.status_code, response.json()["detail"]) == (
        413,
        "The form has more than 2 files",
    )


def test_too_many_parts_is_413(client_for: ClientFactory) -> None:
    files = [("f", ("x.txt", b"x"))]
    response = client_for(limited_app(max_parts=2)).post(
        "/raw", data={"a": "1", "b": "2"}, files=files
    )
    assert (response.status_code, response.json()["detail"]) == (
        413,
        "The form has more than 2 parts",
    )


def test_oversized_field_is_413(client_for: ClientFactory) -> None:
    client = client_for(limited_app(max_field_size=10))
    response = client.post("/raw", data={"note": "x" * 11}, files={"f": ("f", b"f" * 50)})
    assert (response.status_code, response.json()["detail"]) == (
        413,
        "Form field 'note' exceeds the limit of 10 bytes",
    )
    response = client.post("/raw", data={"note": "x" * 11})
    assert (response.status_code, response.json()["detail"]) == (
        413,
        "A form field exceeds the limit of 10 bytes",
    )


def test_oversized_file_is_413(client_for: ClientFactory) -> None:
    client = client_for(limited_app(max_file_size=100))
    assert client.post("/raw", files={"f": ("f", b"x" * 100)}).json() == 1
    response = client.post("/raw", files={"f": ("f", b"x" * 101)})
    assert (response.status_code, response.json()["detail"]) == (
        413,
        "File 'f' exceeds the limit of 100 bytes",
    )


def test_body_over_max_body_size_is_413(client_for: ClientFactory) -> None:
    app = Ecko(max_body_size=1000)

    @app.post("/upload")
    def upload(file: UploadFile) -> int:
        return file.size

    client = client_for(app)
    assert client.post("/upload", files={"file": ("f", b"x" * 500)}).json() == 500
    response = client.post("/upload", files={"file": ("f", b"x" * 1000)})
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body exceeds the limit of 1000 bytes"
