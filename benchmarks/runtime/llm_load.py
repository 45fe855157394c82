"""Closed-loop streaming load on the LLM mode: ``concurrency`` clients each stream one
completion after another and time every token they receive: tokens/s, time to first token and
inter-token latency as the client sees them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from gpufleet_devtools.runtime.llm_client import stream_completion


@dataclass
class StreamTimings:
    tokens: int = 0  # tokens received inside the measuring window
    ttft_s: list[float] = field(default_factory=list)
    itl_s: list[float] = field(default_factory=list)

    def add(self, token_times: list[float], sent_at: float, window: tuple[float, float]) -> None:
        """Counts the tokens that arrived inside the window and the gaps before them, and the
        TTFT of a stream sent inside it (wherever its first token falls: at high concurrency
        a first token may come after the window closes)."""
        if token_times and window[0] <= sent_at < window[1]:
            self.ttft_s.append(token_times[0] - sent_at)
        for index, arrived in enumerate(token_times):
            if window[0] <= arrived < window[1]:
                self.tokens += 1
                if index > 0:
                    self.itl_s.append(arrived - token_times[index - 1])


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
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            while time.perf_counter() < window[1]:
                streamed = await stream_completion(session, base_url, prompt, max_tokens)
                timings.add(streamed.token_times, streamed.sent_at, window)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return timings
