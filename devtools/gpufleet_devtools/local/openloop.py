"""The load generators' send loop: open loop, like real users.

Each request (stream) leaves at its trace time whether or not earlier ones came
back, so an under-provisioned fleet shows up as latency, not as a slower replay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def send_on_time(
    started_at: float,
    plan: Iterable[tuple[float, T]],
    launch: Callable[[T], Coroutine[Any, Any, None] | None],
) -> None:
    """For each ``(offset, what)`` of ``plan``, at ``started_at + offset`` (monotonic
    seconds) call ``launch(what)``: it returns the work to run, or None where it refused
    the arrival (and recorded why). Runs the work concurrently; returns once all of it
    has finished. Leaving early (an error, a cancel) cancels whatever still runs.
    """
    pending: set[asyncio.Task[None]] = set()
    try:
        for offset, what in plan:
            delay = started_at + offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            work = launch(what)
            if work is None:
                continue
            task = asyncio.create_task(work)
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending)
    finally:
        for task in pending:
            task.cancel()
