"""Replay streamed completions against the ready pods (OpenAI ``/v1/completions``, SSE).

Open loop (:mod:`~gpufleet_devtools.local.openloop`): each stream starts at its trace time
whatever earlier ones do. Every token's arrival is timed here, at the client, so TTFT and
ITL are what a user of the fleet sees (queueing, prefill, HTTP and this machine's
scheduling included). A stream fails if it gets an HTTP error, an error event, or ends
before its last token and [DONE].
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from gpufleet_devtools.local.clientwindow import LATENCY_WINDOW_S, ClientWindow, percentile
from gpufleet_devtools.local.endpoints import Endpoints
from gpufleet_devtools.local.llm_trace import StreamRequests
from gpufleet_devtools.local.openloop import send_on_time

STREAM_TIMEOUT_S = 120.0
"""A stream that has not finished by then counts as failed."""
MAX_OPEN_STREAMS = 2000


@dataclass(eq=False)
class StreamRecord:
    """One streamed completion; times in seconds from the start of the replay."""

    sent_s: float
    prompt_tokens: int
    max_tokens: int
    endpoint: str = ""
    token_s: list[float] = field(default_factory=list)
    """When each token arrived."""
    done: bool = False
    ok: bool = False
    error: str = ""

    @property
    def ttft_s(self) -> float | None:
        return self.token_s[0] - self.sent_s if self.token_s else None

    def gaps_between(self, start: float, end: float) -> list[float]:
        """Inter-token gaps (s) of the tokens that arrived in ``[start, end)``."""
        first = max(1, bisect.bisect_left(self.token_s, start))
        last = bisect.bisect_left(self.token_s, end)
        return [self.token_s[i] - self.token_s[i - 1] for i in range(first, last)]


class LlmLoadGenerator:
    def __init__(self, endpoints: Endpoints, model_name: str, ttft_target_ms: float) -> None:
        self._endpoints = endpoints
        self._model = model_name
        self._ttft_target_s = ttft_target_ms / 1000
        self.streams: list[StreamRecord] = []
        """Every stream sent, in the order sent."""
        self.started_at = 0.0
        self._open_streams = 0
        """Streams sent and not ended yet: at MAX_OPEN_STREAMS, further ones fail."""

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at if self.started_at else 0.0

    @property
    def in_flight(self) -> int:
        return sum(not s.done for s in self.streams)

    async def _stream(self, session: aiohttp.ClientSession, record: StreamRecord) -> None:
        body = {
            "model": self._model,
            # Byte tokens: a prompt of N characters is N prompt tokens.
            "prompt": "x" * record.prompt_tokens,
            "max_tokens": record.max_tokens,
            "stream": True,
        }
        finished = False
        try:
            url = f"http://{record.endpoint}/v1/completions"
            async with session.post(url, json=body) as response:
                if response.status != 200:
                    text = (await response.text())[:160]
                    raise RuntimeError(f"HTTP {response.status}: {text}")
                async for line in response.content:
                    if line.startswith(b'data: {"error"'):
                        raise RuntimeError(line[6:].decode(errors="replace").strip()[:160])
                    if line.startswith(b"data: {"):
                        record.token_s.append(self.elapsed())
                    elif line.startswith(b"data: [DONE]"):
                        finished = True
            if not finished or len(record.token_s) != record.max_tokens:
                raise RuntimeError(
                    f"stream cut: {len(record.token_s)} of {record.max_tokens} tokens"
                    + ("" if finished else ", no [DONE]")
                )
            record.ok = True
        except Exception as failure:  # every outcome is data, never a crash of the replay
            record.error = f"{type(failure).__name__}: {failure}"[:200]
        finally:
            record.done = True
            self._open_streams -= 1

    async def run(self, requests: StreamRequests) -> list[StreamRecord]:
        """Start every stream on time; returns when all have ended."""
        timeout = aiohttp.ClientTimeout(total=STREAM_TIMEOUT_S)
        connector = aiohttp.TCPConnector(limit=0)  # open loop: no client-side queue
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

            def launch(tokens: tuple[int, int]) -> Coroutine[Any, Any, None] | None:
                record = StreamRecord(self.elapsed(), *tokens)
                self.streams.append(record)
                endpoint = self._endpoints.next()
                if endpoint is None or self._open_streams >= MAX_OPEN_STREAMS:
                    record.error = "no ready endpoint" if endpoint is None else "client full"
                    record.done = True
                    return None
                record.endpoint = endpoint
                self._open_streams += 1
                return self._stream(session, record)

            tokens = zip(requests.prompt_tokens, requests.max_tokens, strict=True)
            plan = zip(requests.arrivals.offsets, tokens, strict=True)
            self.started_at = time.monotonic()
            await send_on_time(self.started_at, plan, launch)
        return self.streams

    def window(self, now: float) -> ClientWindow:
        start = now - LATENCY_WINDOW_S
        sent = ok = tokens = 0
        ttfts: list[float] = []
        gaps: list[float] = []
        # Streams that can touch the window: sent before its end, not ended before its start.
        for stream in reversed(self.streams):
            sent += now - 1.0 <= stream.sent_s < now
            last = stream.token_s[-1] if stream.token_s else None
            if stream.done and (last is None or last < start):
                if stream.sent_s < start - STREAM_TIMEOUT_S:
                    break  # earlier streams all ended before the window
                continue
            ttft = stream.ttft_s
            if ttft is not None and start <= stream.token_s[0] < now:
                ttfts.append(ttft)
            elif ttft is None and not stream.done and now - stream.sent_s > self._ttft_target_s:
                # Still waiting past the target: it misses it, whenever its token comes.
                ttfts.append(now - stream.sent_s)
            gaps += stream.gaps_between(start, now)
            tokens += bisect.bisect_left(stream.token_s, now) - bisect.bisect_left(
                stream.token_s, now - 1.0
            )
            ok += stream.ok and last is not None and now - 1.0 <= last < now
        ttft_p95 = percentile(ttfts, 0.95)
        itl_p95 = percentile(gaps, 0.95)
        return ClientWindow(
            sent_rps=float(sent),
            ok_rps=float(ok),
            failed_total=sum(s.done and not s.ok for s in self.streams),
            in_flight=self.in_flight,
            p95_ms=None,
            ttft_p95_ms=None if ttft_p95 is None else 1000 * ttft_p95,
            itl_p95_ms=None if itl_p95 is None else 1000 * itl_p95,
            tokens_per_s=float(tokens),
        )
