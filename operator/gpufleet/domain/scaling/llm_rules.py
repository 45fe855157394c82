"""The rules for LLM fleets: sized in tokens, bounded by the KV cache.

They run before the request-level rules (``rules.py``) and win a tie, so an LLM
fleet's decision explains itself in tokens. Each reads what ``tokens.observe`` learned.

- ``token_load``: the arrivals' prompt and generated tokens/s over what one replica
  serves with its running batch bounded by ITL and KV (``token_capacity.capacity``).
- ``kv_cache``: a hard bound: the KV cache the running and waiting sequences hold,
  spread so that no replica is asked to fill more than ``kv_usage_limit`` of its own.
- ``target_missed``: a fleet missing a TTFT, ITL or TPOT target while its replicas each
  run a sequence or more keeps its replicas: fewer would each run more.
- ``token_metrics_unknown``: an LLM fleet whose token or KV signals are unknown holds
  its size: a lost metric is not an idle fleet.
"""

from __future__ import annotations

import math

from gpufleet.domain.scaling import token_capacity, tokens
from gpufleet.domain.scaling.context import Context
from gpufleet.domain.scaling.rules import Proposal, Rule
from gpufleet.domain.scaling.types import ReasonCode

HOLD_SIGNALS = (*tokens.TOKEN_SIGNALS, "kv_cache_usage")


def _tokens(per_s: float) -> str:
    return f"{per_s / 1000.0:.1f}k" if per_s >= 1000.0 else f"{per_s:.0f}"


def _targets(ctx: Context) -> str:
    return " and ".join(f"{c.name} <= {c.target_ms:g} ms" for c in ctx.latency if c.per_token)


def _kv_text(ctx: Context) -> str:
    kv, ready = ctx.obs.kv_cache_usage, ctx.fleet.ready_replicas
    if kv is None or ready <= 0:
        return ""
    fullest = ctx.obs.kv_cache_usage_max
    most = f", fullest {fullest:.2f}" if fullest is not None and fullest > kv + 0.005 else ""
    return f"; KV {kv:.2f} on {ready} pods{most}"


def _generation_demand(ctx: Context, output_tokens: float) -> float | None:
    """Generated tokens/s the fleet must serve: what it generates now, plus the tokens of
    the requests that queued up or failed meanwhile (the demand minus completions)."""
    obs = ctx.obs
    # A pod not yet scraped twice leaves the sum over the others: a lower bound.
    generated = obs.generation_tokens_rate
    if generated is None:
        generated = obs.lower_bounds.get("generation_tokens_rate")
    rate, completed = ctx.demand, obs.request_rate
    if generated is None or not math.isfinite(generated) or rate is None or completed is None:
        return None
    return max(0.0, generated + (rate - completed) * output_tokens)


def token_load(ctx: Context) -> Proposal | None:
    """Generated tokens/s over what one replica generates with its batch bounded (the
    counter measures the decode load directly; per-request token counts vary too much
    from window to window to size by requests)."""
    cap = token_capacity.capacity(ctx)
    if cap is None or not tokens.is_llm(ctx.obs, ctx.history.tokens):
        return None
    generated = _generation_demand(ctx, cap.output_tokens)
    if generated is None:
        return None
    demand = generated * (1.0 + cap.prompt_tokens / cap.output_tokens)
    replicas = 0 if generated <= 0.0 else math.ceil(generated / cap.generated_per_s - 1e-9)
    replicas = min(replicas, ctx.search_limit + 1)
    count = f"over {ctx.search_limit}" if replicas > ctx.search_limit else str(replicas)
    bounded = ctx.obs.generation_tokens_rate is None or "request_rate" in ctx.understated
    least = "at least " if bounded else ""
    return Proposal(
        replicas,
        ReasonCode.SCALE_UP_LOAD,
        f"{least}{_tokens(demand)} tokens/s needs {count} replicas at "
        f"{_tokens(cap.tokens_per_s)} each with {_targets(ctx)} ({cap.sequences:.1f} "
        f"sequences per replica, bound by {cap.bound}; {cap.iteration_ms:.0f} ms per "
        f"token){_kv_text(ctx)}",
        "token-load",
    )


def kv_cache(ctx: Context) -> Proposal | None:
    """Replicas that hold the KV cache in use under ``kv_usage_limit`` each. Requests
    queued for KV are not counted: they cannot move to a new pod (arrivals can, and the
    token load sizes for them)."""
    kv, ready = ctx.obs.kv_cache_usage, ctx.fleet.ready_replicas
    if kv is None or not math.isfinite(kv) or ready <= 0:
        return None
    limit = ctx.tuning.kv_usage_limit
    replicas = min(ctx.search_limit + 1, math.ceil(kv * ready / limit - 1e-9))
    waiting, preempted = ctx.obs.queue_depth, ctx.obs.preemption_rate
    queued = f", {waiting:.0f} requests waiting" if waiting is not None and waiting >= 1 else ""
    if preempted is not None and preempted > 0.0:
        queued += f", {preempted:.2g} sequences preempted/s"
    return Proposal(
        replicas,
        ReasonCode.SCALE_UP_LOAD,
        f"KV cache {kv:.2f} full on {ready} pods{queued}: {replicas} replicas keep it "
        f"under {limit:g} (a replica near full queues or preempts whatever its token rate)",
        "kv-cache",
    )


def target_missed(ctx: Context) -> Proposal | None:
    """Keeps (never adds) the replicas of a settled fleet that misses a TTFT, ITL or TPOT
    target while each replica runs a sequence or more: fewer replicas would each run
    more sequences, and every stream on a replica waits for the prefills of the others.
    The capacity figures may still say fewer serve the tokens (the sequences ceiling
    learns a miss only at a steady load, which few long requests never read as); the
    measured miss says they do not. A replica running under one sequence serves its
    requests alone: a miss there is the requests' own (a prompt whose prefill alone
    takes longer than the target), which no fleet size removes, so it keeps nothing."""
    missed = [
        c
        for c in ctx.latency
        if c.per_token and c.measured_ms is not None and c.measured_ms > c.target_ms
    ]
    ready, running = ctx.fleet.ready_replicas, ctx.obs.mean_running_requests
    if not missed or not ctx.settled or ready <= 0:
        return None  # unsettled: the latency window still holds the fleet's former size
    if running is None or not math.isfinite(running) or running < ready:
        return None
    check = missed[0]
    return Proposal(
        ctx.fleet.replicas,
        ReasonCode.STEADY,  # the size the measurement asks for at least: nothing pending
        f"{check.name} {check.measured_ms:.0f} ms > {check.target_ms:g} ms target at "
        f"{running / ready:.1f} sequences per replica: no scale-down while a target is "
        "missed (fewer replicas would each run more)",
        "target-missed",
    )


def token_metrics_unknown(ctx: Context) -> Proposal | None:
    obs = ctx.obs
    lost = [n for n in HOLD_SIGNALS if getattr(obs, n) is None and n in obs.unknown]
    current = ctx.fleet.replicas
    if not lost or current <= 0:
        return None
    why = "; ".join(f"{n.replace('_', ' ')} unknown ({obs.unknown[n]})" for n in lost)
    return Proposal(
        current,
        ReasonCode.METRICS_UNKNOWN_HOLD,
        f"{why}: no scale-down while blind to the tokens",
        "token-metrics-unknown",
    )


LLM_RULES: tuple[Rule, ...] = (token_load, kv_cache, target_missed, token_metrics_unknown)
"""Ahead of the request-level rules: on a tie, the sentence in tokens is reported."""
