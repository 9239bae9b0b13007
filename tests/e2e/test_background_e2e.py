"""Background tasks through a real server: the client has the response while the task runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ecko.testing import LiveServer

APPS = Path(__file__).parent / "apps"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with (
        LiveServer("background_app:app", cwd=APPS) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        yield http


def wait_for_state(client: httpx.Client, kind: str, expected: str) -> None:
    deadline = time.monotonic() + 10
    while (current := client.get("/state").json()[kind]) != expected:
        assert time.monotonic() < deadline, f"{kind} task is {current!r}, not {expected!r}"
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("path", "kind", "done"),
    [
        ("/report", "sync", "done:weekly:/report"),
        ("/report-async", "async", "done:daily:/report-async"),
    ],
)
def test_response_arrives_before_the_task_finishes(
    client: httpx.Client, path: str, kind: str, done: str
) -> None:
    response = client.post(path)

    # The whole body is here while the task still waits for the release signal.
    assert response.text == "accepted"
    wait_for_state(client, kind, "running")
    client.post("/release")
    wait_for_state(client, kind, done)
