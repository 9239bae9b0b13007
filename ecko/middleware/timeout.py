"""Request deadlines: a 503 problem when the handler has not answered within `seconds`."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import final

from ecko.exceptions import HTTPException
from ecko.requests import Request
from ecko.responses import Response

__all__ = ["DeadlineExceeded", "TimeoutMiddleware", "timeout"]

logger = logging.getLogger(__name__)

CallNext = Callable[..., Awaitable[Response]]


class DeadlineExceeded(HTTPException):
    """503 Service Unavailable: the handler overran the `timeout()` deadline."""

    status_code = 503

    def __init__(self, seconds: float) -> None:
        super().__init__(503, f"The server did not answer within {seconds:g} seconds")


@final
class TimeoutMiddleware:
    """The middleware `timeout()` builds; see there."""

    def __init__(self, seconds: float) -> None:
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise ValueError(
                f"timeout(seconds) must be a number of seconds above 0, got {seconds!r}"
            )
        self.seconds = float(seconds)

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Run the rest of the chain under the deadline; answer 503 when it passes."""
        try:
            async with asyncio.timeout(self.seconds):
                return await call_next()
        except TimeoutError:
            # Raised by asyncio.timeout only when *its* deadline cancelled the work; a
            # cancellation from elsewhere (server shutdown, client gone) propagates as is.
            logger.warning(
                "%s %s overran its %g s deadline; answered 503",
                request.method,
                request.path,
                self.seconds,
            )
            raise DeadlineExceeded(self.seconds) from None


def timeout(seconds: float) -> TimeoutMiddleware:
    """Build a middleware answering 503 when a request is not answered within `seconds`.

    The deadline covers everything inside this middleware: inner middleware, hooks,
    reading the body, the handler, building the response. Not covered: sending the body
    of a streaming or file response, which starts after the answer is ready.

    An `async def` handler is cancelled at the deadline: `asyncio.CancelledError` is
    raised at its current `await`, so its `finally` blocks and context managers run.
    A plain `def` handler runs in a thread, which Python cannot interrupt: the client gets
    the 503 at the deadline, and the thread runs on to its end, its result discarded.

    Args:
        seconds: the deadline, above 0.

    Raises:
        ValueError: `seconds` is not a positive number.
    """
    return TimeoutMiddleware(seconds)
