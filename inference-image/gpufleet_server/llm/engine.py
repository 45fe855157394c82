"""Continuous batching: the engine loop schedules at the granularity of one iteration.

An iteration carries at most max_num_batched_tokens tokens, as vLLM V1's scheduler does
(chunked prefill): (1) one decode token for every sequence whose prefill is done, which
yields one more token each; (2) the next chunk of every prefill still in progress, oldest
first; (3) the first chunk of waiting requests, oldest first, admitted while the running
batch is below max_num_seqs, the KV cache has room for that chunk and the budget lasts. A
prompt longer than what is left of the budget is prefilled over several iterations, so it
never stalls the decoding sequences for more than one budget's worth of prefill; the
iteration that prefills its last chunk yields its first token. Sequences leave as soon as
they finish and free their KV blocks for the next iteration's admissions.

KV blocks are allocated as vLLM V1 allocates them: a sequence holds the blocks of the
tokens computed so far, one more when its last block fills. When the cache cannot hold
what the iteration schedules, the newest sequence is preempted: its blocks are freed and
it goes back to the front of the queue (vllm:num_preemptions_total). Freed blocks keep
their contents until handed out again (``kv_blocks``, vLLM V1's prefix caching): readmitted,
the sequence takes back the whole blocks of its prefix still there and recomputes the rest
of its prompt and the tokens it had generated -- at least the last, whose logits give its
next token -- so its client sees a longer gap, never a repeated token
(vllm:prefix_cache_hits_total counts the tokens it was spared). No iteration that
preempted admits a waiting request.
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
from gpufleet_server.llm.runner import ModelRunner, Sampling, StepInput
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
    sampling: Sampling
    stop: tuple[str, ...] = ()
    arrival: float = field(default_factory=time.monotonic)
    request_id: int = field(default_factory=lambda: next(_request_ids))
    output: list[int] = field(default_factory=list)
    prefilled: int = 0
    """Tokens of ``prefill_tokens`` whose keys and values are in the cache."""
    prefill_tokens: list[int] = field(default_factory=list)
    """What admission prefills: the prompt, and the tokens generated before a preemption."""
    decoding: bool = False
    admitted: bool = False
    """Admitted once (a preempted request's queue time is not observed again)."""
    blocks: list[int] = field(default_factory=list)
    events: asyncio.Queue[TokenEvent] = field(default_factory=asyncio.Queue)
    first_token_at: float | None = None
    last_token_at: float | None = None
    aborted: bool = False
    finished: bool = False

    @property
    def computed_tokens(self) -> int:
        """Tokens in the cache: the prefill so far, then one per generated token fed back."""
        if self.decoding:
            return len(self.prompt) + len(self.output) - 1
        return self.prefilled


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

    def _blocks_short(self, request: GenerationRequest, new_tokens: int) -> int:
        """Blocks ``request`` must be given to compute ``new_tokens`` more tokens."""
        needed = blocks_for(request.computed_tokens + new_tokens, self.options.block_size)
        return max(0, needed - len(request.blocks))

    def _make_room(self, request: GenerationRequest, new_tokens: int) -> bool:
        """Give ``request`` the blocks for ``new_tokens`` more tokens, preempting the newest
        sequences while the cache is short; False when ``request`` was the one preempted."""
        short = self._blocks_short(request, new_tokens)
        while short > self.allocator.free_blocks:
            victim = self.running[-1]
            self._preempt(victim)
            if victim is request:
                return False
        request.blocks += self.allocator.allocate(short)
        return True

    def _preempt(self, request: GenerationRequest) -> None:
        """vLLM V1's preemption by recompute: free the blocks, queue it first. The blocks
        full of computed tokens keep them for its readmission; the rest hold nothing."""
        self.running.remove(request)
        full = request.computed_tokens // self.options.block_size
        self.allocator.release(request.blocks[full:])
        self.allocator.keep(request.request_id, request.blocks[:full])
        request.blocks = []
        request.prefilled = 0
        request.decoding = False
        self.waiting.appendleft(request)
        self.metrics.num_preemptions.inc()

    def _admit(self, budget: int) -> list[tuple[GenerationRequest, int]]:
        """Move waiting requests into the batch, oldest first, while their first chunks fit
        the budget and the cache; each request admitted with its first chunk."""
        admitted: list[tuple[GenerationRequest, int]] = []
        while self.waiting and budget > 0 and len(self.running) < self.options.max_num_seqs:
            request = self.waiting[0]
            # A waiting request holds no blocks: it prefills its prompt and, if it was
            # preempted, the tokens it had generated -- less the whole blocks of them still
            # in the cache, but never the last token, whose logits give the next one.
            request.prefill_tokens = request.prompt + request.output
            bs = self.options.block_size
            reused = min(
                self.allocator.kept(request.request_id), (len(request.prefill_tokens) - 1) // bs
            )
            chunk = min(len(request.prefill_tokens) - reused * bs, budget)
            needed = blocks_for(reused * bs + chunk, bs)
            if needed > self.allocator.free_blocks:  # its kept blocks are counted free
                break  # first come, first served: nobody overtakes the oldest waiting request
            self.waiting.popleft()
            request.blocks = self.allocator.reclaim(request.request_id, reused)
            request.blocks += self.allocator.allocate(needed - reused)
            request.prefilled = reused * bs
            self.metrics.prefix_cache_queries.inc(len(request.prefill_tokens))
            self.metrics.prefix_cache_hits.inc(reused * bs)
            budget -= chunk
            self.running.append(request)
            admitted.append((request, chunk))
            if not request.admitted:
                request.admitted = True
                self.metrics.request_queue_time.observe(time.monotonic() - request.arrival)
        return admitted

    def _schedule(self) -> tuple[list[GenerationRequest], list[int], list[GenerationRequest]]:
        """This iteration's batch: the sequences that decode, and those that prefill with the
        number of tokens each (within the token budget, decodes first; KV blocks given to
        each, the newest preempted while the cache is short)."""
        preempted = False
        decoding: list[GenerationRequest] = []
        for request in [r for r in self.running if r.decoding]:
            if request in self.running:
                if self._make_room(request, 1):
                    decoding.append(request)
                else:
                    preempted = True
        budget = self.options.max_num_batched_tokens - len(decoding)
        prefilling: list[GenerationRequest] = []
        chunks: list[int] = []
        for request in [r for r in self.running if not r.decoding]:
            if budget <= 0 or request not in self.running:
                break
            chunk = min(len(request.prefill_tokens) - request.prefilled, budget)
            running_before = len(self.running)
            if not self._make_room(request, chunk):
                preempted = True
                break  # it was the newest: nothing after it runs this iteration either
            preempted = preempted or len(self.running) < running_before
            budget -= chunk
            prefilling.append(request)
            chunks.append(chunk)
        decoding = [r for r in decoding if r in self.running]  # a prefill may preempt one
        if not preempted:
            for request, chunk in self._admit(budget):
                prefilling.append(request)
                chunks.append(chunk)
        return prefilling, chunks, decoding

    async def _iterate(self) -> None:
        prefilling, chunks, decoding = self._schedule()
        self._publish_gauges()
        prefill = [
            StepInput(
                r.prefill_tokens[r.prefilled : r.prefilled + n],
                r.prefilled,
                r.blocks,
                r.sampling,
            )
            for r, n in zip(prefilling, chunks, strict=True)
        ]
        decode = [
            StepInput(r.output[-1:], len(r.prompt) + len(r.output) - 1, r.blocks, r.sampling)
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
            if request.prefilled == len(request.prefill_tokens):  # the last chunk: a token
                if not request.output:  # its first, not a recompute's
                    self.metrics.prompt_tokens.inc(len(request.prompt))
                request.decoding = True
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
            request.first_token_at = now
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
        self.metrics.request_time_per_output_token.observe(_time_per_output_token(request))

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
        self.allocator.forget(request.request_id)
        request.blocks = []
        self.metrics.request_success[reason].inc()
        self.metrics.e2e_request_latency.observe(now - request.arrival)

    def _publish_gauges(self) -> None:
        self.metrics.running.set(len(self.running))
        self.metrics.waiting.set(len(self.waiting))
        self.metrics.kv_cache_usage.set(self.allocator.usage)


def _time_per_output_token(request: GenerationRequest) -> float:
    """The request's mean gap between tokens after its first (preemptions included), 0
    for fewer than two tokens: vLLM's ``mean_time_per_output_token``."""
    first, last, tokens = request.first_token_at, request.last_token_at, len(request.output)
    if first is None or last is None or tokens < 2:
        return 0.0
    return (last - first) / (tokens - 1)
