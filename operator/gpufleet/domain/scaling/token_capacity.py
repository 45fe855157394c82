"""What one LLM replica serves in tokens, learned from its token counters, KV gauge and TTFT/ITL.

``tokens.py`` learns, tick by tick, the line ``t = fixed + per_sequence * n`` of the mean
iteration time t over the sequences n running on a replica, and what else this module
reads (``TokenMemory``); here that is turned into the running batch one replica is given.

What bounds the running batch per replica:

- the gaps between a stream's tokens, for each gap target set -- ITL (every gap,
  ``itlP95Ms``) and TPOT (each request's mean gap, ``tpotP95Ms``):
  ``tail * t(n) <= (1 - latencyHeadroom) * target``, tail the measured p95 over the mean
  iteration time (every gap follows the iteration of its replica; a request's mean gap
  averages them over its life);
- ITL's stalls: every gap follows its replica's iteration, and an iteration that prefills
  a prompt stalls every stream on the replica; where that stall is longer than the ITL
  target (measured: ``prefill_stall_ms``), the ITL p95 is not a multiple of the iteration
  but the share of gaps stalled. A sequence generates ``output_tokens`` before a new
  prompt takes its place, so a replica running n sequences admits n / output_tokens
  prompts an iteration, and each stalls at least the iteration that admits it: the share
  of the fleet's gaps stalled is (n + 1) / output_tokens (the +1: under a random spread a
  replica's sequences scatter like a Poisson count, and a stall weighs by the streams it
  stalls, E[n^2] / E[n] = n + 1), times the iterations each prompt stalls over the
  target: one before any is measured (``stalls_per_prompt_prior``), then where the
  measured ITL p95 and p99 cross the target (a prompt longer than an iteration's token
  budget stalls more than one, a short one none). ITL p95 within target keeps that share
  under 5 %; the tail bound (below) under 1 %;
- KV: ``n * kv_per_sequence <= kv_usage_limit`` -- a replica with a full KV cache queues
  (or preempts) whatever its token rate, and the queue's wait is TTFT;
- measured: TTFT, ITL or TPOT missed, or a KV cache ran out (the engine preempted), on a
  settled fleet at n sequences per replica: a replica is given at most
  ``1 - capacity_margin`` of them; met with slack: at least what ran
  (as ``capacity.py`` does for requests).
- the tails: TTFT, ITL and TPOT p99s, each fitted as a line in n (``ms at no load + ms per
  sequence``), kept within ``(1 - latencyHeadroom)`` of the targets, so that 99 % of
  streams meet each (the p95s of each leave up to 10 % of streams late on one or the
  other). An engine prefills a prompt in the iteration that admits it, or in chunks of
  its token budget over the next few (chunked prefill): every sequence on the replica
  waits for it (a gap, or a few longer ones, for those running; the first token, for
  those admitted with it or just after). Prompts arrive in proportion to the sequences
  a replica runs, so these stalls grow with n -- the slope -- while a long prompt's own
  prefill does not -- the line at no load, which no fleet size removes: a tail that
  misses there bounds nothing. The line is trusted down to the low end of the
  sequences it was measured at; below, a replica is given ``capacity_margin`` less at
  a time. A tail that misses only just below its target at no load asks for replicas
  that run a sequence or two each: the tails are bought up to what the streams they
  keep within the targets are worth at the ski rental's price of a miss, and no further
  (``_worth_buying``).

A replica's capacity is then ``n_max / t(n_max)`` generated tokens/s plus the prompt
tokens that come with them (prompts over outputs per request), and in requests/s that
over the tokens of one request: the rules size the fleet from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

from gpufleet.domain.scaling.context import Context
from gpufleet.domain.scaling.tuning import PolicyTuning
from gpufleet.domain.scaling.types import TokenMemory

SPEC_QUANTILE = 0.95
"""The spec's targets are p95s: the bounds on the gaps and the KV cache keep this share
of the streams within them."""
TAIL_QUANTILE = 0.99
"""The tail bound (the TTFT, ITL and TPOT p99 lines) keeps this share within them."""

P95_SPREAD = NormalDist().inv_cdf(SPEC_QUANTILE)
"""How far up the scatter of running sequences per replica the p95 request sits, in
standard deviations."""


@dataclass(frozen=True, slots=True)
class GapTarget:
    """A target on the gaps between a stream's tokens and what was learned about it."""

    name: str
    """"ITL" (every gap) or "TPOT" (each request's mean gap)."""
    target_ms: float
    tail: float | None
    """Measured p95 over the iteration time of the p95-busy replica (None: the prior)."""
    p99: tuple[float, float] | None
    """The p99's line ``(ms at no load, ms per running sequence)``."""
    p99_fit: tuple[float, ...]


def gap_targets(ctx: Context, memory: TokenMemory) -> list[GapTarget]:
    """The gap targets the spec sets, ITL first."""
    slo = ctx.spec.slo
    targets: list[GapTarget] = []
    if slo.itl_p95_ms is not None:
        targets.append(
            GapTarget("ITL", slo.itl_p95_ms, memory.itl_tail, memory.itl_p99, memory.itl_p99_fit)
        )
    if slo.tpot_p95_ms is not None:
        targets.append(
            GapTarget(
                "TPOT", slo.tpot_p95_ms, memory.tpot_tail, memory.tpot_p99, memory.tpot_p99_fit
            )
        )
    return targets


@dataclass(frozen=True, slots=True)
class TokenCapacity:
    """What one ready replica serves within the TTFT and gap targets."""

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
    return line_or_prior(memory.iteration, memory.iteration_fit, tuning)


def line_or_prior(
    iteration: tuple[float, float] | None, sums: tuple[float, ...], tuning: PolicyTuning
) -> tuple[float, float] | None:
    """``(fixed ms, ms per running sequence)``: the fitted line ``iteration``, or, before
    one is fitted, the prior from the mean point of the decayed sums."""
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
    for gap in gap_targets(ctx, memory):
        tail = gap.tail if gap.tail is not None else tuning.gap_tail_prior
        aim_ms = (1.0 - ctx.spec.scaling.latency_headroom) * gap.target_ms / tail
        busy = (aim_ms - fixed) / per_sequence
        text = f"{gap.name} p95 <= {gap.target_ms:g} ms"
        bounds.append((max(1.0, mean_for_busiest(busy, spread)), text))
    stalls = _stall_bound(ctx, memory, SPEC_QUANTILE)
    if stalls is not None:
        bounds.append(stalls)
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
        sequences, bound = ceiling[1], "TTFT, ITL or TPOT p95 missed, or KV ran out, at more"
    slowest = _tail_bound(ctx, memory)
    if slowest is not None and slowest[0] < sequences:
        sequences, bound = _worth_buying(slowest, sequences, line, tuning)
    return TokenCapacity(
        sequences=sequences,
        bound=bound,
        iteration_ms=fixed + per_sequence * sequences,
        fixed_ms=fixed,
        per_sequence_ms=per_sequence,
        output_tokens=output,
        prompt_tokens=prompt or 0.0,
    )


def _worth_buying(
    tail: tuple[float, str],
    sequences: float,
    line: tuple[float, float],
    tuning: PolicyTuning,
) -> tuple[float, str]:
    """The tail bound's sequences per replica, unless the replicas they take cost more
    than the streams they keep within the targets are worth.

    Sized by the p95 bounds (``sequences``), at most ``1 - SPEC_QUANTILE`` of the streams
    miss; the tail bound keeps ``1 - TAIL_QUANTILE`` missing, so it saves at most the
    difference, ``TAIL_QUANTILE - SPEC_QUANTILE`` of the requests: that share of the
    p95-sized fleet's worth of requests. At the ski rental's price of a miss
    (``miss_cost_cold_starts``: a pod's worth of requests missing for a while is worth
    that many times as long of a pod's GPU time), that is worth ``(TAIL_QUANTILE -
    SPEC_QUANTILE) * miss_cost_cold_starts`` times the p95-sized fleet in more replicas:
    the tail bound buys up to that many, no more. Where prompts prefill nearly as long
    as the TTFT target on their own, or a replica's slowest streams stall at any load,
    its line asks for replicas that each run a sequence or two; this keeps that price
    within what it buys."""
    fixed, per_sequence = line
    extra = (TAIL_QUANTILE - SPEC_QUANTILE) * tuning.miss_cost_cold_starts
    # A replica serves requests in proportion to n / t(n): the fewest sequences per
    # replica worth running serve 1 / (1 + extra) of what ``sequences`` do.
    share = sequences / (fixed + per_sequence * sequences) / (1.0 + extra)
    cheapest = share * fixed / (1.0 - share * per_sequence)
    if tail[0] >= cheapest:
        return tail
    return cheapest, (
        f"{tail[1]}, bought up to {1.0 + extra:g}x the replicas the p95s need (what the "
        f"streams it keeps within the targets are worth)"
    )


def _tail_bound(ctx: Context, memory: TokenMemory) -> tuple[float, str] | None:
    """Sequences per replica at which the fitted TTFT, ITL and TPOT p99s stay within
    ``(1 - latencyHeadroom)`` of their targets, and at most 1 % of the gaps wait for a
    prefill longer than the ITL target: 99 % of streams then meet each target.
    A tail that misses even at no load (prompts too long to prefill in time) is not a
    bound: no fleet size removes it. Measured, so it wins over the 'met at it' floor,
    which reads the p95s."""
    slo, aim = ctx.spec.slo, 1.0 - ctx.spec.scaling.latency_headroom
    step = 1.0 - ctx.tuning.capacity_margin
    bounds: list[tuple[float, str]] = []
    rows = [("TTFT", slo.ttft_p95_ms, memory.ttft_p99, memory.ttft_p99_fit)]
    rows += [(g.name, g.target_ms, g.p99, g.p99_fit) for g in gap_targets(ctx, memory)]
    for name, target, line, sums in rows:
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
    stalls = _stall_bound(ctx, memory, TAIL_QUANTILE)
    if stalls is not None:
        bounds.append(stalls)
    return min(bounds) if bounds else None


def stalls_per_prompt(memory: TokenMemory, tuning: PolicyTuning) -> float:
    """Iterations a prompt stalls over the ITL target: as calibrated, else the prior."""
    calibrated = memory.stalls_per_prompt
    return tuning.stalls_per_prompt_prior if calibrated is None else calibrated


def _stall_bound(ctx: Context, memory: TokenMemory, quantile: float) -> tuple[float, str] | None:
    """Sequences per replica at which at most ``1 - quantile`` of the fleet's gaps wait
    for a prefill, where such a wait is longer than the ITL target (module docstring):
    ``(n + 1) / output_tokens <= 1 - quantile``. None without an ITL target, before a
    stall over it was measured, or where answers are too short for any fleet size to
    keep the share (it misses at no load, as a tail line can: no replica removes it)."""
    target = ctx.spec.slo.itl_p95_ms
    stall, output = memory.prefill_stall_ms, memory.output_tokens
    if target is None or stall is None or output is None or stall <= target:
        return None
    share = 1.0 - quantile
    per_prompt = stalls_per_prompt(memory, ctx.tuning)
    sequences = share * output / per_prompt - 1.0
    if sequences <= 0.0:
        return None
    text = (
        f"ITL p{100 * quantile:g} <= {target:g} ms (a prompt's prefill stalls its replica's "
        f"streams {stall:.0f} ms, {per_prompt:.1f} iterations a prompt, a prompt every "
        f"{output:.0f} tokens a sequence generates: at most {100 * share:g} % of gaps)"
    )
    return max(1.0, sequences), text


def _measured_down_to(sums: tuple[float, ...]) -> float:
    """The low end of the running sequences a fit's points cover: two standard
    deviations below their (decayed) mean."""
    w, wn, wnn = sums[0], sums[1], sums[2]
    mean = wn / w
    return max(0.0, mean - 2.0 * math.sqrt(max(0.0, wnn / w - mean * mean)))


def running_at(
    line: tuple[float, float] | None, generated_per_s: float | None, replicas: int
) -> float | None:
    """Running sequences per replica when ``replicas`` generate ``generated_per_s``
    tokens/s: n = (tokens/s per replica) * t(n) (Little's law on the iteration ``line``);
    ``None`` when unknown or when the replicas cannot keep up."""
    if line is None or generated_per_s is None or replicas <= 0 or generated_per_s < 0.0:
        return None
    fixed, per_sequence = line
    tokens_per_ms = generated_per_s / replicas / 1000.0
    busy = 1.0 - tokens_per_ms * per_sequence
    return None if busy <= 0.0 else tokens_per_ms * fixed / busy


def predicted_itl_p95_ms(
    memory: TokenMemory, tuning: PolicyTuning, generated_per_s: float | None, replicas: int
) -> float | None:
    """ITL p95 at ``replicas`` for ``generated_per_s`` tokens/s (``_predicted_gap_ms``), or
    the measured prefill stall where more than 5 % of the gaps would wait for one."""
    predicted = _predicted_gap_ms(memory, tuning, generated_per_s, replicas, memory.itl_tail)
    stall, output = memory.prefill_stall_ms, memory.output_tokens
    if predicted is None or stall is None or output is None or output <= 0.0:
        return predicted
    n = running_at(iteration_line(memory, tuning), generated_per_s, replicas)
    per_prompt = stalls_per_prompt(memory, tuning)
    stalled = n is not None and per_prompt * (n + 1.0) / output > 1.0 - SPEC_QUANTILE
    return max(predicted, stall) if stalled else predicted


def predicted_tpot_p95_ms(
    memory: TokenMemory, tuning: PolicyTuning, generated_per_s: float | None, replicas: int
) -> float | None:
    """TPOT p95 at ``replicas`` for ``generated_per_s`` tokens/s (``_predicted_gap_ms``)."""
    return _predicted_gap_ms(memory, tuning, generated_per_s, replicas, memory.tpot_tail)


def _predicted_gap_ms(
    memory: TokenMemory,
    tuning: PolicyTuning,
    generated_per_s: float | None,
    replicas: int,
    tail: float | None,
) -> float | None:
    """A gap's p95: the iteration time of the p95-busy replica times the measured ``tail``;
    ``None`` when unknown or when the replicas cannot keep up."""
    line = iteration_line(memory, tuning)
    n = running_at(line, generated_per_s, replicas)
    if n is None or line is None:
        return None
    fixed, per_sequence = line
    ratio = tail if tail is not None else tuning.gap_tail_prior
    return ratio * (fixed + per_sequence * busiest(n, P95_SPREAD))


def predicted_ttft_p95_ms(
    memory: TokenMemory, tuning: PolicyTuning, generated_per_s: float | None, replicas: int
) -> float | None:
    """TTFT p95 at ``replicas`` for ``generated_per_s`` tokens/s: the measured TTFT p95
    line at the sequences each replica would run; ``None`` before the line was measured
    (on a settled fleet that admits at once) or when the replicas cannot keep up."""
    if memory.ttft_p95 is None:
        return None
    n = running_at(iteration_line(memory, tuning), generated_per_s, replicas)
    if n is None:
        return None
    at_no_load, per_sequence = memory.ttft_p95
    return at_no_load + per_sequence * n
