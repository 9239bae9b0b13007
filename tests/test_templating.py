"""Jinja2 templates: rendering, autoescape, url_for and context, async, debug page, install hint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ecko import Ecko, HTMLResponse, MissingDependencyError
from ecko.templating import Templates
from tests.conftest import ClientFactory

TEMPLATES = Path(__file__).parent / "templates"


@pytest.fixture
def templates() -> Templates:
    return Templates(TEMPLATES)


def test_render_returns_an_html_response_with_url_for_and_context(
    client_for: ClientFactory, templates: Templates
) -> None:
    app = Ecko()

    @app.get("/items/{item_id}")
    def show_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/hello/{user}")
    def hello(user: str) -> HTMLResponse:
        return templates.render("index.html", user=user)

    response = client_for(app).get("/hello/ada")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Hello ada</title>" in response.text
    assert '<a href="/items/7">item</a>' in response.text
    assert "<p>/hello/ada</p>" in response.text


def test_url_for_includes_the_root_path(client_for: ClientFactory, templates: Templates) -> None:
    app = Ecko()

    @app.get("/items/{item_id}")
    def show_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/page")
    async def page() -> HTMLResponse:
        return templates.render("index.html", user="x")

    response = client_for(app, root_path="/shop").get("/shop/page")
    assert '<a href="/shop/items/7">item</a>' in response.text


def test_values_are_escaped_in_html_and_xml_but_not_in_text(
    client_for: ClientFactory, templates: Templates
) -> None:
    app = Ecko()
    attack = "<script>alert(1)</script>"

    @app.get("/html")
    def html() -> HTMLResponse:
        return templates.render("extra/only_here.html", value=attack)

    @app.get("/xml")
    def xml() -> HTMLResponse:
        return templates.render("feed.xml", title=attack, media_type="application/xml")

    @app.get("/text")
    def text() -> HTMLResponse:
        return templates.render("notes.txt", text="<b>", media_type="text/plain")

    client = client_for(app)
    assert "&lt;script&gt;" in client.get("/html").text
    xml_response = client.get("/xml")
    assert xml_response.headers["content-type"] == "application/xml"
    assert "&lt;script&gt;" in xml_response.text
    assert client.get("/text").text.strip() == "<b>"
    string_template = templates.environment.from_string("{{ value }}")
    assert string_template.render(value="<i>") == "&lt;i&gt;"


def test_status_code_and_headers_are_applied(client_for: ClientFactory) -> None:
    app = Ecko()
    templates = Templates(str(TEMPLATES))

    @app.get("/missing")
    def missing() -> HTMLResponse:
        return templates.render(
            "extra/only_here.html", value="gone", status_code=404, headers={"x-page": "1"}
        )

    response = client_for(app).get("/missing")
    assert response.status_code == 404
    assert response.headers["x-page"] == "1"
    assert "second folder gone" in response.text


def test_several_directories_are_searched_in_order() -> None:
    templates = Templates([TEMPLATES / "extra", TEMPLATES])
    assert templates.get_template("only_here.html").render(value=1) == "<p>second folder 1</p>"
    assert "Ecko" in templates.get_template("base.html").render()


def test_filters_and_globals_can_be_registered() -> None:
    templates = Templates(TEMPLATES, globals={"site_name": "Ecko"})

    @templates.filter()
    def shout(text: str) -> str:
        return text.upper() + "!"

    @templates.filter("whisper")
    def lower(text: str) -> str:
        return text.lower()

    assert templates.get_template("shout.html").render(word="hi") == "HI! Ecko"
    templates.globals["site_name"] = "Renamed"
    assert templates.get_template("shout.html").render(word="a") == "A! Renamed"
    assert templates.filters["whisper"]("LOUD") == "loud"
    assert templates.environment.from_string("{{ 'AB' | whisper }}").render() == "ab"


def test_async_templates_render_with_render_async(client_for: ClientFactory) -> None:
    app = Ecko()
    templates = Templates(TEMPLATES, enable_async=True)

    async def await_value() -> str:
        return "awaited"

    @app.get("/async")
    async def page() -> HTMLResponse:
        return await templates.render_async("awaits.html", await_value=await_value)

    @app.get("/wrong")
    async def wrong() -> HTMLResponse:
        return templates.render("awaits.html")

    client = client_for(app, raise_server_exceptions=False)
    assert client.get("/async").text.strip() == "awaited"
    assert client.get("/wrong").status_code == 500
    with pytest.raises(RuntimeError, match="render_async"):
        templates.render("awaits.html")


def test_render_async_needs_enable_async(templates: Templates) -> None:
    import asyncio

    with pytest.raises(RuntimeError, match="enable_async=True"):
        asyncio.run(templates.render_async("shout.html"))


def test_url_for_outside_a_request_says_what_to_do(templates: Templates) -> None:
    template = templates.environment.from_string("{{ url_for('home') }}")
    with pytest.raises(RuntimeError, match="needs a request"):
        template.render()


def test_missing_jinja2_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)  # an import of it now fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'ecko\[templates\]'"):
        Templates(TEMPLATES)


def test_template_error_in_debug_mode_shows_the_template_line(
    client_for: ClientFactory, templates: Templates
) -> None:
    app = Ecko(debug=True)

    class Item:
        def explode(self) -> str:
            raise ValueError("the item exploded")

    @app.get("/broken")
    def broken() -> HTMLResponse:
        return templates.render("broken.html", item=Item())

    @app.get("/syntax")
    def syntax() -> HTMLResponse:
        return templates.render("syntax_error.html")

    client = client_for(app, raise_server_exceptions=False)
    page = client.get("/broken", headers={"accept": "text/html"})
    assert page.status_code == 500
    assert "the item exploded" in page.text
    assert str(TEMPLATES / "broken.html") in page.text
    assert "{{ item.explode() }}" in page.text  # the template's own source line
    details = client.get("/broken", headers={"accept": "application/json"}).json()
    frames = [frame for frame in details["traceback"] if frame["file"].endswith("broken.html")]
    assert [(frame["line"], frame["code"]) for frame in frames] == [
        (3, "<p>{{ item.explode() }}</p>")
    ]
    page = client.get("/syntax", headers={"accept": "text/html"})
    assert "TemplateSyntaxError" in page.text
    assert str(TEMPLATES / "syntax_error.html") in page.text
    assert "{% if %}" in page.text
