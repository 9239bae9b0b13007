"""Shared fixtures: a client factory for in-process apps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ecko import Ecko
from ecko.testing import TestClient

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_for() -> Iterator[ClientFactory]:
    """Return `client_for(app, **options)`: a started TestClient, closed after the test."""
    clients: list[TestClient] = []

    def make(app: Ecko[Any], **options: Any) -> TestClient:
        client = TestClient(app, **options)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)
