"""One streamed completion against an OpenAI-compatible server (this LLM mode or vLLM), timed
token by token as the client sees it: for load generators, benchmarks and profiles that need
the time to first token and the inter-token latencies of each request."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiohttp


@dataclass
class StreamedCompletion:
    sent_at: float  # time.perf_counter() when the request was sent
    token_times: list[float] = field(default_factory=list)  # arrival of each streamed chunk


async def stream_completion(
    session: aiohttp.ClientSession,
    base_url: str,
    prompt: str | list[int],
    max_tokens: int,
    model: str | None = None,
) -> StreamedCompletion:
    """POST /v1/completions with stream=true; one chunk per generated token (as this server and
    vLLM send them). A prompt of N byte tokens: ``"x" * N`` or a list of N token ids."""
    body: dict[str, object] = {"prompt": prompt, "max_tokens": max_tokens, "stream": True}
    if model is not None:
        body["model"] = model
    result = StreamedCompletion(sent_at=time.perf_counter())
    async with session.post(f"{base_url}/v1/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.content:
            if line.startswith(b"data: {"):  # not the blank separators nor the final [DONE]
                result.token_times.append(time.perf_counter())
    return result
