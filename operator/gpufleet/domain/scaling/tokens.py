"""What one LLM replica serves in tokens, learned from its token counters, KV gauge and TTFT/ITL.

An engine (vLLM, TensorRT-LLM, gpufleet-server's LLM mode) runs iterations: each
generates one token for every running sequence and prefills the prompts admitted at
its start. The mean iteration time t -- the gap between two tokens of a sequence --
grows with the sequences running on the replica: ``t = fixed + per_sequence * n``.
``per_sequence`` carries a sequence's own decode and, for a steady mix of requests,
its share of the prefills that replace finished sequences (new prompts arrive in
proportion to the sequences running). Each tick measures one point: n is the running
sequences per ready replica, and t = n / g, g the tokens a replica generates per
second (every running sequence gets one token per iteration: Little's law). A
decayed least-squares fit learns the line; until n varies enough to fit a slope, a
fixed share of t stands in (``PolicyTuning.prior_fixed_share``, as for batches).

What bounds the running batch per replica:

- ITL: ``tail * t(n) <= (1 - latencyHeadroom) * itlP95Ms``, tail the measured ITL p95
  over the mean iteration time;
- KV: ``n * kv_per_sequence <= kv_usage_limit`` -- a replica with a full KV cache queues
  (or preempts) whatever its token rate, and the queue's wait is TTFT;
- measured: TTFT or ITL missed on a settled fleet at n sequences per replica: a replica
  is given at most ``1 - capacity_margin`` of them; met with slack: at least what ran
  (as ``capacity.py`` does for requests). TTFT is the wait plus the prefill: with the
  batch bounded, nothing waits but for the iteration in flight, and a TTFT missed all
  the same is corrected here.
- the tails: TTFT and ITL p99s, each fitted as a line in n (``ms at no load + ms per
  sequence``), kept within ``(1 - latencyHeadroom)`` of the targets, so that 99 % of
  streams meet each (the p95s of each leave up to 10 % of streams late on one or the
  other). An engine prefills a prompt whole in the iteration that admits it: every
  sequence on the replica waits for it (a gap, for those running; the first token, for
  those admitted with it or just after). Prompts arrive in proportion to the sequences
  a replica runs, so these stalls grow with n -- the slope -- while a long prompt's own
  prefill does not -- the line at no load, which no fleet size removes: a tail that
  misses there bounds nothing. The line is trusted down to the low end of the
  sequences it was measured at; below, a replica is given ``capacity_margin`` less at
  a time.

A replica's capacity is then ``n_max / t(n_max)`` generated tokens/s plus the prompt
tokens that come with them (prompts over outputs per request), and in requests/s that
over the tokens of one request: the rules size the fleet from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from statistics import NormalDist

from gpufleet.domain.scaling.capacity import Capacity
from gpufleet.domain.scaling.context import Context
from gpufleet.domain.scaling.tuning import PolicyTuning
from gpufleet.domain.scaling.types import Observations, TokenMemory

P95_SPREAD = NormalDist().inv_cdf(0.95)
"""How far up the scatter of running sequences per replica the p95 request sits, in
standard deviations."""

TAIL_REQUESTS = 100.0
"""Requests a window must hold for its p99 to be the 99th percentile, not the maximum."""

TOKEN_SIGNALS = ("generation_tokens_rate", "prompt_tokens_rate", "running_requests")
"""Signals an LLM engine exports and token sizing reads; a fleet that exports none of
them (Triton's request metrics) is sized in requests only."""


@dataclass(frozen=True, slots=True)
class TokenCapacity:
    """What one ready replica serves within the TTFT and ITL targets."""

    sequences: float
    """Running sequences per replica the fleet is sized for."""
    bound: str
    """What bounds them, for the sentence ("ITL", "KV", "measured ...")."""
    iteration_ms: float
    """Mean iteration time (token gap) at ``sequences``."""
    fixed_ms: float
    per_sequence_ms: float
    output_tokens: float
    """Generated tokens per request."""
    prompt_tokens: float
    """Prompt tokens per request."""

    @property
    def generated_per_s(self) -> float:
        return 1000.0 * self.sequences / self.iteration_ms

    @property
    def tokens_per_s(self) -> float:
        """Prompt and generated tokens/s one replica serves."""
        return self.generated_per_s * (1.0 + self.prompt_tokens / self.output_tokens)

    @property
    def requests_per_s(self) -> float:
        return self.generated_per_s / self.output_tokens


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
    kv_per_sequence, fit, iteration, tail = (
        memory.kv_per_sequence,
        memory.iteration_fit,
        memory.iteration,
        memory.itl_tail,
    )
    n: float | None = None
    if ready > 0 and running is not None and running > 0.0:
        kv = _finite(obs.kv_cache_usage)
        if kv is not None and kv > 0.0:
            kv_per_sequence = _smooth(kv_per_sequence, kv * ready / running, share)
        since = ctx.history.ready_since
        same_pods = since is None or now - since >= tuning.rate_window_s
        if generated is not None and generated > 0.0 and same_pods and not ctx.understated:
            n = running / ready
            iteration_ms = 1000.0 * running / generated
            fit, iteration = _fit(fit, iteration, n, iteration_ms, tuning)
            if ctx.settled and ctx.steady and _admitting(obs, ready) and _tail_measured(ctx):
                memory = _learn_tails(memory, obs, n, tuning)
            itl = _finite(obs.itl_p95_ms)
            line = _line(iteration, fit, tuning)
            if itl is not None and ctx.settled and n >= 1.0 and line is not None:
                lo, hi = tuning.itl_tail_range
                busy_ms = line[0] + line[1] * busiest(n, P95_SPREAD)
                tail = _smooth(tail, min(hi, max(lo, itl / busy_ms)), share)
    memory = replace(
        memory,
        output_tokens=output,
        prompt_tokens=prompt,
        kv_per_sequence=kv_per_sequence,
        iteration_fit=fit,
        iteration=iteration,
        itl_tail=tail,
    )
    return memory if n is None else _correct(ctx, memory, n)


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
    """The TTFT and ITL p99s at ``n`` running sequences per replica, folded into their
    lines: the slowest streams are those stalled behind other requests' prefills, and
    a replica admits new prompts in proportion to the sequences it runs, so a tail
    grows with them; what it measures at no load (a long prompt's own prefill) no
    fleet size removes."""
    ttft, itl = _finite(obs.ttft_p99_ms), _finite(obs.itl_p99_ms)
    if ttft is not None:
        fit, line = _fit(memory.ttft_p99_fit, memory.ttft_p99, n, ttft, tuning)
        memory = replace(memory, ttft_p99_fit=fit, ttft_p99=line)
    if itl is not None:
        fit, line = _fit(memory.itl_p99_fit, memory.itl_p99, n, itl, tuning)
        memory = replace(memory, itl_p99_fit=fit, itl_p99=line)
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
    """TTFT or ITL measured against its target on a settled fleet at a steady load: a
    ceiling (missed) or a floor (met with slack) on the sequences per replica."""
    checks = [c for c in ctx.latency if c.name in ("TTFT p95", "ITL p95")]
    if not checks or not (ctx.settled and ctx.steady) or ctx.fleet.starting_replicas > 0:
        return memory
    if ctx.excess_queue > 0.0:
        return memory  # a backlog's wait is no measure of the batch
    now, tuning = ctx.now, ctx.tuning
    memory = _forget(memory, now, tuning)
    missed = any(c.measured_ms is not None and c.measured_ms > c.target_ms for c in checks)
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


@lru_cache(maxsize=8)
def _spread(quantile: float) -> float:
    return NormalDist().inv_cdf(quantile)


def busiest(mean: float, spread: float) -> float:
    """Running sequences on a replica ``spread`` standard deviations up a Poisson scatter
    around ``mean``."""
    return mean + spread * math.sqrt(max(mean, 0.0))


def mean_for_busiest(busy: float, spread: float) -> float:
    """The mean at which the replica ``spread`` deviations up runs ``busy`` sequences."""
    root = (-spread + math.sqrt(spread * spread + 4.0 * max(busy, 0.0))) / 2.0
    return max(0.0, root) ** 2


def iteration_line(memory: TokenMemory, tuning: PolicyTuning) -> tuple[float, float] | None:
    """``(fixed ms, ms per running sequence)``: the fit, or the prior from the mean point."""
    return _line(memory.iteration, memory.iteration_fit, tuning)


def _line(
    iteration: tuple[float, float] | None, sums: tuple[float, ...], tuning: PolicyTuning
) -> tuple[float, float] | None:
    if iteration is not None:
        return iteration
    if not sums:
        return None
    w, wn, _, wt, _ = sums
    mean_n, mean_t = wn / w, wt / w
    if mean_n <= 0.0 or mean_t <= 0.0:
        return None
    fixed = tuning.prior_fixed_share * mean_t
    return fixed, (mean_t - fixed) / mean_n


def capacity(ctx: Context, memory: TokenMemory | None = None) -> TokenCapacity | None:
    """What one replica serves within the targets (by ``memory``, default the context's);
    ``None`` before the engine was measured."""
    tuning = ctx.tuning
    memory = ctx.history.tokens if memory is None else memory
    line = iteration_line(memory, tuning)
    output, prompt = memory.output_tokens, memory.prompt_tokens
    if line is None or output is None or output <= 0.0:
        return None
    fixed, per_sequence = line
    spread = _spread(tuning.busy_replica_quantile)
    bounds: list[tuple[float, str]] = []
    itl_target = ctx.spec.slo.itl_p95_ms
    if itl_target is not None:
        tail = memory.itl_tail if memory.itl_tail is not None else tuning.itl_tail_prior
        aim_ms = (1.0 - ctx.spec.scaling.latency_headroom) * itl_target / tail
        busy = (aim_ms - fixed) / per_sequence
        bounds.append((max(1.0, mean_for_busiest(busy, spread)), f"ITL p95 <= {itl_target:g} ms"))
    if memory.kv_per_sequence is not None and memory.kv_per_sequence > 0.0:
        limit = tuning.kv_usage_limit
        busy = limit / memory.kv_per_sequence
        bounds.append((max(1.0, mean_for_busiest(busy, spread)), f"KV <= {limit:g}"))
    if not bounds:
        return None
    sequences, bound = min(bounds)
    floor = memory.sequences_floor
    if floor is not None and floor[1] > sequences:
        sequences, bound = floor[1], "targets met at it"
    ceiling = memory.sequences_ceiling
    if ceiling is not None and ceiling[1] < sequences:
        sequences, bound = ceiling[1], "TTFT or ITL p95 missed at more"
    slowest = _tail_bound(ctx, memory)
    if slowest is not None and slowest[0] < sequences:
        sequences, bound = slowest
    return TokenCapacity(
        sequences=sequences,
        bound=bound,
        iteration_ms=fixed + per_sequence * sequences,
        fixed_ms=fixed,
        per_sequence_ms=per_sequence,
        output_tokens=output,
        prompt_tokens=prompt or 0.0,
    )


def _tail_bound(ctx: Context, memory: TokenMemory) -> tuple[float, str] | None:
    """Sequences per replica at which the fitted TTFT and ITL p99s stay within
    ``(1 - latencyHeadroom)`` of their targets: 99 % of streams then meet each target.
    A tail that misses even at no load (prompts too long to prefill in time) is not a
    bound: no fleet size removes it. Measured, so it wins over the 'met at it' floor,
    which reads the p95s."""
    slo, aim = ctx.spec.slo, 1.0 - ctx.spec.scaling.latency_headroom
    step = 1.0 - ctx.tuning.capacity_margin
    bounds: list[tuple[float, str]] = []
    for name, target, line, sums in (
        ("TTFT", slo.ttft_p95_ms, memory.ttft_p99, memory.ttft_p99_fit),
        ("ITL", slo.itl_p95_ms, memory.itl_p99, memory.itl_p99_fit),
    ):
        if target is None or line is None:
            continue
        at_no_load, per_sequence = line
        if at_no_load >= aim * target:
            continue
        sequences = (aim * target - at_no_load) / per_sequence
        text = (
            f"{name} p99 <= {aim * target:g} ms ({at_no_load:.0f} ms + "
            f"{per_sequence:.0f} ms per sequence)"
        )
        measured = _measured_down_to(sums)
        if sequences < step * measured:  # below the points measured: a step at a time
            sequences, text = step * measured, f"{text}, measured down to {measured:.1f}"
        bounds.append((max(1.0, sequences), text))
    return min(bounds) if bounds else None


def _measured_down_to(sums: tuple[float, ...]) -> float:
    """The low end of the running sequences a fit's points cover: two standard
    deviations below their (decayed) mean."""
    w, wn, wnn = sums[0], sums[1], sums[2]
    mean = wn / w
    return max(0.0, mean - 2.0 * math.sqrt(max(0.0, wnn / w - mean * mean)))


def predicted_itl_p95_ms(
    memory: TokenMemory, tuning: PolicyTuning, generated_per_s: float | None, replicas: int
) -> float | None:
    """ITL p95 at ``replicas`` for ``generated_per_s`` tokens/s: each replica's running
    sequences n solve n = (tokens/s per replica) * t(n); ``None`` when unknown or when the
    replicas cannot keep up."""
    line = iteration_line(memory, tuning)
    if line is None or generated_per_s is None or replicas <= 0 or generated_per_s < 0.0:
        return None
    fixed, per_sequence = line
    tokens_per_ms = generated_per_s / replicas / 1000.0
    busy = 1.0 - tokens_per_ms * per_sequence
    if busy <= 0.0:
        return None
    n = tokens_per_ms * fixed / busy
    tail = memory.itl_tail if memory.itl_tail is not None else tuning.itl_tail_prior
    return tail * (fixed + per_sequence * busiest(n, P95_SPREAD))
