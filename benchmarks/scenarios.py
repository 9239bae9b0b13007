"""The 12 scenarios: the request each sends and the answer each app must give."""

from dataclasses import dataclass, field

import msgspec
from apps.common import FILE, ITEMS


@dataclass(frozen=True)
class Scenario:
    """One request shape, sent to every app, and the response every app must give.

    `body` is the exact response body (None: only the status is compared, for error bodies
    whose shape each framework chooses); `header` is a response header that must be present.
    """

    number: int
    name: str
    method: str
    path: str
    query: bytes = b""
    request_body: bytes = b""
    request_headers: tuple[tuple[bytes, bytes], ...] = ()
    status: int = 200
    body: bytes | None = None
    header: tuple[bytes, bytes] | None = None
    target: str = "app"  # the attribute of the app module serving it
    websocket: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The short label used in tables, e.g. `3. path + query params`."""
        return f"{self.number}. {self.name}"

    @property
    def url_path(self) -> str:
        """The path with its query string."""
        return self.path + ("?" + self.query.decode() if self.query else "")


JSON_TYPE = ((b"content-type", b"application/json"),)
GOOD_USER = b'{"name":"Ada","email":"ada@example.com","age":36}'
BAD_USER = b'{"name":"Ada","email":"ada@example.com","age":"thirty-six"}'

SCENARIOS = [
    Scenario(1, "JSON hello", "GET", "/", body=b'{"message":"Hello, World!"}'),
    Scenario(2, "plaintext", "GET", "/plaintext", body=b"Hello, World!"),
    Scenario(
        3,
        "path + query params",
        "GET",
        "/users/42",
        query=b"active=true",
        body=b'{"id":42,"active":true}',
    ),
    Scenario(
        4,
        "4 query params coerced",
        "GET",
        "/search",
        query=b"q=pen&limit=5&page=2&tag=a&tag=b",
        body=b'{"q":"pen","limit":5,"page":2,"tag":["a","b"]}',
    ),
    Scenario(
        5,
        "POST JSON body → 201",
        "POST",
        "/users",
        request_body=GOOD_USER,
        request_headers=JSON_TYPE,
        status=201,
        body=b'{"id":1,"name":"Ada","email":"ada@example.com","age":36}',
    ),
    Scenario(
        6,
        "invalid body → 422",
        "POST",
        "/users",
        request_body=BAD_USER,
        request_headers=JSON_TYPE,
        status=422,
    ),
    Scenario(7, "404", "GET", "/does-not-exist", status=404),
    Scenario(8, "sync handler", "GET", "/sync", body=b'{"message":"sync"}'),
    Scenario(
        9,
        "middleware + hook",
        "GET",
        "/guarded",
        request_headers=((b"x-api-key", b"secret"),),
        body=b'{"message":"guarded"}',
        header=(b"x-middleware", b"on"),
        target="guarded_app",
    ),
    Scenario(10, "100-object list", "GET", "/items", body=msgspec.json.encode(ITEMS)),
    Scenario(11, "WebSocket echo", "GET", "/ws", websocket=True),
    Scenario(12, "1 MiB file", "GET", "/file", body=FILE.read_bytes()),
]

BY_NUMBER = {s.number: s for s in SCENARIOS}
HTTP_SCENARIOS = [s for s in SCENARIOS if not s.websocket]
WS_MESSAGE = "hello, echo"
