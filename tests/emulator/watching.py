"""Reading watch streams in tests: JSON lines, until a condition or the stream's end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

Event = dict[str, Any]


async def collect_events(
    api: aiohttp.ClientSession,
    url: str,
    params: dict[str, str],
    until: Callable[[list[Event]], bool],
    within: float = 10.0,
) -> list[Event]:
    """Events from a watch until ``until(events)`` holds or the server ends the stream."""
    events: list[Event] = []
    async with asyncio.timeout(within), api.get(url, params={"watch": "true", **params}) as rsp:
        assert rsp.status == 200
        while not until(events):
            line = await rsp.content.readline()
            if not line:
                break
            events.append(json.loads(line))
    return events


def summary(events: list[Event]) -> list[tuple[str, str]]:
    return [(event["type"], event["object"]["metadata"].get("name", "")) for event in events]
