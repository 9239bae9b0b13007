"""Pure containers: headers, query parameters, URLs and attribute state."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar, overload
from urllib.parse import unquote_to_bytes

from ecko.exceptions import BadRequest

_T = TypeVar("_T")
_FORBIDDEN_HEADER_CHARS = frozenset("\r\n\x00")


def check_header_text(text: str, what: str) -> str:
    """Return `text` unchanged, refusing CR, LF and NUL (header injection).

    Raises:
        ValueError: `text` holds a character that would split or end a header.
    """
    if not _FORBIDDEN_HEADER_CHARS.isdisjoint(text):
        raise ValueError(f"{what} {text!r} contains CR, LF or NUL, which HTTP headers forbid")
    return text


# RFC 9110 5.6.2: a field name is a token.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


# Names already checked, to their lower-cased form: responses set the same few names over
# and over (benchmarks/: with the in-place removal in `__setitem__`, 6% of a request whose
# middleware sets a header).
_CHECKED_NAMES: dict[str, str] = {}


def check_header_name(name: str) -> str:
    """Return `name` lower-cased, refusing anything but an RFC 9110 token.

    Raises:
        TypeError: `name` is not a str.
        ValueError: `name` is empty or holds a character a field name cannot.
    """
    if type(name) is not str:
        raise TypeError(f"Header names must be str, got {type(name).__name__} {name!r}")
    key = _CHECKED_NAMES.get(name)
    if key is not None:
        return key
    check_header_text(name, "Header name")
    if not name or not _TOKEN_CHARS.issuperset(name):
        raise ValueError(
            f"Header name {name!r} is not a valid HTTP field name "
            "(letters, digits and !#$%&'*+-.^_`|~)"
        )
    key = name.lower()
    if len(_CHECKED_NAMES) < 512:  # bounded: names may come from user input
        _CHECKED_NAMES[name] = key
    return key


def check_header_value(name: str, value: str) -> str:
    """Return `value` unchanged if it can be sent as the value of header `name`.

    Raises:
        TypeError: `value` is not a str (convert numbers with str()).
        ValueError: `value` holds CR, LF or NUL, or a character outside Latin-1.
    """
    if type(value) is not str:
        raise TypeError(
            f"Header {name!r} must be a str, got {type(value).__name__} {value!r}; "
            "convert it with str()"
        )
    check_header_text(value, f"Header {name!r} value")
    if not value.isascii():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(
                f"Header {name!r} value {value!r} has characters outside Latin-1, which HTTP "
                "headers cannot carry; "
                "percent-encode it (urllib.parse.quote) or use RFC 8187 encoding"
            ) from None
    return value


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive, multi-value view of raw ASGI headers.

    `headers["accept"]` returns the last value; `getlist()` returns them all.
    """

    __slots__ = ("_index", "raw")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self.raw: list[tuple[bytes, bytes]] = list(raw)
        self._index: dict[str, list[str]] | None = None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str]) -> Headers:
        """Build headers from a plain `{name: value}` mapping."""
        return cls((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in mapping.items())

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self.raw:
                index.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
            self._index = index
        return index

    def __getitem__(self, name: str) -> str:
        return self._lookup()[name.lower()][-1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str | _T) -> str | _T: ...
    def get(self, name: str, default: object = None) -> object:
        """Return the last value of header `name`, or `default`."""
        key = name.lower()
        index = self._index
        if index is None and key.isascii():
            # Before any other lookup, scan the raw pairs for this one name rather than
            # decode them all into the index: handlers and the body reader ask for one or
            # two headers (benchmarks/: the index was 10% of a JSON POST's instructions).
            # For an ASCII name, bytes.lower() matches exactly what the index's str.lower()
            # would (a non-ASCII byte cannot lower-case to ASCII either way).
            wanted = key.encode("ascii")
            size = len(wanted)
            found: bytes | None = None
            for raw_name, raw_value in self.raw:
                # len() first, a specialised opcode: most names differ in length, and a
                # lower() call per header (benchmarks/: under 1% of a JSON POST's instructions).
                if len(raw_name) == size and raw_name.lower() == wanted:
                    found = raw_value
            return default if found is None else found.decode("latin-1")
        values = self._lookup().get(key)
        return values[-1] if values else default

    def getlist(self, name: str) -> list[str]:
        """Return every value of header `name`, in the order received."""
        return list(self._lookup().get(name.lower(), ()))

    def multi_items(self) -> list[tuple[str, str]]:
        """Return every `(name, value)` pair, names lower-cased."""
        return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in self.raw]

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"


class MutableHeaders:
    """Case-insensitive, multi-value header map for responses.

    `headers["X"] = v` replaces every `X`; `headers.add("Set-Cookie", v)` appends another.
    Names and values holding CR, LF or NUL are refused.
    """

    __slots__ = ("_items",)

    def __init__(
        self, initial: Mapping[str, str] | Iterable[tuple[str, str]] | None = None
    ) -> None:
        self._items: list[tuple[str, str]] = []
        if initial:
            pairs = initial.items() if isinstance(initial, Mapping) else initial
            for name, value in pairs:
                self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Append a header, keeping any existing values of the same name."""
        self._items.append((check_header_name(name), check_header_value(name, value)))

    def append_validated(self, name: str, value: str) -> None:
        """Append a header already checked: `name` lower-case, `value` sendable."""
        self._items.append((name, value))

    def __setitem__(self, name: str, value: str) -> None:
        key = check_header_name(name)
        check_header_value(name, value)
        items = self._items
        # Removed in place, from the end: no new list when, as usual, the name is absent.
        for index in range(len(items) - 1, -1, -1):
            if items[index][0] == key:
                del items[index]
        items.append((key, value))

    def setdefault(self, name: str, value: str) -> str:
        """Set `name` to `value` unless present; return the header's (last) value."""
        existing = self.get(name)
        if existing is None:
            self[name] = value
            return value
        return existing

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        for item_name, value in reversed(self._items):
            if item_name == key:
                return value
        raise KeyError(name)

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        before = len(self._items)
        self._items = [item for item in self._items if item[0] != key]
        if len(self._items) == before:
            raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(item_name == key for item_name, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for name, _ in self._items:
            seen.setdefault(name)
        return iter(seen)

    def __len__(self) -> int:
        return len(set(name for name, _ in self._items))

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the last value of header `name`, or `default`."""
        try:
            return self[name]
        except KeyError:
            return default

    def getlist(self, name: str) -> list[str]:
        """Return every value of header `name`."""
        key = name.lower()
        return [value for item_name, value in self._items if item_name == key]

    def pop(self, name: str, default: str | None = None) -> str | None:
        """Remove every `name` header; return its last value, or `default`."""
        value = self.get(name, default)
        if name in self:
            del self[name]
        return value

    def update(self, other: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        """Set each header of `other`, replacing existing values."""
        pairs = other.items() if isinstance(other, Mapping) else other
        for name, value in pairs:
            self[name] = value

    def items(self) -> list[tuple[str, str]]:
        """Return every `(name, value)` pair, names lower-cased, in order."""
        return list(self._items)

    def raw(self) -> list[tuple[bytes, bytes]]:
        """Return the headers encoded for an ASGI `http.response.start` message."""
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self._items]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MutableHeaders):
            return sorted(self._items) == sorted(other._items)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MutableHeaders({self._items!r})"


def parse_query_string(query_string: bytes) -> list[tuple[str, str]]:
    """Split a raw query string into decoded `(key, value)` pairs, blanks kept.

    Raises:
        BadRequest: a key or value is not valid UTF-8 once percent-decoded.
    """
    pairs: list[tuple[str, str]] = []
    if not query_string:
        return pairs
    text: str | None
    try:
        text = query_string.decode("utf-8")
    except UnicodeDecodeError:
        text = None  # raw 0xC3 then "%A9" is UTF-8 once unquoted: the loop below decides
    # Searched as text: `b"%" in query_string` first tries the needle as an int and raises
    # and clears a TypeError (benchmarks/: 5% of a request with one query param).
    if text is not None and "%" not in text and "+" not in text:
        # Nothing to unquote: split the text, skipping urllib's pure-Python unquote_to_bytes
        # per key and value (benchmarks/: 20% of the instructions of a request with 5 query
        # params). Splitting after decoding is safe: UTF-8 never hides "&" or "=" bytes.
        for part in text.split("&"):
            if part:
                name, _, decoded = part.partition("=")
                pairs.append((name, decoded))
        return pairs
    for chunk in query_string.split(b"&"):
        if not chunk:
            continue
        key, _, value = chunk.partition(b"=")
        try:
            pairs.append(
                (
                    unquote_to_bytes(key.replace(b"+", b" ")).decode("utf-8"),
                    unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8"),
                )
            )
        except UnicodeDecodeError:
            raise BadRequest("The query string is not valid UTF-8") from None
    return pairs


class QueryParams(Mapping[str, str]):
    """Read-only, multi-value query parameters: `params["q"]` is the last value."""

    __slots__ = ("_dict", "_list")

    def __init__(self, query: bytes | str | Iterable[tuple[str, str]] = b"") -> None:
        if isinstance(query, str):
            # A str is text as users write it ("q=café"); percent-escapes still decode as UTF-8.
            query = query.encode("utf-8")
        if isinstance(query, bytes):
            self._list = parse_query_string(query)
        else:
            self._list = list(query)
        index: dict[str, list[str]] = {}
        for key, value in self._list:
            values = index.get(key)
            if values is None:
                index[key] = [value]
            else:
                values.append(value)
        self._dict = index

    def __getitem__(self, key: str) -> str:
        return self._dict[key][-1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str | _T) -> str | _T: ...
    def get(self, key: str, default: object = None) -> object:
        """Return the last value of `key`, or `default`."""
        # Mapping.get goes through __getitem__ and a KeyError for every absent parameter.
        values = self._dict.get(key)
        return values[-1] if values else default

    def getlist(self, key: str) -> list[str]:
        """Return every value of `key`, in order (`?tags=a&tags=b` → `["a", "b"]`)."""
        return list(self._dict.get(key, ()))

    def multi_items(self) -> list[tuple[str, str]]:
        """Return every `(key, value)` pair in order."""
        return list(self._list)

    def __repr__(self) -> str:
        return f"QueryParams({self._list!r})"


class URL:
    """A request URL split into its parts; `str(url)` gives it whole."""

    __slots__ = ("netloc", "path", "query", "scheme")

    def __init__(self, scheme: str, netloc: str, path: str, query: str = "") -> None:
        self.scheme = scheme
        self.netloc = netloc
        self.path = path
        self.query = query

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any]) -> URL:
        """Build the URL a client requested from an ASGI HTTP or WebSocket scope."""
        scheme = scope.get("scheme", "http")
        host = None
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.decode("latin-1")
                break
        if host is None:
            server = scope.get("server")
            if server:
                server_host, port = server
                if ":" in server_host:
                    server_host = f"[{server_host}]"  # an IPv6 address (RFC 3986, 3.2.2)
                default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
                host = server_host if port in (default, None) else f"{server_host}:{port}"
            else:
                host = "localhost"
        # ASGI: `path` already includes `root_path` (the mount point).
        path = scope["path"]
        return cls(scheme, host, path, scope.get("query_string", b"").decode("latin-1"))

    def __str__(self) -> str:
        url = f"{self.scheme}://{self.netloc}{self.path}"
        return f"{url}?{self.query}" if self.query else url

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class State:
    """An attribute bag for application or connection state (`app.state.db = ...`)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"State has no attribute {name!r}; set it first, e.g. in a startup hook"
        )

    # Declared so type checkers accept `state.db = ...` for any name, as at runtime.
    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)

    def __repr__(self) -> str:
        return f"State({self.__dict__!r})"
