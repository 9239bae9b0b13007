"""Tests for the debug-mode error page, its JSON form and the Accept negotiation between them."""

from __future__ import annotations

import html
import json
import os
import re
import sysconfig
import traceback
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest

import ecko._debug
from ecko._debug import debug_html, debug_json, wants_html
from ecko.serialization import decode_json, encode_json


def _raised_by(function: Callable[[], object]) -> BaseException:
    """Call `function` and return the exception it raises."""
    try:
        function()
    except BaseException as error:  # noqa: BLE001 - handed back for the test to inspect
        return error
    raise AssertionError("expected an exception")


def _page(exc: BaseException) -> str:
    return debug_html(exc, method="GET", path="/items/7", request_id="req-123")


class _FrameCollector(HTMLParser):
    """Collect each rendered frame: its class, whether it is open, and its summary text."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[dict[str, Any]] = []
        self._in_summary = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "details" and "frame" in classes:
            self.frames.append({"classes": classes, "open": "open" in attributes, "summary": ""})
        elif tag == "summary" and self.frames and not self.frames[-1]["summary"]:
            self._in_summary = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "summary":
            self._in_summary = False

    def handle_data(self, data: str) -> None:
        if self._in_summary:
            self.frames[-1]["summary"] += data


def _frames_of(page: str) -> list[dict[str, Any]]:
    collector = _FrameCollector()
    collector.feed(page)
    return collector.frames


def _exception_titles(page: str) -> list[str]:
    found = re.findall(r'<h2 class="exc-title"><span class="exc-type">(.*?)</span>', page)
    return [html.unescape(title) for title in found]


def _current_line(page: str) -> tuple[int, str]:
    """Return the number and plain text of the last highlighted (failing) source line."""
    matches = re.findall(
        r'<div class="line current"><span class="lineno">(\d+)</span><code>(.*?)</code></div>', page
    )
    number, code = matches[-1]
    return int(number), html.unescape(re.sub(r"<[^>]+>", "", code))


def _divide(total: int) -> float:
    marker = "local-value-42"
    return total / (len(marker) - 14)


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class _UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str exploded")


def _raise_unprintable() -> None:
    raise _UnprintableError()


def _fail_with_bad_locals() -> None:
    broken = _BadRepr()
    nested = [1, broken]
    raise RuntimeError(f"failed with {len(nested)} items")


def _fail_with_big_local() -> None:
    big = "x" * 10_000
    raise ValueError(f"got {len(big)} characters")


def _fail_with_markup() -> None:
    error = ValueError("bad <script>alert(1)</script> & more")
    error.add_note("hint: <b>check</b>")
    raise error


def _load_config() -> str:
    settings: dict[str, str] = {}
    try:
        return settings["missing"]
    except KeyError as error:
        raise RuntimeError("config failed") from error


def _context_only() -> None:
    try:
        raise KeyError("first")
    except KeyError:
        raise OSError("cleanup failed")  # noqa: B904 - the implicit context is what is tested


def _suppressed() -> None:
    try:
        raise KeyError("first")
    except KeyError:
        raise OSError("replaced") from None


def _recurse(depth: int) -> int:
    if depth == 0:
        raise ValueError("bottom")
    return _recurse(depth - 1)


def _fail_many() -> None:
    errors: list[Exception] = []
    for text in ("first <a>", "second"):
        try:
            raise ValueError(text)
        except ValueError as error:
            errors.append(error)
    raise ExceptionGroup("several things failed", errors)


def _function_in(filename: str, name: str) -> Callable[[Callable[[], object]], object]:
    """Compile a pass-through function whose code claims to live in `filename`."""
    namespace: dict[str, Any] = {}
    exec(compile(f"def {name}(callback):\n    return callback()\n", filename, "exec"), namespace)
    function: Callable[[Callable[[], object]], object] = namespace[name]
    return function


def test_page_shows_type_escaped_message_notes_and_request() -> None:
    exc = _raised_by(_fail_with_markup)

    page = debug_html(exc, method="POST", path="/search/<img src=x>", request_id="id-<1>")

    assert page.startswith("<!DOCTYPE html>")
    assert "<title>ValueError: bad &lt;script&gt;" in page
    assert "bad &lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "hint: &lt;b&gt;check&lt;/b&gt;" in page
    assert "POST /search/&lt;img src=x&gt;" in page
    assert "id-&lt;1&gt;" in page
    assert "<script" not in page.lower()
    assert "<img" not in page
    assert "<b>" not in page


def test_page_is_self_contained() -> None:
    page = _page(_raised_by(lambda: _divide(1)))

    assert "<style>" in page
    assert re.search(r"\b(src|href)=", page) is None
    assert "<link" not in page


def test_page_shows_failing_source_line_with_its_number_and_locals() -> None:
    exc = _raised_by(lambda: _divide(3))
    innermost = traceback.extract_tb(exc.__traceback__)[-1]

    page = _page(exc)

    assert _current_line(page) == (innermost.lineno, "    return total / (len(marker) - 14)")
    assert "<mark>total / (len(marker) - 14)</mark>" in page
    assert "marker = &quot;local-value-42&quot;" in page  # the line before, as context
    assert '<th scope="row">marker</th><td><code>&#x27;local-value-42&#x27;</code>' in page
    assert '<th scope="row">total</th><td><code>3</code>' in page
    frame = _frames_of(page)[-1]
    assert f"line {innermost.lineno}, in _divide" in frame["summary"]
    assert os.path.abspath(__file__) in frame["summary"]


def test_long_reprs_are_capped() -> None:
    page = _page(_raised_by(_fail_with_big_local))

    [shown] = re.findall(r'<th scope="row">big</th><td><code>(.*?)</code>', page)
    value = html.unescape(shown)
    assert value.startswith("'" + "x" * 50)
    assert "..." in value
    assert 100 < len(value) <= 200
    assert "x" * 300 not in page


def test_a_raising_repr_does_not_break_the_page() -> None:
    page = _page(_raised_by(_fail_with_bad_locals))

    failed = "&lt;repr failed: RuntimeError: repr exploded&gt;"
    assert f'<th scope="row">broken</th><td><code>{failed}</code>' in page
    assert f'<th scope="row">nested</th><td><code>[1, {failed}]</code>' in page
    assert "failed with 2 items" in page


def test_an_unprintable_exception_still_renders() -> None:
    exc = _raised_by(_raise_unprintable)

    page = _page(exc)

    assert "_UnprintableError" in page
    assert "&lt;exception str() failed&gt;" in page
    assert debug_json(exc, request_id="r")["message"] == "<exception str() failed>"


def test_explicit_cause_is_shown_before_the_exception_with_pythons_separator() -> None:
    page = _page(_raised_by(_load_config))

    assert _exception_titles(page) == ["KeyError", "RuntimeError"]
    body = page[page.index("<main>") :]
    separator = "The above exception was the direct cause of the following exception:"
    cause_message = body.index('<p class="exc-message">&#x27;missing&#x27;</p>')
    message = body.index('<p class="exc-message">config failed</p>')
    assert cause_message < body.index(separator) < message


def test_implicit_context_is_shown_with_its_separator() -> None:
    page = _page(_raised_by(_context_only))

    assert _exception_titles(page) == ["KeyError", "OSError"]
    assert "During handling of the above exception, another exception occurred:" in page


def test_suppressed_context_is_not_shown() -> None:
    page = _page(_raised_by(_suppressed))

    assert _exception_titles(page) == ["OSError"]
    assert "During handling" not in page


def test_user_frames_are_open_and_library_frames_collapsed() -> None:
    site_packages = sysconfig.get_paths()["purelib"]
    through_library = _function_in(os.path.join(site_packages, "fakelib", "core.py"), "dispatch")
    ecko_dir = os.path.dirname(os.path.abspath(ecko._debug.__file__))
    through_ecko = _function_in(os.path.join(ecko_dir, "app.py"), "handle")

    def handler() -> object:
        return json.loads("{not json")

    exc = _raised_by(lambda: through_library(lambda: through_ecko(handler)))
    frames = _frames_of(_page(exc))

    def opened(fragment: str) -> list[bool]:
        return [frame["open"] for frame in frames if fragment in frame["summary"]]

    assert opened("in handler") == [True]
    assert opened("in _raised_by") == [True]
    assert opened(os.path.join("fakelib", "core.py")) == [False]
    assert opened(os.path.join(ecko_dir, "app.py")) == [False]
    json_dir = os.path.dirname(json.__file__)
    assert opened(json_dir)
    assert not any(opened(json_dir))
    assert all(("library" in frame["classes"]) != frame["open"] for frame in frames)


def test_deep_recursion_is_collapsed_like_python() -> None:
    exc = _raised_by(lambda: _recurse(20))

    page = _page(exc)

    assert "[Previous line repeated 17 more times]" in "".join(traceback.format_exception(exc))
    assert "[Previous frame repeated 17 more times]" in page
    assert len([frame for frame in _frames_of(page) if "in _recurse" in frame["summary"]]) == 4


def test_exception_group_renders_each_sub_exception() -> None:
    exc = _raised_by(_fail_many)

    page = _page(exc)

    assert _exception_titles(page) == ["ExceptionGroup", "ValueError", "ValueError"]
    assert "several things failed (2 sub-exceptions)" in page
    assert "Sub-exception 1 of 2" in page
    assert "Sub-exception 2 of 2" in page
    assert "first &lt;a&gt;" in page
    assert "first <a>" not in page


def test_an_exception_that_was_never_raised_renders_without_frames() -> None:
    exc = ValueError("never raised")

    assert "this exception was never raised" in _page(exc)
    assert _frames_of(_page(exc)) == []
    assert debug_json(exc, request_id="r")["traceback"] == []


def test_debug_json_describes_the_exception_and_its_traceback() -> None:
    exc = _raised_by(lambda: _divide(5))

    data = debug_json(exc, request_id="req-9")

    assert list(data) == ["type", "message", "request_id", "traceback", "chain", "traceback_text"]
    assert data["type"] == "ZeroDivisionError"
    assert data["message"] == "division by zero"
    assert data["request_id"] == "req-9"
    assert data["chain"] == []
    assert data["traceback_text"] == "".join(traceback.format_exception(exc))
    assert all(set(frame) == {"file", "line", "function", "code"} for frame in data["traceback"])
    innermost = traceback.extract_tb(exc.__traceback__)[-1]
    assert data["traceback"][-1] == {
        "file": __file__,
        "line": innermost.lineno,
        "function": "_divide",
        "code": "return total / (len(marker) - 14)",
    }
    assert decode_json(encode_json(data)) == data


def test_debug_json_lists_the_chain_oldest_first() -> None:
    data = debug_json(_raised_by(_load_config), request_id="r")

    assert data["type"] == "RuntimeError"
    assert data["message"] == "config failed"
    [cause] = data["chain"]
    assert cause["type"] == "KeyError"
    assert cause["message"] == "'missing'"
    assert cause["relation"] == "cause"
    assert cause["traceback"][-1]["code"] == 'return settings["missing"]'
    assert debug_json(_raised_by(_context_only), request_id="r")["chain"][0]["relation"] == (
        "context"
    )


def test_debug_json_includes_exception_group_members() -> None:
    data = debug_json(_raised_by(_fail_many), request_id="r")

    assert data["type"] == "ExceptionGroup"
    assert [(sub["type"], sub["message"]) for sub in data["exceptions"]] == [
        ("ValueError", "first <a>"),
        ("ValueError", "second"),
    ]
    assert data["exceptions"][0]["traceback"][-1]["code"] == "raise ValueError(text)"
    assert decode_json(encode_json(data)) == data


CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (CHROME, True),
        (FIREFOX, True),
        ("TEXT/HTML", True),
        ("text/*", True),
        ("text/html, */*", True),
        ("text/html, */*;q=0.1", True),
        ("application/json;q=0.5, text/html", True),
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/json, text/html", False),
        ("text/html;q=0.5, application/json", False),
        ("application/*, text/html;q=0.9", False),
        ("text/html;q=0", False),
        ("text/html;q=abc", False),
        ("text/html;q=2", False),
        ("garbage", False),
    ],
)
def test_wants_html_follows_the_accept_preference(accept: str | None, expected: bool) -> None:
    assert wants_html(accept) is expected
