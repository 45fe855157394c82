"""Closed-loop streaming load on the LLM mode: ``concurrency`` clients each stream one
completion after another (aiohttp, reading the server-sent events as they arrive) and time
every token they receive: tokens/s, time to first token and inter-token latency as the
client sees them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp


@dataclass
class StreamTimings:
    tokens: int = 0  # tokens received inside the measuring window
    ttft_s: list[float] = field(default_factory=list)
    itl_s: list[float] = field(default_factory=list)


async def _one_stream(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, object],
    window: tuple[float, float],
    timings: StreamTimings,
) -> None:
    sent = time.perf_counter()
    previous: float | None = None
    async with session.post(url, json=body) as response:
        response.raise_for_status()
        async for line in response.content:
            if not line.startswith(b"data: {"):
                continue  # blank separators and the final [DONE]
            now = time.perf_counter()
            if window[0] <= now < window[1]:
                timings.tokens += 1
                if previous is None:
                    timings.ttft_s.append(now - sent)
                else:
                    timings.itl_s.append(now - previous)
            previous = now


async def closed_loop(
    base_url: str,
    concurrency: int,
    prompt: str,
    max_tokens: int,
    warmup_s: float,
    measure_s: float,
) -> StreamTimings:
    """Streams start back to back per client until the window closes; tokens, TTFTs and ITLs
    count when received inside the window (after the warm-up)."""
    timings = StreamTimings()
    start = time.perf_counter()
    window = (start + warmup_s, start + warmup_s + measure_s)
    body = {"prompt": prompt, "max_tokens": max_tokens, "stream": True}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            while time.perf_counter() < window[1]:
                await _one_stream(session, f"{base_url}/v1/completions", body, window, timings)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return timings
