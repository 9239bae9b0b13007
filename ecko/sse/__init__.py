"""Server-sent events and JSON Lines streams, their replay buffers, and the shutdown drain."""

from ecko.sse.events import ServerSentEvent
from ecko.sse.replay import MemoryReplayBuffer, ReplayBuffer
from ecko.sse.shutdown import DEFAULT_SHUTDOWN_DRAIN_TIMEOUT, ShutdownSignal, shutdown_signal_for
from ecko.sse.streams import (
    DEFAULT_PING_INTERVAL,
    EventStreamResponse,
    JSONLinesResponse,
    event_stream_handler,
)

__all__ = [
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_SHUTDOWN_DRAIN_TIMEOUT",
    "EventStreamResponse",
    "JSONLinesResponse",
    "MemoryReplayBuffer",
    "ReplayBuffer",
    "ServerSentEvent",
    "ShutdownSignal",
    "event_stream_handler",
    "shutdown_signal_for",
]
