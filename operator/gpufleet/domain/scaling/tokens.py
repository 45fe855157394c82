"""What the policy learns of an LLM replica's engine each tick, from its token counters,
KV gauge and TTFT/ITL; what one replica then serves in tokens is ``token_capacity.py``.

An engine (vLLM, TensorRT-LLM, gpufleet-server's LLM mode) runs iterations: each
generates one token for every running sequence and prefills prompt tokens: the prompts
admitted at its start, whole, or -- with chunked prefill (vLLM V1) -- as much of them as
the iteration's token budget leaves. The mean iteration time t -- the gap between two
tokens of a sequence -- grows with the sequences running on the replica:
``t = fixed + per_sequence * n``.
``per_sequence`` carries a sequence's own decode and, for a steady mix of requests,
its share of the prefills that replace finished sequences (new prompts arrive in
proportion to the sequences running). Each tick measures one point: n is the running
sequences per ready replica averaged over the rate window, and t = n / g, g the tokens a
replica generates per second over the same window (every running sequence gets one token
per iteration: Little's law, which holds for the two means over one span -- the gauge at
the tick's moment, paired with the window's rate, reads a clump just admitted as slow
iterations and one just drained as fast ones, and tilts the line). A
decayed least-squares fit learns the line; until n varies enough to fit a slope, a
fixed share of t stands in (``PolicyTuning.prior_fixed_share``, as for batches).

Each tick learns as well what ``token_capacity.py`` bounds the running batch by: the
prompt and generated tokens of a request, the KV cache a running sequence holds, the
measured ITL and TPOT p95s over the mean iteration time (an ITL p95 over its target is
not a multiple of the iteration: it reads the prefills' stalls, below), how long an
iteration that prefills stalls the streams (the ITL p99 where it reads one over the
target), the TTFT, ITL and TPOT p99s
each fitted as a line in n (on a settled, steady fleet that admits at once, over enough
requests for a p99), and the sequences per replica at which a TTFT, ITL or TPOT p95 was
missed, or met with slack, on a settled fleet. TTFT is the wait plus the prefill: with
the batch bounded, nothing waits but for the iteration in flight, and a TTFT missed all
the same is corrected here.
"""

from __future__ import annotations

import math
from dataclasses import replace

from gpufleet.domain.scaling.capacity import Capacity
from gpufleet.domain.scaling.context import Context
from gpufleet.domain.scaling.token_capacity import (
    P95_SPREAD,
    SPEC_QUANTILE,
    TAIL_QUANTILE,
    busiest,
    capacity,
    line_or_prior,
    stalls_per_prompt,
)
from gpufleet.domain.scaling.tuning import PolicyTuning
from gpufleet.domain.scaling.types import Observations, TokenMemory

TAIL_REQUESTS = 100.0
"""Requests a window must hold for its p99 to be the 99th percentile, not the maximum."""

TOKEN_SIGNALS = ("generation_tokens_rate", "prompt_tokens_rate", "running_requests")
"""Signals an LLM engine exports and token sizing reads; a fleet that exports none of
them (Triton's request metrics) is sized in requests only."""


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def is_llm(obs: Observations, memory: TokenMemory) -> bool:
    """The fleet exports token signals (known now, bounded below, or unknown with a
    reason), or did at an earlier tick."""
    return memory.output_tokens is not None or any(
        getattr(obs, n) is not None or n in obs.unknown or n in obs.lower_bounds
        for n in TOKEN_SIGNALS
    )


def _smooth(old: float | None, new: float, share: float) -> float:
    return new if old is None else old + share * (new - old)


def observe(ctx: Context) -> Context:
    """Fold this tick's token measurements into the history; an LLM fleet whose token
    capacity is known is sized by it (its request capacity is what its tokens allow)."""
    if not is_llm(ctx.obs, ctx.history.tokens):
        return ctx
    history = replace(ctx.history, tokens=_learn(ctx, ctx.history.tokens))
    cap = capacity(ctx, history.tokens)
    if cap is None:
        return replace(ctx, history=history)
    source = f"from tokens: {cap.sequences:.1f} sequences per replica, bound by {cap.bound}"
    per_replica = Capacity(per_replica=cap.requests_per_s, source=source)
    return replace(ctx, history=history, capacity=per_replica)


def _learn(ctx: Context, memory: TokenMemory) -> TokenMemory:
    """This tick's measurements folded in (one ``replace``: decide runs every tick)."""
    obs, tuning, now = ctx.obs, ctx.tuning, ctx.now
    ready = ctx.fleet.ready_replicas
    share = tuning.token_smoothing
    served = _finite(obs.served_rate)
    generated = _finite(obs.generation_tokens_rate)
    prompted = _finite(obs.prompt_tokens_rate)
    running = _finite(obs.running_requests)
    output, prompt = memory.output_tokens, memory.prompt_tokens
    if served is not None and served > 0.0 and "served_rate" not in obs.lower_bounds:
        if generated is not None and generated > 0.0:
            output = _smooth(output, generated / served, share)
        if prompted is not None and prompted > 0.0:
            prompt = _smooth(prompt, prompted / served, share)
    kv_per_sequence, fit, iteration, itl_tail, tpot_tail = (
        memory.kv_per_sequence,
        memory.iteration_fit,
        memory.iteration,
        memory.itl_tail,
        memory.tpot_tail,
    )
    stall, per_prompt = memory.prefill_stall_ms, memory.stalls_per_prompt
    n: float | None = None
    if ready > 0 and running is not None and running > 0.0:
        kv = _finite(obs.kv_cache_usage)
        if kv is not None and kv > 0.0:
            kv_per_sequence = _smooth(kv_per_sequence, kv * ready / running, share)
        since = ctx.history.ready_since
        same_pods = since is None or now - since >= tuning.rate_window_s
        mean_running = _finite(obs.mean_running_requests)
        if (
            generated is not None
            and generated > 0.0
            and mean_running is not None
            and mean_running > 0.0
            and same_pods
            and not ctx.understated
        ):
            n = mean_running / ready
            iteration_ms = 1000.0 * mean_running / generated
            fit, iteration = _fit(fit, iteration, n, iteration_ms, tuning)
            if ctx.settled and ctx.steady and _admitting(obs, ready) and _tail_measured(ctx):
                memory = _learn_tails(memory, obs, n, tuning)
            line = line_or_prior(iteration, fit, tuning)
            if ctx.settled and n >= 1.0 and line is not None:
                busy_ms = line[0] + line[1] * busiest(n, P95_SPREAD)
                itl_target = ctx.spec.slo.itl_p95_ms
                if not _over(obs.itl_p95_ms, itl_target):
                    itl_tail = _gap_tail(itl_tail, obs.itl_p95_ms, busy_ms, tuning)
                tpot_tail = _gap_tail(tpot_tail, obs.tpot_p95_ms, busy_ms, tuning)
                stall = _prefill_stall(stall, obs.itl_p99_ms, itl_target, busy_ms, tuning)
                if (
                    output
                    and stall is not None
                    and itl_target is not None
                    and busy_ms <= itl_target
                ):
                    per_prompt = _calibrated_stalls(
                        memory, obs, (n + 1.0) / output, itl_target, tuning
                    )
    memory = replace(
        memory,
        output_tokens=output,
        prompt_tokens=prompt,
        kv_per_sequence=kv_per_sequence,
        iteration_fit=fit,
        iteration=iteration,
        itl_tail=itl_tail,
        tpot_tail=tpot_tail,
        prefill_stall_ms=stall,
        stalls_per_prompt=per_prompt,
    )
    return memory if n is None else _correct(ctx, memory, n)


def _gap_tail(
    tail: float | None, p95_ms: float | None, busy_ms: float, tuning: PolicyTuning
) -> float | None:
    """A gap's tail moved toward this tick's p95 over the p95-busy replica's iteration."""
    measured = _finite(p95_ms)
    if measured is None:
        return tail
    lo, hi = tuning.gap_tail_range
    return _smooth(tail, min(hi, max(lo, measured / busy_ms)), tuning.token_smoothing)


def _over(measured_ms: float | None, target_ms: float | None) -> bool:
    measured = _finite(measured_ms)
    return measured is not None and target_ms is not None and measured > target_ms


def _prefill_stall(
    stall: float | None,
    itl_p99_ms: float | None,
    target_ms: float | None,
    busy_ms: float,
    tuning: PolicyTuning,
) -> float | None:
    """The stall moved toward this tick's ITL p99 where that reads an iteration that
    prefills: over the ITL target and longer than any decode iteration's tail
    (``gap_tail_range``) on the p95-busy replica."""
    measured = _finite(itl_p99_ms)
    if measured is None or not _over(measured, target_ms):
        return stall
    if measured <= tuning.gap_tail_range[1] * busy_ms:
        return stall
    return _smooth(stall, measured, tuning.token_smoothing)


def _calibrated_stalls(
    memory: TokenMemory,
    obs: Observations,
    prompts_per_gap: float,
    target_ms: float,
    tuning: PolicyTuning,
) -> float | None:
    """The stalls per prompt moved toward the nearest value this tick's ITL p95 and p99
    allow. With the busy replica's iteration within the target, a gap over it waits for a
    prefill, and ``prompts_per_gap`` times the stalls per prompt is the share of gaps that
    do (``token_capacity._stall_bound``): a p99 over the target says that share is over
    1 %, within it that it is not; the p95 likewise at 5 %."""
    per_prompt = memory.stalls_per_prompt
    current = stalls_per_prompt(memory, tuning)
    lo, hi = 0.0, math.inf
    for measured, quantile in ((obs.itl_p99_ms, TAIL_QUANTILE), (obs.itl_p95_ms, SPEC_QUANTILE)):
        value = _finite(measured)
        if value is None:
            continue
        boundary = (1.0 - quantile) / prompts_per_gap
        if value > target_ms:
            lo = max(lo, boundary)
        else:
            hi = min(hi, boundary)
    if lo > hi:
        return per_prompt  # a p95 over the target with the p99 within it: no reading
    return _smooth(per_prompt, min(hi, max(lo, current)), tuning.token_smoothing)


def _preempting(obs: Observations) -> bool:
    """The engine preempted sequences in the rate window: some pod's KV cache ran out."""
    preempted = _finite(obs.preemption_rate)
    return preempted is not None and preempted > 0.0


def _admitting(obs: Observations, ready: int) -> bool:
    """Fewer requests wait than there are ready replicas: most replicas admit a new
    request at once, so TTFT measures the batch's stalls, not a backlog's wait (which
    is the fleet's lag behind its load, cleared by the load rules)."""
    waiting = _finite(obs.queue_depth)
    return waiting is not None and waiting < ready


def _tail_measured(ctx: Context) -> bool:
    """Enough requests finished within the rate window for a p99 to be more than the
    slowest one."""
    served = _finite(ctx.obs.served_rate)
    return served is not None and served * ctx.tuning.rate_window_s >= TAIL_REQUESTS


def _learn_tails(
    memory: TokenMemory, obs: Observations, n: float, tuning: PolicyTuning
) -> TokenMemory:
    """The TTFT, ITL and TPOT p99s (and the TTFT p95, which status predicts) at ``n`` running
    sequences per replica, folded into their lines: the slowest streams are those
    stalled behind other requests' prefills, and a replica admits new prompts in
    proportion to the sequences it runs, so a tail grows with them; what it measures at
    no load (a long prompt's own prefill) no fleet size removes."""
    ttft, itl, tpot = _finite(obs.ttft_p99_ms), _finite(obs.itl_p99_ms), _finite(obs.tpot_p99_ms)
    if ttft is not None:
        fit, line = _fit(memory.ttft_p99_fit, memory.ttft_p99, n, ttft, tuning)
        memory = replace(memory, ttft_p99_fit=fit, ttft_p99=line)
    ttft_p95 = _finite(obs.ttft_p95_ms)
    if ttft_p95 is not None:
        fit, line = _fit(memory.ttft_p95_fit, memory.ttft_p95, n, ttft_p95, tuning)
        memory = replace(memory, ttft_p95_fit=fit, ttft_p95=line)
    if itl is not None:
        fit, line = _fit(memory.itl_p99_fit, memory.itl_p99, n, itl, tuning)
        memory = replace(memory, itl_p99_fit=fit, itl_p99=line)
    if tpot is not None:
        fit, line = _fit(memory.tpot_p99_fit, memory.tpot_p99, n, tpot, tuning)
        memory = replace(memory, tpot_p99_fit=fit, tpot_p99=line)
    return memory


def _fit(
    sums: tuple[float, ...],
    iteration: tuple[float, float] | None,
    n: float,
    t: float,
    tuning: PolicyTuning,
) -> tuple[tuple[float, ...], tuple[float, float] | None]:
    """The decayed sums with the point (n, t) added, and the line they fit (the last
    sensible one while n varies too little)."""
    w, wn, wnn, wt, wnt = sums or (0.0, 0.0, 0.0, 0.0, 0.0)
    d = tuning.fit_decay
    fit = (d * w + 1.0, d * wn + n, d * wnn + n * n, d * wt + t, d * wnt + n * t)
    w, wn, wnn, wt, wnt = fit
    mean_n, mean_t = wn / w, wt / w
    var = wnn / w - mean_n * mean_n
    if var >= tuning.min_running_spread:
        per_sequence = (wnt / w - mean_n * mean_t) / var
        fixed = mean_t - per_sequence * mean_n
        if per_sequence > 0.0 and fixed >= 0.0:
            iteration = (fixed, per_sequence)
    return fit, iteration


def _correct(ctx: Context, memory: TokenMemory, n: float) -> TokenMemory:
    """TTFT, ITL or TPOT measured against its target on a settled fleet at a steady load: a
    ceiling (missed, or a pod's KV cache ran out: the engine preempted) or a floor (met
    with slack) on the sequences per replica."""
    checks = [c for c in ctx.latency if c.per_token]
    ran_out = _preempting(ctx.obs)
    measured = ctx.settled and ctx.steady and ctx.fleet.starting_replicas == 0
    if not (checks or ran_out) or not measured:
        return memory
    if ctx.excess_queue > 0.0:
        return memory  # a backlog's wait is no measure of the batch
    now, tuning = ctx.now, ctx.tuning
    memory = _forget(memory, now, tuning)
    missed = ran_out or any(
        c.measured_ms is not None and c.measured_ms > c.target_ms for c in checks
    )
    headroom = 1.0 - ctx.spec.scaling.latency_headroom
    within = all(
        c.measured_ms is not None and c.measured_ms <= headroom * c.target_ms for c in checks
    )
    if missed:
        value = (1.0 - tuning.capacity_margin) * n
        old = memory.sequences_ceiling
        if old is not None and old[1] < value:
            value = old[1]  # a lower ceiling measured within memory stands
        floor = memory.sequences_floor
        if floor is not None and floor[1] > value:
            memory = replace(memory, sequences_floor=None)
        return replace(memory, sequences_ceiling=(now, value))
    if within:
        floor = memory.sequences_floor
        if floor is None or n >= floor[1]:
            ceiling = memory.sequences_ceiling
            if ceiling is not None and n > ceiling[1]:
                memory = replace(memory, sequences_ceiling=None)  # sequences got cheaper
            return replace(memory, sequences_floor=(now, n))
    return memory


def _forget(memory: TokenMemory, now: float, tuning: PolicyTuning) -> TokenMemory:
    memory_s = tuning.capacity_memory_s
    if memory.sequences_ceiling is not None and now - memory.sequences_ceiling[0] > memory_s:
        memory = replace(memory, sequences_ceiling=None)
    if memory.sequences_floor is not None and now - memory.sequences_floor[0] > memory_s:
        memory = replace(memory, sequences_floor=None)
    return memory
