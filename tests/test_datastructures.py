from __future__ import annotations

from typing import Any

import pytest

from ecko import URL, BadRequest, Headers, MutableHeaders, QueryParams, State
from ecko.datastructures import check_header_text, parse_query_string

# --- Headers ----------------------------------------------------------------------------------


def raw_headers() -> Headers:
    return Headers(
        [
            (b"content-type", b"application/json"),
            (b"X-Forwarded-For", b"10.0.0.1"),
            (b"x-forwarded-for", b"10.0.0.2"),
            (b"x-latin", "caf\xe9".encode("latin-1")),
        ]
    )


def test_headers_are_case_insensitive_and_return_the_last_value() -> None:
    headers = raw_headers()

    assert headers["Content-Type"] == "application/json"
    assert headers["x-forwarded-for"] == "10.0.0.2"
    assert headers.get("X-FORWARDED-FOR") == "10.0.0.2"
    assert headers.getlist("X-Forwarded-For") == ["10.0.0.1", "10.0.0.2"]
    assert headers["x-latin"] == "caf\xe9"


def test_headers_report_absence() -> None:
    headers = raw_headers()

    assert headers.get("missing") is None
    assert headers.get("missing", "fallback") == "fallback"
    assert headers.getlist("missing") == []
    assert "CONTENT-TYPE" in headers
    assert "missing" not in headers
    not_a_name: object = 42
    assert not_a_name not in headers
    with pytest.raises(KeyError):
        headers["missing"]


@pytest.mark.parametrize(
    "name", ["Content-Type", "x-forwarded-for", "X-FORWARDED-FOR", "x-latin", "missing", "caf\xe9"]
)
def test_headers_get_answers_alike_before_and_after_other_lookups(name: str) -> None:
    # A first get() scans the raw pairs; later lookups use the index built by the others.
    fresh, indexed = raw_headers(), raw_headers()
    assert "anything" not in indexed

    assert fresh.get(name, "default") == indexed.get(name, "default")


def test_headers_iterate_unique_lower_cased_names() -> None:
    headers = raw_headers()

    assert list(headers) == ["content-type", "x-forwarded-for", "x-latin"]
    assert len(headers) == 3
    assert dict(headers) == {
        "content-type": "application/json",
        "x-forwarded-for": "10.0.0.2",
        "x-latin": "caf\xe9",
    }
    assert headers.multi_items() == [
        ("content-type", "application/json"),
        ("x-forwarded-for", "10.0.0.1"),
        ("x-forwarded-for", "10.0.0.2"),
        ("x-latin", "caf\xe9"),
    ]
    assert "x-forwarded-for" in repr(headers)


def test_headers_from_mapping() -> None:
    headers = Headers.from_mapping({"Accept": "text/html", "X-Id": "7"})

    assert headers.raw == [(b"accept", b"text/html"), (b"x-id", b"7")]
    assert headers["x-id"] == "7"
    assert Headers() == {}


# --- MutableHeaders ---------------------------------------------------------------------------


def test_mutable_headers_set_replaces_and_add_appends() -> None:
    headers = MutableHeaders({"Content-Type": "text/plain"})
    headers.add("Set-Cookie", "a=1")
    headers.add("set-cookie", "b=2")
    headers["X-Id"] = "1"
    headers["x-id"] = "2"

    assert headers.getlist("SET-COOKIE") == ["a=1", "b=2"]
    assert headers["X-ID"] == "2"
    assert headers.getlist("x-id") == ["2"]
    assert headers.items() == [
        ("content-type", "text/plain"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("x-id", "2"),
    ]
    assert list(headers) == ["content-type", "set-cookie", "x-id"]
    assert len(headers) == 3


def test_mutable_headers_accept_pairs_and_encode_raw() -> None:
    headers = MutableHeaders([("Vary", "Origin"), ("Vary", "Accept")])

    assert headers.raw() == [(b"vary", b"Origin"), (b"vary", b"Accept")]
    assert MutableHeaders().items() == []


def test_mutable_headers_get_setdefault_pop_and_delete() -> None:
    headers = MutableHeaders({"A": "1"})

    assert headers.get("a") == "1"
    assert headers.get("b") is None
    assert headers.get("b", "dflt") == "dflt"
    assert headers.setdefault("A", "other") == "1"
    assert headers.setdefault("B", "2") == "2"
    assert headers["b"] == "2"
    assert headers.pop("a") == "1"
    assert "a" not in headers
    assert headers.pop("a", "gone") == "gone"
    del headers["B"]
    assert headers.items() == []
    with pytest.raises(KeyError):
        del headers["b"]
    with pytest.raises(KeyError):
        headers["b"]
    not_a_name: object = 1
    assert not_a_name not in headers


def test_mutable_headers_update_replaces_each_name() -> None:
    headers = MutableHeaders([("X", "1"), ("X", "2"), ("Y", "1")])
    headers.update({"x": "3"})
    headers.update([("Z", "4")])

    assert headers.items() == [("y", "1"), ("x", "3"), ("z", "4")]


def test_mutable_headers_compare_by_content_and_are_unhashable() -> None:
    first = MutableHeaders([("a", "1"), ("b", "2")])
    second = MutableHeaders([("B", "2"), ("A", "1")])

    assert first == second
    assert first != MutableHeaders([("a", "1")])
    assert first != {"a": "1", "b": "2"}
    with pytest.raises(TypeError):
        hash(first)
    assert "('a', '1')" in repr(first)


@pytest.mark.parametrize("bad", ["a\r\nSet-Cookie: x=1", "a\nb", "a\rb", "a\x00b"])
def test_mutable_headers_refuse_cr_lf_and_nul(bad: str) -> None:
    headers = MutableHeaders()

    with pytest.raises(ValueError, match="CR, LF or NUL"):
        headers["X-Value"] = bad
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        headers.add("X-Value", bad)
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        headers.add(bad, "value")
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        MutableHeaders({"X-Value": bad})
    assert headers.items() == []


def test_check_header_text_returns_clean_text() -> None:
    assert check_header_text("fine value", "Header value") == "fine value"
    with pytest.raises(ValueError, match="Location 'a\\\\nb'"):
        check_header_text("a\nb", "Location")


# --- QueryParams ------------------------------------------------------------------------------


def test_parse_query_string_decodes_pairs() -> None:
    assert parse_query_string(b"") == []
    assert parse_query_string(b"a=1&b=&c&&d=x+y&e=%2B&f=1=2&g=%20&%C3%A9=%E2%9C%93") == [
        ("a", "1"),
        ("b", ""),
        ("c", ""),
        ("d", "x y"),
        ("e", "+"),
        ("f", "1=2"),
        ("g", " "),
        ("é", "✓"),
    ]
    assert parse_query_string(b"a=1;b=2") == [("a", "1;b=2")]
    # Nothing escaped: decoded whole, then split, with the same result.
    assert parse_query_string("q=café&n=1&&x&=v".encode()) == [
        ("q", "café"),
        ("n", "1"),
        ("x", ""),
        ("", "v"),
    ]


@pytest.mark.parametrize("query", [b"a=%ff", b"%ff=1", b"a=\xff", b"a=%c3%28"])
def test_parse_query_string_refuses_invalid_utf8(query: bytes) -> None:
    with pytest.raises(BadRequest, match="not valid UTF-8"):
        parse_query_string(query)


def test_parse_query_string_joins_raw_and_escaped_bytes_of_one_character() -> None:
    # Not UTF-8 as sent (0xC3 before "%"), but UTF-8 once unquoted: "é".
    assert parse_query_string(b"q=\xc3%A9") == [("q", "é")]


def test_query_params_keep_every_value_and_give_the_last() -> None:
    params = QueryParams(b"tag=a&tag=b&page=2&tag=c")

    assert params["tag"] == "c"
    assert params.get("page") == "2"
    assert params.get("missing") is None
    assert params.getlist("tag") == ["a", "b", "c"]
    assert params.getlist("missing") == []
    assert list(params) == ["tag", "page"]
    assert len(params) == 2
    assert params.multi_items() == [("tag", "a"), ("tag", "b"), ("page", "2"), ("tag", "c")]
    assert dict(params) == {"tag": "c", "page": "2"}
    assert "page" in params
    with pytest.raises(KeyError):
        params["missing"]
    assert "('page', '2')" in repr(params)


def test_query_params_from_text_and_pairs() -> None:
    assert QueryParams("q=café&q=%C3%A9t%C3%A9").getlist("q") == ["café", "été"]
    assert QueryParams("q=日本")["q"] == "日本"
    assert QueryParams([("a", "1"), ("a", "2")]).getlist("a") == ["1", "2"]
    assert len(QueryParams()) == 0


def test_query_params_getlist_returns_a_copy() -> None:
    params = QueryParams(b"a=1")
    params.getlist("a").append("2")

    assert params.getlist("a") == ["1"]


# --- URL --------------------------------------------------------------------------------------


def scope(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http",
        "scheme": "http",
        "path": "/a/b",
        "query_string": b"x=1&y=2",
        "headers": [],
        "server": ("example.org", 80),
    }
    base.update(overrides)
    return base


def test_url_prefers_the_host_header() -> None:
    url = URL.from_scope(scope(headers=[(b"accept", b"*/*"), (b"host", b"api.example.org:8443")]))

    assert (url.scheme, url.netloc, url.path, url.query) == (
        "http",
        "api.example.org:8443",
        "/a/b",
        "x=1&y=2",
    )
    assert str(url) == "http://api.example.org:8443/a/b?x=1&y=2"


@pytest.mark.parametrize(
    ("scheme", "server", "expected"),
    [
        ("http", ("example.org", 80), "http://example.org/"),
        ("https", ("example.org", 443), "https://example.org/"),
        ("http", ("example.org", 8000), "http://example.org:8000/"),
        ("https", ("example.org", 80), "https://example.org:80/"),
        ("ws", ("10.0.0.1", 80), "ws://10.0.0.1/"),
        ("wss", ("10.0.0.1", 9000), "wss://10.0.0.1:9000/"),
        ("http", ("::1", 8000), "http://[::1]:8000/"),
        ("http", ("::1", 80), "http://[::1]/"),
        ("http", None, "http://localhost/"),
    ],
)
def test_url_falls_back_to_the_server_address(
    scheme: str, server: tuple[str, int] | None, expected: str
) -> None:
    url = URL.from_scope(scope(scheme=scheme, server=server, path="/", query_string=b""))

    assert str(url) == expected


def test_url_path_includes_the_mount_prefix() -> None:
    url = URL.from_scope(scope(root_path="/legacy", path="/legacy/page", query_string=b""))

    assert url.path == "/legacy/page"


def test_url_compares_and_hashes_as_its_text() -> None:
    url = URL("https", "example.org", "/p", "q=1")

    assert url == "https://example.org/p?q=1"
    assert url == URL("https", "example.org", "/p", "q=1")
    assert url != URL("https", "example.org", "/p")
    assert hash(url) == hash("https://example.org/p?q=1")
    assert repr(url) == "URL('https://example.org/p?q=1')"
    assert str(URL("http", "h", "/")) == "http://h/"


# --- State ------------------------------------------------------------------------------------


def test_state_holds_attributes() -> None:
    state = State(db="sqlite://")
    state.count = 1

    assert (state.db, state.count) == ("sqlite://", 1)
    assert "count" in repr(state)


def test_state_names_a_missing_attribute() -> None:
    with pytest.raises(AttributeError, match="State has no attribute 'db'; set it first"):
        State().db  # noqa: B018 - the attribute access is the behaviour under test


def test_mutable_headers_refuse_non_str_values_bad_names_and_non_latin1() -> None:
    headers = MutableHeaders()
    with pytest.raises(TypeError, match=r"'X-Count' must be a str, got int 5; convert it"):
        headers["X-Count"] = 5  # type: ignore[assignment]
    with pytest.raises(ValueError, match="not a valid HTTP field name"):
        headers.add("Bad Name:", "x")
    with pytest.raises(ValueError, match="outside Latin-1"):
        headers["X-Euro"] = "€"
    headers["X-Latin"] = "café"
    assert headers.raw() == [(b"x-latin", "café".encode("latin-1"))]


def test_mutable_headers_check_every_name_also_once_seen() -> None:
    headers = MutableHeaders()
    headers["X-Seen"] = "1"
    headers["X-Seen"] = "2"
    headers["x-seen"] = "3"
    with pytest.raises(ValueError, match="contains CR, LF or NUL"):
        headers["X-Seen\r\n"] = "4"
    with pytest.raises(ValueError, match="not a valid HTTP field name"):
        headers["X-Seen:"] = "4"
    with pytest.raises(TypeError, match="Header names must be str"):
        headers[b"X-Seen"] = "5"  # type: ignore[index]
    assert headers.items() == [("x-seen", "3")]
