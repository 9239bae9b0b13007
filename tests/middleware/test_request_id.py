"""The request id middleware: one id per request in context, the response and log records."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from ecko import Ecko, context
from ecko.middleware import request_id
from ecko.middleware.request_id import RequestIdFilter, is_valid_request_id
from tests.conftest import ClientFactory

HEX_ID = re.compile(r"[0-9a-f]{32}")
log = logging.getLogger("tests.request_id")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())
        self.setFormatter(logging.Formatter("%(request_id)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[_Records]:
    handler = _Records()
    loggers = [log, logging.getLogger("ecko.error")]
    for logger in loggers:
        logger.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _app(**options: Any) -> Ecko[Any]:
    app = Ecko()
    app.use(request_id(**options))

    @app.get("/")
    def home() -> dict[str, str]:
        log.info("handling")
        return {"id": context.request_id}

    @app.get("/async")
    async def home_async() -> dict[str, str]:
        log.info("handling async")
        return {"id": context.request_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("handler failed")

    return app


def test_a_new_id_is_made_set_in_context_and_echoed(client_for: ClientFactory) -> None:
    client = client_for(_app())

    first = client.get("/")
    second = client.get("/")

    assert HEX_ID.fullmatch(first.headers["x-request-id"])
    assert first.json() == {"id": first.headers["x-request-id"]}
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("sent", ["abc-123", "0f8e" * 32, "trace:1/2+3=4@host_x.y"])
def test_a_well_formed_incoming_id_is_kept(client_for: ClientFactory, sent: str) -> None:
    response = client_for(_app()).get("/", headers={"x-request-id": sent})

    assert response.headers["x-request-id"] == sent
    assert response.json() == {"id": sent}


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"a" * 129,
        b"has space",
        b"new\\nline",
        b'quote"d',
        b"semi;colon",
        b"\xff\xfe",
        b"caf\xc3\xa9",
        b"<script>",
        b"x" * 100_000,
    ],
)
def test_a_malformed_incoming_id_is_replaced(client_for: ClientFactory, sent: bytes) -> None:
    response = client_for(_app()).get("/", headers=[(b"x-request-id", sent)])

    assert response.status_code == 200
    assert HEX_ID.fullmatch(response.headers["x-request-id"])


def test_two_incoming_ids_are_replaced(client_for: ClientFactory) -> None:
    headers = [(b"x-request-id", b"one"), (b"x-request-id", b"two")]

    response = client_for(_app()).get("/", headers=headers)

    assert HEX_ID.fullmatch(response.headers["x-request-id"])


def test_incoming_ids_can_be_ignored(client_for: ClientFactory) -> None:
    response = client_for(_app(accept_incoming=False)).get("/", headers={"x-request-id": "mine"})

    assert HEX_ID.fullmatch(response.headers["x-request-id"])


def test_header_name_and_generator_are_configurable(client_for: ClientFactory) -> None:
    client = client_for(_app(header="X-Correlation-ID", generate=lambda: "fixed-id"))

    response = client.get("/")
    kept = client.get("/", headers={"x-correlation-id": "theirs"})

    assert response.headers["x-correlation-id"] == "fixed-id"
    assert kept.headers["x-correlation-id"] == "theirs"


def test_a_generator_returning_a_bad_id_is_reported(client_for: ClientFactory) -> None:
    client = client_for(_app(generate=lambda: "bad id"), raise_server_exceptions=False)

    response = client.get("/")

    assert response.status_code == 500


def test_log_records_carry_the_id_in_sync_and_async_handlers(
    client_for: ClientFactory, records: _Records
) -> None:
    client = client_for(_app())

    sync = client.get("/", headers={"x-request-id": "sync-id"})
    async_ = client.get("/async", headers={"x-request-id": "async-id"})

    assert sync.status_code == async_.status_code == 200
    lines = [records.format(record) for record in records.records]
    assert lines == ["sync-id handling", "async-id handling async"]


def test_the_unhandled_error_log_and_500_use_the_same_id(
    client_for: ClientFactory, records: _Records
) -> None:
    client = client_for(_app(), raise_server_exceptions=False)

    response = client.get("/boom", headers={"x-request-id": "err-42"})

    assert response.status_code == 500
    assert response.json()["request_id"] == "err-42"
    assert response.headers["x-request-id"] == "err-42"
    [record] = [r for r in records.records if r.name == "ecko.error"]
    assert getattr(record, "request_id", None) == "err-42"
    assert "[request id err-42]" in record.getMessage()


def test_the_error_log_uses_the_generated_id_when_the_client_sent_a_bad_one(
    client_for: ClientFactory, records: _Records
) -> None:
    client = client_for(_app(), raise_server_exceptions=False)

    response = client.get("/boom", headers={"x-request-id": "has space"})

    generated = response.headers["x-request-id"]
    assert HEX_ID.fullmatch(generated)
    assert response.json()["request_id"] == generated
    [record] = [r for r in records.records if r.name == "ecko.error"]
    assert f"[request id {generated}]" in record.getMessage()


def test_the_filter_outside_a_request_sets_a_dash_and_keeps_extra() -> None:
    log_filter = RequestIdFilter()
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)
    given = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)
    given.__dict__["request_id"] = "from-extra"  # as logging does with extra=

    assert log_filter.filter(plain) is True
    assert log_filter.filter(given) is True
    assert getattr(plain, "request_id", None) == "-"
    assert getattr(given, "request_id", None) == "from-extra"


def test_is_valid_request_id_bounds_length_and_charset() -> None:
    assert is_valid_request_id("a" * 128)
    assert not is_valid_request_id("a" * 129)
    assert not is_valid_request_id("")
    assert not is_valid_request_id("a\tb")


def test_an_invalid_header_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid HTTP field name"):
        request_id(header="X Request")


def test_the_filter_resolves_by_dotted_path_in_a_fresh_logging_config() -> None:
    code = (
        "import logging, logging.config\n"
        "logging.config.dictConfig({'version': 1, 'filters': {'rid': "
        "{'()': 'ecko.middleware.request_id.RequestIdFilter'}}})\n"
        "from ecko.middleware.request_id import RequestIdFilter\n"
        "from ecko.middleware import request_id\n"
        "assert callable(request_id) and request_id.RequestIdFilter is RequestIdFilter\n"
        "print('configured')\n"
    )

    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )

    assert result.stdout == "configured\n", result.stderr
