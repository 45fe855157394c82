"""Profile an LLM server (vLLM, or gpufleet-server's LLM mode) over its OpenAI-compatible
streaming API, and fit the simulator's token-level replica model.

Decode: ``n`` streams at once with short prompts; the gap between their tokens is one
iteration: ``decode_base_ms + decode_ms_per_seq * n``. Prefill: one stream alone per
prompt length, two output tokens; its time to first token is the iterations that
prefill its prompt -- one, or with a token budget one per chunk of it, each taking
``decode_base_ms`` plus its chunk's prefill -- and HTTP: less the iterations' fixed
cost, it grows with the prompt by the prefill cost per token (the slope). The KV cache's
size is the server's setting (vLLM logs it at start; gpufleet-server's
``--kv-cache-tokens``), and so are the token budget of an iteration
(``--max-num-batched-tokens``) and whether freed KV is kept for reuse (prefix caching):
given, not measured.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import numpy as np

from gpufleet.profiling.measure import ProfileError
from gpufleet.sim.llm import LlmProfile

DECODE_PROMPT_TOKENS = 16


@dataclass(frozen=True)
class LlmPlan:
    url: str
    """Base URL, e.g. http://127.0.0.1:8000."""
    model: str | None
    kv_tokens: int
    max_num_seqs: int = 256
    max_num_batched_tokens: int | None = None
    prefix_caching: bool = True
    prompt_tokens: tuple[int, ...] = (16, 256, 512, 1024)
    concurrencies: tuple[int, ...] = (1, 4, 8, 16)
    output_tokens: int = 32
    repeats: int = 3


async def _stream(
    session: aiohttp.ClientSession, plan: LlmPlan, prompt: int, max_tokens: int
) -> tuple[float, list[float]]:
    """One streamed completion: (time to first token, gaps between tokens), seconds."""
    body: dict[str, object] = {"prompt": "x" * prompt, "max_tokens": max_tokens, "stream": True}
    if plan.model:
        body["model"] = plan.model
    sent = time.perf_counter()
    stamps: list[float] = []
    async with session.post(f"{plan.url}/v1/completions", json=body) as response:
        if response.status != 200:
            raise ProfileError(f"{plan.url}/v1/completions: HTTP {response.status}: "
                               f"{(await response.text())[:200]}")  # fmt: skip
        async for line in response.content:
            if line.startswith(b"data: {"):  # one chunk per generated token
                stamps.append(time.perf_counter())
    if not stamps:
        raise ProfileError(f"{plan.url}: a streamed completion returned no tokens")
    return stamps[0] - sent, [b - a for a, b in itertools.pairwise(stamps)]


async def _profile(plan: LlmPlan) -> LlmProfile:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        await _stream(session, plan, DECODE_PROMPT_TOKENS, 2)  # warm-up
        ttft_ms = []
        for prompt in plan.prompt_tokens:
            runs = [await _stream(session, plan, prompt, 2) for _ in range(plan.repeats)]
            ttft_ms.append(1000 * statistics.median(t for t, _ in runs))
        itl_ms = []
        for n in plan.concurrencies:
            gaps: list[float] = []
            for _ in range(max(1, plan.repeats // 2)):
                runs = await asyncio.gather(
                    *(
                        _stream(session, plan, DECODE_PROMPT_TOKENS, plan.output_tokens)
                        for _ in range(n)
                    )
                )
                for _, g in runs:
                    gaps += g[1:]  # the first gap may hold another stream's prefill
            itl_ms.append(1000 * statistics.median(gaps))
    per_seq = _slope(plan.concurrencies, itl_ms, "inter-token latency", "concurrent streams")
    base = max(float(np.mean(itl_ms) - per_seq * np.mean(plan.concurrencies)), 0.0)
    prefill = prefill_slope(plan.prompt_tokens, ttft_ms, base, plan.max_num_batched_tokens)
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    points = ", ".join(
        f"{p} tokens: {t:.0f} ms" for p, t in zip(plan.prompt_tokens, ttft_ms, strict=True)
    )
    gaps_text = ", ".join(
        f"{n}: {t:.1f} ms" for n, t in zip(plan.concurrencies, itl_ms, strict=True)
    )
    return LlmProfile(
        name=plan.model or "llm",
        prefill_ms_per_token=max(prefill, 1e-6),
        decode_base_ms=base,
        decode_ms_per_seq=max(per_seq, 0.0),
        kv_tokens=plan.kv_tokens,
        max_num_seqs=plan.max_num_seqs,
        max_num_batched_tokens=plan.max_num_batched_tokens,
        prefix_caching=plan.prefix_caching,
        source=f"gpufleet profile --llm of {plan.url}, {stamp}; TTFT alone by prompt "
        f"({points}); median inter-token gap by concurrent streams ({gaps_text})",
    )


def prefill_slope(
    prompt_tokens: tuple[int, ...], ttft_ms: list[float], base_ms: float, budget: int | None
) -> float:
    """The prefill cost per prompt token, from the TTFT of prompts sent alone: each took
    one iteration per chunk of ``budget`` tokens (one, without a budget), each costing
    ``base_ms`` besides its prefill; what is left grows with the prompt."""
    chunks = [1 if budget is None else math.ceil(p / budget) for p in prompt_tokens]
    left = [t - k * base_ms for t, k in zip(ttft_ms, chunks, strict=True)]
    return _slope(prompt_tokens, left, "time to first token", "prompt length")


def _slope(xs: tuple[int, ...], ys: list[float], what: str, by: str) -> float:
    if len(set(xs)) < 2:
        raise ProfileError(f"need two or more values of {by} to fit {what}")
    slope, _ = np.polyfit(np.asarray(xs, dtype=float), np.asarray(ys), 1)
    return float(slope)


def profile_llm(plan: LlmPlan) -> LlmProfile:
    """Measure the server as ``plan`` says and return its token-level profile."""
    try:
        return asyncio.run(_profile(plan))
    except aiohttp.ClientError as exc:
        raise ProfileError(f"{plan.url}: {exc}") from exc
