"""The LLM mode's engine when the model fails a step: the step's sequences end as errors,
counted as vLLM counts them (``finished_reason="error"``), and the engine goes on.

In process, with the real engine and the real model runner made to raise in its forward
pass (what a GPU fault or a bug in the model does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import torch

from gpufleet_server.llm.engine import GenerationRequest, LlmEngine
from gpufleet_server.llm.metrics import LlmMetrics
from gpufleet_server.llm.options import LlmOptions
from gpufleet_server.llm.runner import ModelRunner, Sampling, StepInput

GREEDY = Sampling(temperature=0.0)


class FailingRunner(ModelRunner):
    """The real runner, whose forward pass raises while ``failing`` is set."""

    failing = True

    def run(self, batch: Sequence[StepInput]) -> list[int]:
        if self.failing and batch:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return super().run(batch)


def finished(metrics: LlmMetrics, options: LlmOptions, reason: str) -> float:
    labels = {"model_name": options.served_model_name, "engine": "0", "finished_reason": reason}
    value = metrics.registry.get_sample_value("vllm:request_success_total", labels)
    assert value is not None
    return value


async def test_a_failed_step_ends_its_requests_as_errors_and_the_engine_serves_on() -> None:
    options = LlmOptions(num_layers=1, hidden_size=32, num_heads=2)
    metrics = LlmMetrics(options.served_model_name, options.max_model_len)
    runner = FailingRunner(options, torch.device("cpu"), torch.float32)
    engine = LlmEngine(runner, options, metrics)
    loop = asyncio.create_task(engine.run())
    try:
        failed = [GenerationRequest([5, 6, 7], max_tokens=4, sampling=GREEDY) for _ in range(2)]
        for request in failed:
            engine.submit(request)
        async with asyncio.timeout(10):
            events = [await r.events.get() for r in failed]
        assert all(e.error is not None and "illegal memory access" in e.error for e in events)
        assert finished(metrics, options, "error") == 2.0
        assert finished(metrics, options, "stop") + finished(metrics, options, "length") == 0.0

        runner.failing = False  # the fault passed: the next request is served
        served = GenerationRequest([5, 6, 7], max_tokens=2, sampling=GREEDY)
        engine.submit(served)
        async with asyncio.timeout(10):
            while (event := await served.events.get()).finish_reason is None:
                assert event.error is None
        assert finished(metrics, options, "length") == 1.0
        assert finished(metrics, options, "error") == 2.0
    finally:
        loop.cancel()
