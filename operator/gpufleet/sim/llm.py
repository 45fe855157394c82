"""A token-level LLM replica: continuous batching as vLLM (and gpufleet-server's LLM mode) do.

The engine runs iterations. An iteration decodes one token for every running
sequence and prefills prompt tokens: it takes ``decode_base_ms + decode_ms_per_seq *
decoding + prefill_ms_per_token * prompt tokens prefilled``. With a token budget
(``max_num_batched_tokens``, vLLM V1's chunked prefill) an iteration carries at most
that many tokens: one per decoding sequence, then the rest of the prompts being
prefilled (oldest first), then the prompts it admits, each cut to what is left, so a
long prompt is prefilled over several iterations and never stalls the decoding
sequences for longer than one budget's prefill. Without one, every admitted prompt
is prefilled whole in the iteration that admits it.

The KV cache is allocated as vLLM V1 allocates it: a sequence holds the tokens computed
so far -- its prompt as it is prefilled, then one more slot for each token it is fed --
and nothing more. A request is admitted from the FIFO queue when a sequence slot is free
and the cache has room for its first chunk (besides a slot for every decoding sequence's
next token), and only in an iteration that preempted nothing. When the cache cannot give
every running sequence its next slot, the newest sequence is preempted: its KV is freed
and it goes back to the front of the queue, to be recomputed when it is admitted again
(its prompt and the tokens it had generated prefilled anew, after which it resumes; its
client sees a long gap, not a second first token). With prefix caching (vLLM V1's
default) the freed KV keeps its contents until the cache hands it out again (``kv_free``):
readmitted, the sequence takes back what is left of its prefix, in whole blocks, and
recomputes only the rest -- at least its last token, whose logits give its next one.
Its first token comes at the end of the iteration that prefills the last of its prompt
(TTFT = wait + prefill iterations), each later token one iteration later (ITL =
iteration time); it leaves after its last token and frees its KV.

Between changes (an admission, a finish, the cache filling up) iterations repeat with the
same time, so the replica jumps over them: its events are arrivals and finishes, not
tokens. An arrival that can be admitted cuts the jump at the next iteration boundary.

Metrics with vLLM's semantics: a TTFT is observed when the first token comes (an
end-to-end latency and a request's mean gap when it finishes); ``waiting``
(``vllm:num_requests_waiting``),
``running`` (``vllm:num_requests_running``, those being prefilled included),
``kv_usage_at`` (KV held by the running sequences / all, ``vllm:kv_cache_usage_perc``),
``preemptions`` (``vllm:num_preemptions_total``), token counters (a prompt's tokens
counted when its first prefill completes, as vLLM counts them).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpufleet.sim.kv_free import FreeKv
from gpufleet.sim.replica import PodCounters, PodLifecycle, PodState
from gpufleet.sim.request_log import RequestLog
from gpufleet.sim.scheduler import Scheduler
from gpufleet.sim.trace import FloatArray, Trace

KV_BLOCK_TOKENS = 16
"""Tokens in one KV block (vLLM's default ``--block-size``): only whole blocks of a
preempted sequence stay cached."""

ENGINE_WAKE_S = 1e-6
"""An idle engine starts its next iteration this long after a request arrives, so
requests that arrive together are prefilled together."""


def _whole_blocks(tokens: float) -> float:
    """The tokens of ``tokens`` that fill whole KV blocks: what a freed sequence's cache
    keeps for it (a part block is reused by no one)."""
    return tokens - tokens % KV_BLOCK_TOKENS


class LlmProfile(BaseModel):
    """Costs of one LLM replica's engine iterations and its KV-cache capacity."""

    # An infinite cost (a file's .inf) would pass the bounds and break the arithmetic later.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    kind: Literal["llm"] = "llm"
    name: str = "llm"
    prefill_ms_per_token: Annotated[float, Field(gt=0, description="Prefill cost per token.")]
    decode_base_ms: Annotated[float, Field(ge=0, description="Fixed cost of one iteration.")]
    decode_ms_per_seq: Annotated[
        float, Field(ge=0, description="Added iteration cost per running sequence.")
    ]
    kv_tokens: Annotated[int, Field(ge=1, description="Tokens the KV cache holds.")]
    max_num_seqs: Annotated[int, Field(ge=1, description="Running sequences at most.")] = 256
    max_num_batched_tokens: Annotated[
        int | None,
        Field(
            ge=1,
            description="Tokens one iteration carries at most (vLLM's --max-num-batched-tokens): "
            "a decode token per running sequence, the rest prompt chunks (chunked prefill, "
            "vLLM V1's only mode). Unset: prompts are prefilled whole, as engines without "
            "chunked prefill do.",
        ),
    ] = None
    prefix_caching: Annotated[
        bool,
        Field(
            description="Whether freed KV keeps its contents until it is reused, so a "
            "preempted sequence readmitted recomputes only the part of it since taken "
            "(vLLM V1's automatic prefix caching, on unless --no-enable-prefix-caching). "
            "Off: a readmitted sequence recomputes its whole prompt and output so far.",
        ),
    ] = True
    source: str | None = None

    @model_validator(mode="after")
    def _budget_holds_a_decode_step(self) -> LlmProfile:
        budget = self.max_num_batched_tokens
        if budget is not None and budget < self.max_num_seqs:
            # vLLM refuses this too: a full batch's decode step would not fit in one iteration.
            raise ValueError(
                f"max_num_batched_tokens ({budget}) must be at least max_num_seqs "
                f"({self.max_num_seqs}): one iteration decodes a token for every running sequence"
            )
        return self

    @property
    def max_batch(self) -> int:
        return self.max_num_seqs

    @property
    def max_throughput_rps(self) -> float:
        """Work is counted in replica-seconds (see :func:`token_work`): one per second."""
        return 1.0

    def never_holds(
        self, prompt: FloatArray | float, output: FloatArray | float
    ) -> npt.NDArray[np.bool_] | bool:
        """Whether a request needs more KV cache than one replica holds: no replica ever
        runs it (a replica fails it at once, as vLLM refuses a request longer than its
        context), whatever the fleet's size. Elementwise on arrays."""
        too_long: npt.NDArray[np.bool_] | bool = prompt + output > self.kv_tokens
        return too_long

    def full_batch(self, mean_tokens: float) -> float:
        """Running sequences when the KV cache (or the slot limit) is full."""
        return max(1.0, min(float(self.max_num_seqs), self.kv_tokens / max(mean_tokens, 1.0)))


def token_work(profile: LlmProfile, prompt: FloatArray, output: FloatArray) -> FloatArray:
    """Replica-seconds each request costs on a replica running a full batch: its
    prefill, plus its share of every decode iteration it takes part in."""
    full = profile.full_batch(float(np.mean(prompt + output)) if len(prompt) else 1.0)
    per_token_ms = profile.decode_base_ms / full + profile.decode_ms_per_seq
    work: FloatArray = (prompt * profile.prefill_ms_per_token + output * per_token_ms) / 1000.0
    return work


def beyond_one_cache(trace: Trace, profile: LlmProfile) -> int:
    """Requests that no replica ever runs (``LlmProfile.never_holds``)."""
    if trace.prompt_tokens is None or trace.output_tokens is None:
        return 0
    return int(np.count_nonzero(profile.never_holds(trace.prompt_tokens, trace.output_tokens)))


def with_llm_work(trace: Trace, profile: LlmProfile) -> Trace:
    """The trace with each request's size set to its work in replica-seconds."""
    if trace.prompt_tokens is None or trace.output_tokens is None:
        raise ValueError(
            f"{trace.name}: the LLM model needs prompt and output tokens per request "
            "(ContextTokens and GeneratedTokens columns, or a synthetic trace with tokens=1)"
        )
    sizes = token_work(profile, trace.prompt_tokens, trace.output_tokens)
    return Trace(
        trace.name, trace.arrivals, sizes, trace.duration, trace.prompt_tokens, trace.output_tokens
    )


class LlmReplica(PodLifecycle):
    """One vLLM-like engine; the same interface as :class:`gpufleet.sim.replica.Replica`."""

    def __init__(
        self,
        name: int,
        created_at: float,
        profile: LlmProfile,
        log: RequestLog,
        sched: Scheduler,
        timeout_s: float,
        uid: int = 0,
    ) -> None:
        if log.prompt_tokens is None or log.output_tokens is None:
            raise ValueError("an LLM replica needs the requests' token counts")
        self.name = name
        self.uid = uid
        self.created_at = created_at
        self.ready_at = math.inf
        self.exited_at: float | None = None
        self.earliest_exit = math.inf
        self.state = PodState.STARTING
        self.profile = profile
        self.log = log
        self.sched = sched
        self.timeout_s = timeout_s
        self.prompt = log.prompt_tokens
        self.output = log.output_tokens
        self.queue: deque[int] = deque()
        self.running: list[tuple[int, int]] = []
        """Decoding sequences: (iteration count at which it finishes, request) -- a heap."""
        self.decoding_since: dict[int, tuple[int, float, int]] = {}
        """For each decoding sequence: the iteration count it started decoding at, the KV
        it held then, and the tokens it had generated by then."""
        self.scheduled: dict[int, None] = {}
        """Running and part-prefilled requests in the order they were admitted: the last
        is the one a full cache preempts."""
        self.first_token_at: dict[int, float] = {}
        self.prefilling: dict[int, float] = {}
        """Admitted requests being prefilled, oldest first: the tokens prefilled so far."""
        self.recompute: dict[int, int] = {}
        """Preempted requests: the tokens they had generated, prefilled again with the
        prompt when they are admitted again."""
        self._completing: list[int] = []
        """The requests whose prefill the running iteration completes."""
        self.kv_used = 0.0
        """KV tokens held at the start of the running segment (its prefill included)."""
        self.free_kv = FreeKv(profile.kv_tokens)
        """The rest of the cache, and the prefixes preempted sequences left in it."""
        self.preemptions = 0
        """Sequences preempted so far (``vllm:num_preemptions_total``)."""
        self.count = 0
        """Iterations run so far."""
        self.outstanding = 0
        self.counters = PodCounters()
        self.prompt_tokens_total = 0.0
        self.generation_tokens_total = 0.0
        self.done_at: list[float] = []
        self.done_latency: list[float] = []
        self.first_token_times: list[float] = []
        """When each first token came, in order: vLLM observes a request's TTFT then,
        not when the request finishes."""
        self.first_token_ttft: list[float] = []
        """The TTFT observed at each of ``first_token_times``."""
        self.done_tpot: list[float] = []
        """Each finished request's time per output token, in the order of ``done_at``."""
        self.gap_at: list[float] = []
        self.gap_s: list[float] = []
        self.gap_count: list[int] = []
        """Every gap between two tokens of a sequence (vLLM's ITL histogram observes each):
        ``gap_count`` gaps of ``gap_s`` seconds that ended by ``gap_at`` (a run of
        identical iterations is one entry)."""
        self.preempted_at: dict[int, float] = {}
        """Decoding sequences preempted: when their last token came (the gap to the next
        one spans their recompute)."""
        self._busy = False
        self._gen = 0
        self._seg_start = 0.0
        self._seg_tau = 0.0
        self._seg_k = 0
        self._waking = False

    @property
    def waiting(self) -> int:
        return len(self.queue)

    @property
    def running_count(self) -> int:
        return len(self.running) + len(self.prefilling)

    def kv_usage_at(self, now: float) -> float:
        """KV held / all at ``now``: as of the last iteration that ended."""
        held = self.kv_used
        if self._busy and not self._waking and self._seg_tau > 0.0:
            done = min(self._seg_k, math.floor((now - self._seg_start) / self._seg_tau + 1e-9))
            held += max(0, done) * len(self.running)
        return held / self.profile.kv_tokens

    def _prefill_length(self, rid: int) -> float:
        """Tokens to prefill on admission: the prompt, and what it had generated when it
        was preempted."""
        return self.prompt[rid] + self.recompute.get(rid, 0)

    def accept(self, rid: int, now: float) -> None:
        self.queue.append(rid)
        self.outstanding += 1
        if not self._busy:
            # An idle engine's loop wakes up and takes everything queued by then.
            self._busy = self._waking = True
            self._gen += 1
            gen = self._gen
            self.sched.at(now + ENGINE_WAKE_S, lambda t: self._wake(t, gen))
        elif not self._waking and len(self.queue) == 1 and not self.prefilling:
            # Cut the jump over identical iterations at the next boundary, if it fits then.
            done = max(1, math.ceil((now - self._seg_start) / self._seg_tau - 1e-9))
            if done < self._seg_k and self._admissible(rid, done):
                self._schedule(done)

    def _admissible(self, rid: int, iterations: int) -> bool:
        """Whether ``rid`` could be admitted after ``iterations`` more of the segment."""
        decoding = len(self.running)
        held = self.kv_used + iterations * decoding
        cached = self._cached(rid)
        first = min(self._prefill_length(rid) - cached, self._budget() - decoding)
        return (
            self.running_count < self.profile.max_num_seqs
            and held + decoding + cached + first <= self.profile.kv_tokens
        )

    def _budget(self) -> float:
        budget = self.profile.max_num_batched_tokens
        return math.inf if budget is None else float(budget)

    def _wake(self, now: float, gen: int) -> None:
        if gen == self._gen and self.state is not PodState.EXITED:
            self._waking = False
            self._boundary(now)

    def _schedule(self, k: int) -> None:
        self._gen += 1
        self._seg_k = k
        gen = self._gen
        self.sched.at(self._seg_start + k * self._seg_tau, lambda now: self._segment_end(now, gen))

    def _start(self, now: float, tau: float, k: int) -> None:
        self._busy = True
        self._seg_start, self._seg_tau = now, tau
        self._schedule(k)

    def _segment_end(self, now: float, gen: int) -> None:
        if gen != self._gen or self.state is PodState.EXITED:
            return
        k, decoding = self._seg_k, len(self.running)
        self.count += k
        self.counters.executions += k
        self.counters.compute_s += k * self._seg_tau
        self._hold(k * decoding)  # each decoding sequence was fed one token a step
        self.generation_tokens_total += k * decoding + len(self._completing)
        if decoding:
            self._gaps(now, self._seg_tau, k, [rid for _, rid in self.running])
        for rid in self._completing:
            held = self.prefilling.pop(rid)
            if rid in self.preempted_at:  # its first token since it was preempted
                last = self.preempted_at.pop(rid)
                self._gaps(now, now - last, 1, [rid])
            generated = self.recompute.pop(rid, 0) + 1
            if rid not in self.first_token_at:  # not a preempted request's recompute
                self.prompt_tokens_total += self.prompt[rid]
                self.first_token_at[rid] = now
                ttft = now - self.log.arrivals[rid]
                self.log.ttft[rid] = ttft  # type: ignore[index]
                self.first_token_times.append(now)
                self.first_token_ttft.append(ttft)
            self.decoding_since[rid] = (self.count, held, generated)
            heapq.heappush(self.running, (self.count + int(self.output[rid]) - generated, rid))
        self._completing = []
        self._boundary(now)

    def _gaps(self, now: float, gap_s: float, count: int, rids: list[int]) -> None:
        """``count`` gaps of ``gap_s`` for each of ``rids``, ending by ``now``."""
        self.gap_at.append(now)
        self.gap_s.append(gap_s)
        self.gap_count.append(count * len(rids))
        slow = self.log.slow_gaps
        if slow is not None and self.log.slow_gap_s is not None and gap_s > self.log.slow_gap_s:
            for rid in rids:
                slow[rid] += count

    def _held(self, rid: int) -> float:
        """KV tokens ``rid`` holds at an iteration boundary."""
        if rid in self.prefilling:
            return self.prefilling[rid]
        since, held, _ = self.decoding_since[rid]
        return held + (self.count - since)

    def _finish(self, rid: int, now: float) -> None:
        log = self.log
        latency = now - log.arrivals[rid]
        log.latency[rid] = latency
        tokens = int(self.output[rid])
        first = self.first_token_at.pop(rid)
        tpot = (now - first) / (tokens - 1) if tokens > 1 else 0.0
        log.tpot[rid] = tpot  # type: ignore[index]
        self.done_tpot.append(tpot)
        if latency > self.timeout_s:
            log.failed[rid] = True
        log.answered += 1
        held = self._held(rid)
        self.kv_used -= held
        self.free_kv.give(held)
        del self.decoding_since[rid], self.scheduled[rid]
        self.outstanding -= 1
        self.counters.success += 1
        self.counters.request_s += latency
        self.done_at.append(now)
        self.done_latency.append(latency)

    def _preempt_newest(self, now: float) -> int:
        """Free the KV of the newest running sequence and queue it first, to be recomputed
        (vLLM V1's preemption); the request preempted."""
        rid = next(reversed(self.scheduled))
        held = self._held(rid)
        self.kv_used -= held
        cached = _whole_blocks(held) if self.profile.prefix_caching else 0.0
        self.free_kv.give(held, rid, cached)
        del self.scheduled[rid]
        if rid in self.prefilling:
            del self.prefilling[rid]  # what was prefilled is in the cache, if anywhere
        else:
            since, _, generated = self.decoding_since.pop(rid)
            self.recompute[rid] = generated + (self.count - since)
            self.preempted_at[rid] = now  # its last token came as this iteration ended
            self.running = [entry for entry in self.running if entry[1] != rid]
            heapq.heapify(self.running)
        self.queue.appendleft(rid)
        self.preemptions += 1
        return rid

    def _free(self) -> float:
        """KV tokens free, the prefixes preempted sequences left in them included (vLLM
        counts them free: they are handed out when nothing else is)."""
        return self.profile.kv_tokens - self.kv_used

    def _hold(self, tokens: float) -> None:
        """The running sequences take ``tokens`` more of the cache."""
        self.kv_used += tokens
        self.free_kv.take(tokens)

    def _cached(self, rid: int) -> float:
        """Tokens of ``rid``'s prefill its cached prefix spares it: whole blocks, and never
        the last token (its logits give the next one)."""
        cached = self.free_kv.cached.get(rid, 0.0)
        if not cached:
            return 0.0
        return min(_whole_blocks(cached), self._prefill_length(rid) - 1.0)

    def _boundary(self, now: float) -> None:
        """An iteration just ended (or the engine was idle): finish, make room in the KV
        cache, prefill, admit, run on."""
        self._busy = False
        running = self.running
        while running and running[0][0] <= self.count:
            self._finish(heapq.heappop(running)[1], now)
        preempted = False
        while self.running and self._free() < len(self.running):  # each needs its next slot
            self._preempt_newest(now)
            preempted = True
        left = self._budget() - len(self.running)  # a decode token per running sequence first
        prompt_tokens = 0.0
        for rid in list(self.prefilling):  # prompts part-prefilled are running already
            if left <= 0 or rid not in self.prefilling:
                break
            take = min(self._prefill_length(rid) - self.prefilling[rid], left)
            while self._free() - len(self.running) < take:
                preempted = True
                if self._preempt_newest(now) == rid:
                    break
            if rid not in self.prefilling:
                break  # it was the newest: nothing after it runs this iteration either
            self._prefill(rid, take)
            prompt_tokens += take
            left -= take
        deadline = now - self.timeout_s
        while self.queue and left > 0 and not preempted:
            rid = self.queue[0]
            if self.log.arrivals[rid] <= deadline:  # the client gave up waiting
                self.queue.popleft()
                self._fail(rid)
                continue
            if self.profile.never_holds(self.prompt[rid], self.output[rid]):
                self.queue.popleft()
                self._fail(rid)
                continue
            cached = self._cached(rid)
            take = min(self._prefill_length(rid) - cached, left)
            full = self.running_count >= self.profile.max_num_seqs
            if full or self._free() - len(self.running) < cached + take:
                break
            self.queue.popleft()
            if rid not in self.first_token_at:
                self.counters.queue_s += now - self.log.arrivals[rid]
                self.counters.inferences += 1
            self.scheduled[rid] = None
            self.prefilling[rid] = cached
            self.kv_used += cached
            self.free_kv.reclaim(rid, cached)
            self._prefill(rid, take)
            prompt_tokens += take
            left -= take
        p, running = self.profile, self.running  # preemptions above may have shrunk it
        tau = p.decode_base_ms + p.decode_ms_per_seq * len(running)
        if prompt_tokens > 0 or self._completing:
            self._start(now, (tau + p.prefill_ms_per_token * prompt_tokens) / 1000.0, 1)
        elif running:
            # Identical iterations until the next finish, or until the cache fills up; after
            # a preemption, one, for the queue's head may fit at the next boundary.
            fits = int(self._free() // len(running))
            k = 1 if preempted and self.queue else min(running[0][0] - self.count, fits)
            self._start(now, max(tau / 1000.0, 1e-6), k)
        elif self.state is PodState.DRAINING and now >= self.earliest_exit - 1e-9:
            self.exit(now)

    def _prefill(self, rid: int, take: float) -> None:
        """Schedule ``take`` more tokens of ``rid``'s prefill into the coming iteration."""
        done = self.prefilling[rid] + take
        self.prefilling[rid] = done
        self._hold(take)
        if done >= self._prefill_length(rid):
            self._completing.append(rid)

    def _fail(self, rid: int) -> None:
        self.free_kv.forget(rid)
        self.first_token_at.pop(rid, None)
        self.recompute.pop(rid, None)
        self.preempted_at.pop(rid, None)
        self.log.drop(rid)
        self.counters.failure += 1
        self.outstanding -= 1

    def _kill(self, now: float) -> None:
        if self.state is PodState.EXITED:
            return
        for rid in (*self.queue, *self.prefilling, *(r for _, r in self.running)):
            self.log.drop(rid)
        self.counters.failure += self.outstanding
        self.queue.clear()
        self.prefilling = {}
        self.scheduled = {}
        self.decoding_since = {}
        self.recompute = {}
        self.preempted_at = {}
        self._completing = []
        self.running = []
        self.kv_used = 0.0
        self.free_kv = FreeKv(self.profile.kv_tokens)
        self.outstanding = 0
        self.exit(now)

    def exit(self, now: float) -> None:
        super().exit(now)
        self._gen += 1  # the wake-ups and iteration ends scheduled before are void


def gap_quantile_s(gaps_s: list[float], counts: list[int], quantile: float) -> float:
    """The ``quantile`` of gaps each seen ``counts`` times, in seconds (NaN: no gap)."""
    total = sum(counts)
    if total <= 0:
        return math.nan
    order = np.argsort(gaps_s)
    cumulative = np.cumsum(np.asarray(counts, dtype=np.float64)[order])
    at = min(int(np.searchsorted(cumulative, quantile * total)), len(order) - 1)
    return float(np.asarray(gaps_s)[order][at])
