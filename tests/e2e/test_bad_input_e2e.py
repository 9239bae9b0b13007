"""Bad input never becomes a 500 on the wire: what HTTP clients refuse to send, over a socket.

The kitchen sink app (every middleware, forms, files, events, docs) runs under uvicorn; each
request below goes over a raw socket. The server may refuse one itself (400, or closing the
connection); neither it nor the app may answer 500, hang, or log an error, and the server
keeps serving afterwards. tests/test_bad_input_fuzz.py fuzzes the same app in-process.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecko.testing import LiveServer

APPS = Path(__file__).parent / "apps"
TIMEOUT = 10.0
"""Seconds the server gets to answer (or close) before the request counts as a hang."""

# What every request needs to reach the handlers: an allowed Host, and HTTPS as a trusted
# proxy reports it (https_redirect() would answer 308 otherwise).
PASS = b"Host: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"


def get(target: bytes, headers: bytes = b"") -> bytes:
    """A complete GET request for `target`, with `headers` after the ones every request needs."""
    return b"GET " + target + b" HTTP/1.1\r\n" + PASS + headers + b"\r\n"


def post(target: bytes, headers: bytes, body: bytes) -> bytes:
    """A POST request for `target`: `headers` (ending in CRLF) and then `body` as given."""
    return b"POST " + target + b" HTTP/1.1\r\n" + PASS + headers + b"\r\n" + body


JSON = b"Content-Type: application/json\r\n"
MULTIPART = b"Content-Type: multipart/form-data; boundary=x\r\n"
URLENCODED = b"Content-Type: application/x-www-form-urlencoded\r\n"
HUGE_DATE = b"Sun, 06 Nov 99999999999 08:49:37 GMT"

REQUESTS = [
    # header bytes: NUL, bare CR, obs-text, bad names, folding, huge and many headers
    get(b"/api/items/1", b"X-Bad: a\x00b\r\n"),
    get(b"/api/items/1", b"X-Bad: a\rb\r\n"),
    get(b"/api/items/1", b"X-Bad: \xff\xfe\xc0\xaf\r\n"),
    get(b"/api/items/1", b"Bad Name: v\r\n"),
    get(b"/api/items/1", b"B\xe9d: v\r\n"),
    get(b"/api/items/1", b": empty-name\r\n"),
    get(b"/api/items/1", b"NoColon\r\n"),
    get(b"/api/items/1", b" folded: continuation\r\n"),
    get(b"/api/items/1", b"X-Count: 1\r\n  2\r\n"),
    get(b"/api/items/1", b"Cookie: theme=\xff\x00; session=\r\n"),
    get(b"/api/items/1", b'X-Count: \xd9\xa3\r\nCookie: theme="\\377\r\n'),
    get(b"/api/items/1", b"X-Long: " + b"a" * 100_000 + b"\r\n"),
    get(b"/api/items/1", b"".join(b"X-%d: v\r\n" % number for number in range(2000))),
    get(b"/static/hello.txt", b"If-Modified-Since: " + HUGE_DATE + b"\r\n"),
    get(b"/static/hello.txt", b"Range: bytes=0-1\r\nIf-Range: " + HUGE_DATE + b"\r\n"),
    get(b"/static/hello.txt", b"Range: bytes=" + b"0-0," * 5000 + b"\r\n"),
    get(b"/api/whoami", b'Forwarded: for="[::1\r\nX-Forwarded-For: \xff, ::1%zz\r\n'),
    get(b"/api/whoami", b"X-Forwarded-Host: \xe2\x98\x83\r\nX-Forwarded-Port: 99999\r\n"),
    # request lines: line endings, missing parts, odd methods, versions and targets
    b"GET /api/items/1 HTTP/1.1\n" + PASS.replace(b"\r\n", b"\n") + b"\n",
    b"GET /api/items/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.com\r\n\r\n",
    b"GET /api/items/1 HTTP/1.1\r\n\r\n",
    b"GET /api/items/1 HTTP/1.0\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /\r\n\r\n",
    b"GET  /  HTTP/1.1\r\n" + PASS + b"\r\n",
    b"G\x00T / HTTP/1.1\r\n" + PASS + b"\r\n",
    b"G(T) / HTTP/1.1\r\n" + PASS + b"\r\n",
    b"get / HTTP/1.1\r\n" + PASS + b"\r\n",
    b"BREW /coffee HTTP/1.1\r\n" + PASS + b"\r\n",
    b"GET / HTTP/9.9\r\n" + PASS + b"\r\n",
    b"GET / HTTP/1.1 extra\r\n" + PASS + b"\r\n",
    get(b"*"),
    b"OPTIONS * HTTP/1.1\r\n" + PASS + b"\r\n",
    get(b"http://evil.example.com/api/whoami"),
    get(b"127.0.0.1:80"),
    get(b"api/items/1"),
    get(b"/static/../templates/page.html"),
    get(b"/static/%2e%2e/templates/page.html"),
    get(b"/static//hello.txt"),
    get(b"/static/hello%00.txt"),
    get(b"/static/sub"),
    get(b"/caf\xc3\xa9/\xff"),
    get(b"/%ff%fe?q=%ff"),
    get(b"/api/items/1?q=\xff\x00"),
    get(b"/api/items/" + b"9" * 5000),
    get(b"/" + b"a/" * 40_000),
    get(b"/?" + b"a=1&" * 20_000),
    # plain HTTP: https_redirect() builds a Location from the Host
    b"GET /api/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /api/whoami HTTP/1.1\r\nHost: \xe2\x98\x83.example.com\r\n\r\n",
    b"GET /api/whoami HTTP/1.1\r\nHost: [::1\r\n\r\n",
    b"GET /%0d%0a%e2%98%83?a=%0d%0a\xff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    # body framing: conflicting or garbage lengths, broken chunks
    post(b"/api/items", JSON + b"Content-Length: 5\r\nContent-Length: 7\r\n", b"{}"),
    post(b"/api/items", JSON + b"Content-Length: -1\r\n", b"{}"),
    post(b"/api/items", JSON + b"Content-Length: 99999999999999999999\r\n", b"{}"),
    post(
        b"/api/items",
        JSON + b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n",
        b"2\r\n{}\r\n0\r\n\r\n",
    ),
    post(b"/api/items", JSON + b"Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"),
    post(b"/api/items", JSON + b"Transfer-Encoding: gzip, chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"),
    post(
        b"/api/items", JSON + b"Transfer-Encoding: chunked\r\n", b"F" * 20 + b"\r\n{}\r\n0\r\n\r\n"
    ),
    # not HTTP/1.1 at all
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)),  # a TLS ClientHello
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # the HTTP/2 preface
    b"\x00" * 64,
]
PIPELINED = [  # read until the server closes: it answers each request, or 400s and closes
    get(b"/api/items/1") + b"GARBAGE\x00\r\n\r\n",
    get(b"/api/items/1")
    + get(b"/static/hello.txt", b"If-Modified-Since: " + HUGE_DATE + b"\r\nConnection: close\r\n"),
]
CUT_OFF = [  # the client half-closes before the request is complete
    b"\r\n\r\n\r\n",
    b"GET /api/items/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwa",
    post(b"/api/items", JSON + b"Content-Length: 100\r\n", b'{"name":'),
    post(b"/api/items", JSON + b"Content-Length: 20\r\nExpect: 100-continue\r\n", b""),
    post(b"/profile", MULTIPART + b"Content-Length: 30\r\n", b"--x\r\nContent-Disp"),
    post(
        b"/api/raw-form",
        MULTIPART + b"Content-Length: 500\r\n",
        b'--x\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\npartial',
    ),
    post(b"/api/raw-form", URLENCODED + b"Content-Length: 500\r\n", b"a=1&b"),
    post(b"/api/raw-form", MULTIPART + b"Transfer-Encoding: chunked\r\n", b"5\r\n--x\r\n\r\n"),
    get(b"/static/hello.txt", b"Range: bytes=0-0,2-2,4-4\r\n"),  # whole, then half-closed
]


def _complete(answer: bytes) -> bool:
    """Tell whether `answer` holds a whole HTTP/1.1 response (headers and framed body)."""
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    fields = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:])
    )
    if b"content-length" in fields:
        return len(body) >= int(fields[b"content-length"])
    if fields.get(b"transfer-encoding") == b"chunked":
        return body.endswith(b"0\r\n\r\n")
    return head.split(b" ")[1:2] in ([b"204"], [b"304"])


def exchange(port: int, request: bytes, *, cut_off: bool = False, pipelined: bool = False) -> bytes:
    """Send `request` (half-closing after it if `cut_off`) and return the answer.

    Reads one whole response, or everything until the server closes when the request is cut
    off or pipelined; b"" means the server closed without answering.
    """
    until_closed = cut_off or pipelined
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as connection:
        with contextlib.suppress(OSError):  # the server may refuse and close before reading it all
            connection.sendall(request)
            if cut_off:
                connection.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while until_closed or not _complete(received):
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pytest.fail(
                f"no complete answer within {TIMEOUT}s to {request[:200]!r}: {received[:500]!r}"
            )
        except ConnectionResetError:
            pass
        return received


def statuses(answer: bytes) -> list[int]:
    """Return the status code of each response in `answer`."""
    lines = answer.split(b"\r\n")
    return [int(line.split()[1]) for line in lines if line.startswith((b"HTTP/1.1 ", b"HTTP/1.0 "))]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("kitchen_sink_live")
    # The app's proxy_headers() must be the only thing reading X-Forwarded-*.
    with LiveServer(
        "kitchen_sink_app:create_app",
        cwd=APPS,
        env={"KITCHEN_SINK_DIR": str(directory)},
        extra_args=["--factory", "--no-proxy-headers"],
    ) as live:
        yield live


def test_raw_hostile_requests_never_get_a_500_and_the_server_keeps_serving(
    server: LiveServer,
) -> None:
    sends: list[tuple[bytes, dict[str, bool]]] = [(request, {}) for request in REQUESTS]
    sends += [(request, {"pipelined": True}) for request in PIPELINED]
    sends += [(request, {"cut_off": True}) for request in CUT_OFF]
    for request, how in sends:
        answer = exchange(server.port, request, **how)
        assert all(status < 500 for status in statuses(answer)), (request[:200], answer[:500])

    healthy = exchange(server.port, get(b"/api/items/1"))
    assert statuses(healthy) == [200], healthy[:500]
    assert healthy.endswith(b'"theme":"light"}')
    logs = server.logs()
    assert "Traceback" not in logs, logs[-3000:]
    assert "ERROR" not in logs, logs[-3000:]
