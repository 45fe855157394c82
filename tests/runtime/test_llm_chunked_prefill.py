"""The LLM mode prefills a prompt longer than an iteration's token budget in chunks, as vLLM
V1 does: the answer is the one a whole prefill gives, no iteration carries more than the
budget, and a stream that is decoding keeps getting tokens while the long prompt is prefilled.

In process, with the real engine and the real model runner on the CPU.
"""

from __future__ import annotations

import asyncio

import pytest
import torch

from gpufleet_server.llm.engine import GenerationRequest, LlmEngine
from gpufleet_server.llm.metrics import ITERATION_TOKEN_BUCKETS, LlmMetrics
from gpufleet_server.llm.options import LlmOptions
from gpufleet_server.llm.runner import ModelRunner, Sampling

GREEDY = Sampling(temperature=0.0)

TINY = {"num_layers": 2, "hidden_size": 32, "num_heads": 2, "max_model_len": 1024}
LONG_PROMPT = [(7 * i + 3) % 200 + 32 for i in range(600)]


async def generate(
    engine: LlmEngine, requests: list[GenerationRequest], timeout_s: float = 60.0
) -> list[list[tuple[int, float]]]:
    """Each request's (token, arrival) pairs, in order, until it finishes."""
    loop = asyncio.create_task(engine.run())

    async def collect(request: GenerationRequest) -> list[tuple[int, float]]:
        got: list[tuple[int, float]] = []
        while True:
            event = await request.events.get()
            assert event.error is None
            if event.token_id is not None:
                got.append((event.token_id, asyncio.get_running_loop().time()))
            if event.finish_reason is not None:
                return got

    try:
        async with asyncio.timeout(timeout_s):
            tasks = []
            for request in requests:
                engine.submit(request)
                tasks.append(asyncio.create_task(collect(request)))
                await asyncio.sleep(0)
            return list(await asyncio.gather(*tasks))
    finally:
        loop.cancel()


def engine_with(budget: int, max_num_seqs: int = 8) -> tuple[LlmEngine, LlmMetrics]:
    options = LlmOptions(**TINY, max_num_batched_tokens=budget, max_num_seqs=max_num_seqs)
    metrics = LlmMetrics(options.served_model_name, options.max_model_len)
    runner = ModelRunner(options, torch.device("cpu"), torch.float32)
    return LlmEngine(runner, options, metrics), metrics


def tokens_per_iteration_at_most(metrics: LlmMetrics, bound: int) -> bool:
    labels = {"model_name": "gpufleet-llm", "engine": "0"}
    total = metrics.registry.get_sample_value("vllm:iteration_tokens_total_count", labels)
    within = metrics.registry.get_sample_value(
        "vllm:iteration_tokens_total_bucket", {**labels, "le": f"{float(bound)}"}
    )
    assert total, "no iteration was observed"
    return within == total


async def test_a_prompt_over_the_budget_is_prefilled_in_chunks_to_the_same_answer() -> None:
    whole, whole_metrics = engine_with(budget=1024)
    chunked, chunked_metrics = engine_with(budget=64)
    (expected,) = await generate(whole, [GenerationRequest(LONG_PROMPT, 8, sampling=GREEDY)])
    (got,) = await generate(chunked, [GenerationRequest(LONG_PROMPT, 8, sampling=GREEDY)])
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert 64 in ITERATION_TOKEN_BUCKETS
    assert tokens_per_iteration_at_most(chunked_metrics, 64)
    assert not tokens_per_iteration_at_most(whole_metrics, 512)  # one 600-token prefill
    labels = {"model_name": "gpufleet-llm", "engine": "0"}
    prompt_total = chunked_metrics.registry.get_sample_value("vllm:prompt_tokens_total", labels)
    assert prompt_total == len(LONG_PROMPT)


@pytest.mark.parametrize(
    ("budget", "least", "most"),
    # 600 prompt tokens at 63 an iteration (one of the 64 goes to the decoding stream): ten
    # iterations, each of which also gives the running stream a token. Prefilled whole,
    # the prompt takes one iteration, and the stream waits for it.
    [(64, 8, 40), (1024, 0, 2)],
    ids=["chunked", "whole"],
)
async def test_a_decoding_stream_gets_a_token_every_iteration_of_a_long_prefill(
    budget: int, least: int, most: int
) -> None:
    engine, _ = engine_with(budget)
    decoding = GenerationRequest([65, 66, 67], 40, sampling=GREEDY)
    long = GenerationRequest(LONG_PROMPT, 1, sampling=GREEDY)
    streams = await generate(engine, [decoding, long])
    (first_of_long,) = (at for _, at in streams[1])
    during = [at for _, at in streams[0] if at < first_of_long]
    assert least <= len(during) <= most
