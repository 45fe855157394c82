"""Continuous batching: the engine loop schedules at the granularity of one iteration.

An iteration carries at most max_num_batched_tokens tokens, as vLLM V1's scheduler does
(chunked prefill): (1) one decode token for every sequence whose prompt is prefilled, which
yields one more token each; (2) the next chunk of every prompt still being prefilled, oldest
first; (3) the first chunk of waiting requests, oldest first, admitted while the KV cache has
room for their prompt plus max_tokens, the running batch is below max_num_seqs and the
budget lasts. A prompt longer than what is left of the budget is prefilled over several
iterations, so it never stalls the decoding sequences for more than one budget's worth of
prefill; the iteration that prefills its last chunk yields its first token. Sequences leave
as soon as they finish and free their KV blocks for the next iteration's admissions.

A sequence holds the KV blocks for its whole length (prompt + max_tokens) from admission on,
so a running sequence never runs out of cache and nothing is ever preempted: when the cache
is full, new requests wait in the queue (vllm:num_requests_waiting) instead.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from gpufleet_server.llm.kv_blocks import BlockAllocator, blocks_for
from gpufleet_server.llm.metrics import LlmMetrics
from gpufleet_server.llm.options import LlmOptions
from gpufleet_server.llm.runner import ModelRunner, StepInput
from gpufleet_server.llm.stop import ends_with_stop

log = logging.getLogger(__name__)

_request_ids = itertools.count()


@dataclass(frozen=True)
class TokenEvent:
    """One generated token, the end of the sequence, or both. ``error`` ends it as a failure."""

    token_id: int | None
    finish_reason: str | None = None
    error: str | None = None


@dataclass(eq=False)
class GenerationRequest:
    prompt: list[int]
    max_tokens: int
    temperature: float
    stop: tuple[str, ...] = ()
    arrival: float = field(default_factory=time.monotonic)
    request_id: int = field(default_factory=lambda: next(_request_ids))
    output: list[int] = field(default_factory=list)
    prefilled: int = 0
    """Prompt tokens whose keys and values are in the cache."""
    blocks: list[int] = field(default_factory=list)
    events: asyncio.Queue[TokenEvent] = field(default_factory=asyncio.Queue)
    last_token_at: float | None = None
    aborted: bool = False
    finished: bool = False

    @property
    def reserved_tokens(self) -> int:
        return len(self.prompt) + self.max_tokens


class LlmEngine:
    def __init__(self, runner: ModelRunner, options: LlmOptions, metrics: LlmMetrics) -> None:
        self.runner = runner
        self.options = options
        self.metrics = metrics
        self.allocator = BlockAllocator(options.num_blocks)
        self.waiting: deque[GenerationRequest] = deque()
        self.running: list[GenerationRequest] = []
        self._work = asyncio.Event()

    # ---- requests ---------------------------------------------------------------------
    def submit(self, request: GenerationRequest) -> None:
        self.waiting.append(request)
        self._work.set()
        self._publish_gauges()

    def abort(self, request: GenerationRequest) -> None:
        """The client went away: stop generating for it (its blocks are freed between
        iterations, never while the model may be writing into them)."""
        if not request.finished:
            request.aborted = True
            self._work.set()

    @property
    def idle(self) -> bool:
        return not self.waiting and not self.running

    # ---- the loop ---------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            await self._work.wait()
            self._drop_aborted()
            if self.idle:
                self._work.clear()
                continue
            await self._iterate()

    def _drop_aborted(self) -> None:
        for request in [r for r in self.waiting if r.aborted]:
            self.waiting.remove(request)
            self._finish(request, "abort", time.monotonic())
        for request in [r for r in self.running if r.aborted]:
            self._finish(request, "abort", time.monotonic())
        self._publish_gauges()

    def _admit(self, budget: int) -> None:
        """Move waiting requests into the batch, oldest first, while they fit (their first
        chunks are scheduled by the caller)."""
        while self.waiting and budget > 0 and len(self.running) < self.options.max_num_seqs:
            request = self.waiting[0]
            needed = blocks_for(request.reserved_tokens, self.options.block_size)
            if needed > self.allocator.free_blocks:
                break  # first come, first served: nobody overtakes the oldest waiting request
            self.waiting.popleft()
            request.blocks = self.allocator.allocate(needed)
            budget -= min(len(request.prompt), budget)
            self.running.append(request)
            self.metrics.request_queue_time.observe(time.monotonic() - request.arrival)

    def _schedule(self) -> tuple[list[GenerationRequest], list[int], list[GenerationRequest]]:
        """This iteration's batch: the sequences that decode, and those that prefill with the
        number of prompt tokens each (within the token budget, decodes first)."""
        decoding = [r for r in self.running if r.prefilled == len(r.prompt)]
        budget = self.options.max_num_batched_tokens - len(decoding)
        partial = [r for r in self.running if r.prefilled < len(r.prompt)]
        self._admit(budget - sum(len(r.prompt) - r.prefilled for r in partial))
        prefilling: list[GenerationRequest] = []
        chunks: list[int] = []
        for request in self.running:
            if request.prefilled < len(request.prompt) and budget > 0:
                chunk = min(len(request.prompt) - request.prefilled, budget)
                budget -= chunk
                prefilling.append(request)
                chunks.append(chunk)
        return prefilling, chunks, decoding

    async def _iterate(self) -> None:
        prefilling, chunks, decoding = self._schedule()
        self._publish_gauges()
        prefill = [
            StepInput(r.prompt[r.prefilled : r.prefilled + n], r.prefilled, r.blocks, r.temperature)
            for r, n in zip(prefilling, chunks, strict=True)
        ]
        decode = [
            StepInput(r.output[-1:], len(r.prompt) + len(r.output) - 1, r.blocks, r.temperature)
            for r in decoding
        ]
        try:
            prefill_tokens, decode_tokens = await asyncio.to_thread(self._step, prefill, decode)
        except Exception as error:  # a failed step fails its sequences, not the server
            log.exception("model step failed")
            now = time.monotonic()
            for request in prefilling + decoding:
                self._fail(request, f"model execution failed: {error}", now)
            self._publish_gauges()
            return
        now = time.monotonic()
        self.metrics.iteration_tokens.observe(sum(chunks) + len(decoding))
        for request, chunk, token in zip(prefilling, chunks, prefill_tokens, strict=True):
            request.prefilled += chunk
            if request.prefilled == len(request.prompt):  # the last chunk: its first token
                self.metrics.prompt_tokens.inc(len(request.prompt))
                self._emit(request, token, now)
        for request, token in zip(decoding, decode_tokens, strict=True):
            self._emit(request, token, now)
        self._publish_gauges()

    def _step(
        self, prefill: list[StepInput], decode: list[StepInput]
    ) -> tuple[list[int], list[int]]:
        started = time.monotonic()
        tokens = self.runner.run(prefill), self.runner.run(decode)
        device = self.options.emulated_device
        if device is not None:
            prompt_tokens = sum(len(item.new_tokens) for item in prefill)
            device.hold(started, len(decode), prompt_tokens)
        return tokens

    def _emit(self, request: GenerationRequest, token: int, now: float) -> None:
        if request.aborted:
            self._finish(request, "abort", now)
            return
        if request.last_token_at is None:
            self.metrics.time_to_first_token.observe(now - request.arrival)
        else:
            self.metrics.inter_token_latency.observe(now - request.last_token_at)
        request.last_token_at = now
        request.output.append(token)
        self.metrics.generation_tokens.inc()
        reason = None
        if ends_with_stop(request.output, request.stop):
            reason = "stop"
        elif len(request.output) >= request.max_tokens:
            reason = "length"
        request.events.put_nowait(TokenEvent(token, reason))
        if reason is not None:
            self._finish(request, reason, now)

    def _finish(self, request: GenerationRequest, reason: str, now: float) -> None:
        if request.finished:
            return
        self._retire(request, reason, now)
        if reason == "abort":
            request.events.put_nowait(TokenEvent(None, "abort"))
        self.metrics.request_prompt_tokens.observe(len(request.prompt))
        self.metrics.request_generation_tokens.observe(len(request.output))

    def _fail(self, request: GenerationRequest, message: str, now: float) -> None:
        """The model failed the request: it ends as an error, counted as vLLM counts one
        (``finished_reason="error"``), so a failing server is not read as an idle one."""
        self._retire(request, "error", now)
        request.events.put_nowait(TokenEvent(None, None, error=message))

    def _retire(self, request: GenerationRequest, reason: str, now: float) -> None:
        """The request leaves the batch, frees its KV blocks and is counted by ``reason``."""
        request.finished = True
        if request in self.running:
            self.running.remove(request)
        self.allocator.release(request.blocks)
        request.blocks = []
        self.metrics.request_success[reason].inc()
        self.metrics.e2e_request_latency.observe(now - request.arrival)

    def _publish_gauges(self) -> None:
        self.metrics.running.set(len(self.running))
        self.metrics.waiting.set(len(self.waiting))
        self.metrics.kv_cache_usage.set(self.allocator.usage)
