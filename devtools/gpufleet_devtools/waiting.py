"""Wait for a condition instead of sleeping: the one polling loop of the dev tools and tests.

``wait_for`` polls a plain function; ``wait_for_async`` (in a running event loop) also
accepts a probe that returns an awaitable (an API call). Both return the probe's first
result that ``until`` accepts (by default: the first truthy one), and fail naming ``what``
and the last value seen. Tests use it through ``tests.support.waiting`` (the dev tools may
not import the tests).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


def _timed_out(timeout: float, what: str, probe: object, last: object) -> AssertionError:
    return AssertionError(
        f"timed out after {timeout:g} s waiting for {what or probe!r}; last: {last!r}"
    )


@overload
def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
def wait_for(
    probe: Callable[[], T],
    *,
    until: Callable[[T], object],
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


def wait_for(
    probe: Callable[[], Any],
    *,
    until: Callable[[Any], object] = bool,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "",
) -> Any:
    """Call ``probe`` until ``until`` accepts its result; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if until(last):
            return last
        time.sleep(interval)
    raise _timed_out(timeout, what, probe, last)


@overload
async def wait_for_async(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def wait_for_async(
    probe: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], object],
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def wait_for_async(
    probe: Callable[[], T | None],
    *,
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def wait_for_async(
    probe: Callable[[], T],
    *,
    until: Callable[[T], object],
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    what: str = ...,
) -> T: ...


async def wait_for_async(
    probe: Callable[[], Any],
    *,
    until: Callable[[Any], object] = bool,
    timeout: float = 30.0,  # noqa: ASYNC109 (a polling deadline: the failure names the last value)
    interval: float = 0.1,
    what: str = "",
) -> Any:
    """:func:`wait_for` without blocking the event loop; ``probe`` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        result = probe()
        last = await result if inspect.isawaitable(result) else result
        if until(last):
            return last
        await asyncio.sleep(interval)
    raise _timed_out(timeout, what, probe, last)
