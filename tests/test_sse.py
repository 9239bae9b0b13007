"""Server-sent events, JSON Lines streams, replay buffers and the shutdown drain, in-process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import pytest

from ecko import Ecko, Header, RouteDefinitionError, Router, WebSocket
from ecko.sse import (
    EventStreamResponse,
    JSONLinesResponse,
    MemoryReplayBuffer,
    ReplayBuffer,
    ServerSentEvent,
    ShutdownSignal,
)
from ecko.testing import AsyncTestClient, TestClient, WebSocketClosed
from ecko.testing.sse import EventParser, aiter_events
from tests.conftest import ClientFactory


class Reading(msgspec.Struct):
    sensor: str
    value: float


def _wait_for(condition: threading.Event, what: str) -> None:
    assert condition.wait(5), f"timed out waiting for {what}"


# -- the event format ------------------------------------------------------------------------


def test_event_fields_are_written_in_the_stream_format() -> None:
    event = ServerSentEvent("hello", event="greeting", id="7", retry=3000, comment="note")
    assert event.encode() == (b": note\nevent: greeting\nid: 7\nretry: 3000\ndata: hello\n\n")


def test_multi_line_data_becomes_one_data_line_per_line() -> None:
    event = ServerSentEvent("one\ntwo\r\nthree\rfour")
    assert event.encode() == b"data: one\ndata: two\ndata: three\ndata: four\n\n"


def test_dict_and_struct_data_are_encoded_as_json() -> None:
    assert ServerSentEvent({"a": [1, 2]}).encode() == b'data: {"a":[1,2]}\n\n'
    assert ServerSentEvent(Reading("t1", 2.5)).encode() == (
        b'data: {"sensor":"t1","value":2.5}\n\n'
    )


def test_a_multi_line_comment_stays_a_comment() -> None:
    assert ServerSentEvent(comment="a\nb").encode() == b": a\n: b\n\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_event_and_id_refuse_line_breaks_and_nul(bad: str) -> None:
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        ServerSentEvent("x", event=bad)
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        ServerSentEvent("x", id=bad)


@pytest.mark.parametrize("retry", [-1, True, 1.5])
def test_retry_must_be_non_negative_int_milliseconds(retry: Any) -> None:
    with pytest.raises(ValueError, match="retry"):
        ServerSentEvent("x", retry=retry)


def test_data_json_cannot_represent_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        ServerSentEvent(object()).encode()


def test_parser_reads_what_the_encoder_writes() -> None:
    parser = EventParser(comments=True)
    sent = [
        ServerSentEvent({"n": 1}, event="tick", id="1", retry=10),
        ServerSentEvent(comment="ping"),
        ServerSentEvent("two\nlines"),
    ]
    received = []
    for event in sent:
        for line in event.encode().decode().split("\n")[:-1]:
            parsed = parser.feed(line)
            if parsed is not None:
                received.append(parsed)
    assert received == [
        ServerSentEvent('{"n":1}', event="tick", id="1", retry=10),
        ServerSentEvent(comment="ping"),
        ServerSentEvent("two\nlines"),
    ]
    assert received[0].json() == {"n": 1}
    assert parser.last_event_id == "1"
    assert parser.retry == 10


# -- @app.sse --------------------------------------------------------------------------------


def test_async_generator_streams_events_with_the_event_stream_headers(
    client_for: ClientFactory,
) -> None:
    app = Ecko()

    @app.sse("/ticks")
    async def ticks() -> AsyncIterator[Any]:
        yield "plain text"
        yield {"n": 1}
        yield ServerSentEvent(Reading("t1", 1.5), event="reading", id="r1")

    with client_for(app).stream_events("GET", "/ticks") as events:
        headers = events.response.headers
        assert headers["content-type"] == "text/event-stream; charset=utf-8"
        assert headers["cache-control"] == "no-cache"
        assert headers["x-accel-buffering"] == "no"
        assert "content-length" not in headers
        assert list(events) == [
            ServerSentEvent("plain text"),
            ServerSentEvent('{"n":1}'),
            ServerSentEvent('{"sensor":"t1","value":1.5}', event="reading", id="r1"),
        ]
        assert events.last_event_id == "r1"


def test_sync_generator_streams_from_the_threadpool(client_for: ClientFactory) -> None:
    app = Ecko()
    threads: list[str] = []

    @app.sse("/count")
    def count() -> Iterator[int]:
        for number in range(3):
            threads.append(threading.current_thread().name)
            yield number

    with client_for(app).stream_events("GET", "/count") as events:
        assert [event.json() for event in events] == [0, 1, 2]
    assert all(name.startswith("ecko-sync") for name in threads)


def test_handler_parameters_are_resolved_like_any_handler(client_for: ClientFactory) -> None:
    app = Ecko()
    router = Router("/rooms")

    @router.sse("/{room}")
    async def room_feed(room: str, limit: int = 2) -> AsyncIterator[str]:
        for index in range(limit):
            yield f"{room}-{index}"

    app.include(router)
    client = client_for(app)
    with client.stream_events("GET", "/rooms/blue", params={"limit": 3}) as events:
        assert [event.data for event in events] == ["blue-0", "blue-1", "blue-2"]
    invalid = client.get("/rooms/blue", params={"limit": "many"})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["query", "limit"]


def test_last_event_id_header_reaches_the_handler(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.sse("/resume")
    async def resume(last_event_id: int | None = Header(None)) -> AsyncIterator[ServerSentEvent]:
        start = 0 if last_event_id is None else last_event_id + 1
        for number in range(start, start + 2):
            yield ServerSentEvent(number, id=str(number))

    client = client_for(app)
    with client.stream_events("GET", "/resume", headers={"Last-Event-ID": "41"}) as events:
        assert [event.id for event in events] == ["42", "43"]


def test_sse_refuses_a_handler_that_is_not_a_generator() -> None:
    app = Ecko()

    def not_a_generator() -> str:
        return "x"

    with pytest.raises(RouteDefinitionError, match="must be a generator function"):
        app.sse("/x")(not_a_generator)


def test_head_sends_the_headers_without_running_the_generator(client_for: ClientFactory) -> None:
    app = Ecko()
    started = threading.Event()

    @app.sse("/events")
    async def events() -> AsyncIterator[str]:
        started.set()
        yield "x"

    response = client_for(app).head("/events")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.content == b""
    assert not started.is_set()


def test_idle_stream_sends_keep_alive_comments(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.sse("/quiet", ping=0.02)
    async def quiet() -> AsyncIterator[str]:
        await asyncio.Event().wait()  # nothing ever happens
        yield "never"

    client = client_for(app)
    with client.stream_events("GET", "/quiet", comments=True) as events:
        assert events.take(2) == [ServerSentEvent(comment="ping")] * 2


def test_retry_is_sent_before_the_first_event(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.sse("/retry", retry=2500)
    def retry() -> Iterator[str]:
        yield "x"

    with client_for(app).stream_events("GET", "/retry") as events:
        assert next(events).data == "x"
        assert events.retry == 2500


# -- disconnect stops the work ---------------------------------------------------------------


def test_async_generator_is_cancelled_when_the_client_leaves(client_for: ClientFactory) -> None:
    app = Ecko()
    produced: list[int] = []
    cleaned_up = threading.Event()

    @app.sse("/tokens")
    async def tokens() -> AsyncIterator[int]:
        try:
            for number in range(1_000_000):
                produced.append(number)
                yield number
                await asyncio.sleep(0.005)
        finally:
            cleaned_up.set()

    with client_for(app).stream_events("GET", "/tokens") as events:
        assert [event.json() for event in events.take(3)] == [0, 1, 2]
    _wait_for(cleaned_up, "the generator's finally block")
    stopped_at = len(produced)
    time.sleep(0.1)  # the absence of work can only be seen by waiting; 20 steps' worth
    assert len(produced) == stopped_at


def test_sync_generator_stops_at_its_next_yield_when_the_client_leaves(
    client_for: ClientFactory,
) -> None:
    app = Ecko()
    produced: list[int] = []
    cleaned_up = threading.Event()

    @app.sse("/tokens")
    def tokens() -> Iterator[int]:
        try:
            for number in range(1_000_000):
                produced.append(number)
                yield number
                time.sleep(0.005)
        finally:
            cleaned_up.set()

    with client_for(app).stream_events("GET", "/tokens") as events:
        assert [event.json() for event in events.take(3)] == [0, 1, 2]
    _wait_for(cleaned_up, "the generator's finally block")
    stopped_at = len(produced)
    time.sleep(0.1)  # the absence of work can only be seen by waiting; 20 steps' worth
    assert len(produced) == stopped_at


# -- replay ----------------------------------------------------------------------------------


def test_reconnecting_client_gets_the_events_it_missed(client_for: ClientFactory) -> None:
    app = Ecko()
    buffer = MemoryReplayBuffer(max_events=10)

    @app.sse("/feed", replay=buffer)
    async def feed(start: int, count: int) -> AsyncIterator[ServerSentEvent]:
        for number in range(start, start + count):
            yield ServerSentEvent(f"event {number}", id=str(number))

    client = client_for(app)
    with client.stream_events("GET", "/feed", params={"start": 1, "count": 3}) as events:
        assert next(events).id == "1"  # the client drops out here, missing 2 and 3
    with client.stream_events("GET", "/feed", params={"start": 2, "count": 3}) as events:
        assert [event.id for event in events] == ["2", "3", "4"]  # a second client, to the end
    with client.stream_events(
        "GET", "/feed", params={"start": 5, "count": 1}, headers={"Last-Event-ID": "1"}
    ) as events:
        assert [event.id for event in events] == ["2", "3", "4", "5"]
    with client.stream_events(
        "GET", "/feed", params={"start": 4, "count": 2}, headers={"Last-Event-ID": "3"}
    ) as events:
        # 4 is replayed, then the live 4 is skipped: no event twice.
        assert [event.id for event in events] == ["4", "5"]
    with client.stream_events(
        "GET", "/feed", params={"start": 9, "count": 1}, headers={"Last-Event-ID": "unknown"}
    ) as events:
        assert [event.id for event in events] == ["9"]


def test_memory_replay_buffer_is_bounded_and_idempotent_by_id() -> None:
    buffer = MemoryReplayBuffer(max_events=3)
    assert isinstance(buffer, ReplayBuffer)

    async def scenario() -> None:
        for number in range(5):
            await buffer.append(ServerSentEvent(number, id=str(number)))
        await buffer.append(ServerSentEvent("again", id="4"))
        assert len(buffer) == 3
        assert [event.data for event in await buffer.since("2")] == [3, 4]
        assert await buffer.since("0") == []  # evicted: unknown
        with pytest.raises(ValueError, match="with an id"):
            await buffer.append(ServerSentEvent("no id"))

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="max_events"):
        MemoryReplayBuffer(0)


# -- JSON Lines ------------------------------------------------------------------------------


def test_json_lines_stream_one_json_value_per_line(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/readings")
    def readings() -> JSONLinesResponse:
        return JSONLinesResponse(Reading(f"t{n}", n / 2) for n in range(2))

    @app.get("/numbers")
    async def numbers(limit: int = 3) -> JSONLinesResponse:
        async def generate() -> AsyncIterator[dict[str, int]]:
            for number in range(limit):
                yield {"n": number}

        return JSONLinesResponse(generate())

    client = client_for(app)
    response = client.get("/readings")
    assert response.headers["content-type"] == "application/jsonl"
    assert response.headers["cache-control"] == "no-cache"
    assert response.text == '{"sensor":"t0","value":0.0}\n{"sensor":"t1","value":0.5}\n'
    with client.stream("GET", "/numbers", params={"limit": 2}) as streamed:
        assert [msgspec.json.decode(line) for line in streamed.iter_lines()] == [
            {"n": 0},
            {"n": 1},
        ]


# -- the shutdown drain ----------------------------------------------------------------------


def test_open_streams_end_once_the_drain_time_has_passed(client_for: ClientFactory) -> None:
    app = Ecko(shutdown_drain_timeout=0.05)
    cleaned_up = threading.Event()

    @app.sse("/forever", ping=None)
    async def forever() -> AsyncIterator[str]:
        try:
            yield "hello"
            await asyncio.Event().wait()
            yield "never"
        finally:
            cleaned_up.set()

    @app.get("/lines")
    def lines() -> JSONLinesResponse:
        def generate() -> Iterator[int]:
            yield 1
            while not app.shutdown_signal.is_set():  # a sync generator may watch it too
                time.sleep(0.005)
            yield 2

        return JSONLinesResponse(generate())

    client = client_for(app)
    with (
        client.stream_events("GET", "/forever") as events,
        client.stream("GET", "/lines") as jsonl,
    ):
        assert next(events).data == "hello"
        body = jsonl.iter_lines()
        assert next(body) == "1"
        app.shutdown_signal.set()
        assert list(events) == []  # the stream ended cleanly
        assert list(body) in (["2"], [])
    _wait_for(cleaned_up, "the generator's finally block")


def test_websocket_is_closed_with_going_away_after_the_drain_time() -> None:
    app = Ecko(shutdown_drain_timeout=0.05)
    cancelled = threading.Event()

    @app.websocket("/idle")
    async def idle(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        try:
            await asyncio.Event().wait()  # never touches the socket again
        finally:
            cancelled.set()

    with TestClient(app) as client, client.websocket_connect("/idle") as session:
        assert session.receive_text() == "hello"
        app.shutdown_signal.set()
        with pytest.raises(WebSocketClosed) as closed:
            session.receive_text()
        assert closed.value.code == 1001
    _wait_for(cancelled, "the handler's cancellation")


def test_lifespan_shutdown_starts_the_drain_and_startup_resets_it() -> None:
    app = Ecko()
    with TestClient(app):
        assert not app.shutdown_signal.is_set()
    assert app.shutdown_signal.is_set()


def test_shutdown_drain_timeout_is_validated() -> None:
    with pytest.raises(ValueError, match="shutdown_drain_timeout"):
        Ecko(shutdown_drain_timeout=-1)
    assert Ecko().shutdown_signal.drain_timeout == 5.0


def test_shutdown_signal_wakes_waiters_on_other_loops() -> None:
    signal = ShutdownSignal(drain_timeout=0)
    woke = threading.Event()

    def waiter() -> None:
        async def wait() -> None:
            waiting = asyncio.ensure_future(signal.wait())
            await asyncio.sleep(0)
            ready.set()
            await waiting
            woke.set()

        asyncio.run(wait())

    ready = threading.Event()
    thread = threading.Thread(target=waiter)
    thread.start()
    _wait_for(ready, "the waiter")
    signal.set()
    thread.join(5)
    assert woke.is_set()


# -- the async test client -------------------------------------------------------------------


def test_async_client_reads_events_as_they_arrive() -> None:
    app = Ecko()
    release = asyncio.Event()

    @app.sse("/gated")
    async def gated() -> AsyncIterator[str]:
        yield "first"
        await release.wait()
        yield "second"

    async def main() -> tuple[str, list[str]]:
        async with (
            AsyncTestClient(app) as client,
            client.stream("GET", "/gated") as response,
        ):
            events = aiter_events(response)
            first = (await anext(events)).data  # before the generator could finish
            release.set()
            return first, [event.data async for event in events]

    assert asyncio.run(main()) == ("first", ["second"])


def test_event_stream_response_can_be_returned_directly(client_for: ClientFactory) -> None:
    app = Ecko()

    @app.get("/direct")
    def direct() -> EventStreamResponse:
        return EventStreamResponse(iter(["a", "b"]), headers={"cache-control": "no-store"})

    with client_for(app).stream_events("GET", "/direct") as events:
        assert events.response.headers["cache-control"] == "no-store"
        assert [event.data for event in events] == ["a", "b"]


# -- the example -----------------------------------------------------------------------------


def test_clock_example_serves_its_page_and_resumable_ticks(client_for: ClientFactory) -> None:
    from examples import sse_clock

    client = client_for(sse_clock.app)
    page = client.get("/")
    assert 'new EventSource("/clock")' in page.text
    with client.stream_events("GET", "/clock", params={"interval": 0.01}) as events:
        first, second = events.take(2)
    assert events.retry == 1000
    assert first.event == second.event == "tick"
    assert int(second.id or 0) > int(first.id or 0)
    assert second.json()["tick"] == int(second.id or 0)
    headers = {"Last-Event-ID": first.id or ""}
    with client.stream_events(
        "GET", "/clock", params={"interval": 0.01}, headers=headers
    ) as events:
        assert next(events).id == second.id  # replayed from the buffer


def test_openapi_documents_the_route_as_an_event_stream(client_for: ClientFactory) -> None:
    from ecko import setup_openapi

    app = Ecko()

    @app.sse("/events/{room}")
    async def events(room: str) -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(room)

    setup_openapi(app, title="Events", version="1")
    document = client_for(app).get("/openapi.json").json()
    operation = document["paths"]["/events/{room}"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
    assert operation["parameters"][0]["name"] == "room"
