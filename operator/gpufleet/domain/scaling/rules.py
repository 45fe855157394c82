"""The rules of the scaling policy: each proposes replicas, with a reason and its own sentence.

Every rule is a small pure function of the tick's ``Context`` that returns a
``Proposal`` -- or ``None`` when it has nothing to say. ``policy.decide`` takes the
largest proposal, lets the scale-down window hold what recent ticks needed, clamps
to the limits, and reports the deciding rule's sentence as the reason.

- ``load``: the demand now (completions, queue growth, requests unserved for want of
  capacity) at what one replica serves within the target.
- ``latency``: with no capacity figure yet, a settled fleet measured over its latency
  target grows by the miss ratio (HPA-style).
- ``backlog``: a queue the ready pods cannot clear before new pods could be ready;
  the arrivals then need pods of their own (queued requests cannot move).
- ``trend``: a steady rise, projected one cold start ahead (pods ordered now serve then).
- ``rising``: a rise too weak to order pods for keeps those the fleet has: a pod
  released now would come back a cold start late.
- ``rate_noise``: a reading within the counting noise of what fewer replicas serve
  keeps the pods the fleet has: the next reading may land above it, and a pod released
  on it comes back a cold start late, billed a cold start again.
- ``recurring_spikes``: demand that left within a cold start (a spike, a step down),
  or left and came back, holds its pods (ski rental).
- ``activation``: scale from zero when the activation query says requests wait.
- ``keep_warm``: with minReplicas 0, one pod stays until the fleet idled long enough.
- ``failing_requests``: requests the model or server failed (errors) are no demand to
  add pods for, nor idleness: no scale-down below what would serve them too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from gpufleet.domain.scaling import backlog, demand, spikes
from gpufleet.domain.scaling.context import Context
from gpufleet.domain.scaling.types import FleetState, Observations, ReasonCode
from gpufleet.domain.spec import ModelDeploymentSpec


@dataclass(frozen=True, slots=True)
class Proposal:
    replicas: int
    code: ReasonCode
    """What a scale-up to ``replicas`` would be reported as."""
    sentence: str
    """Why, with the numbers: what a person reads in status."""
    rule: str
    remembered: bool = True
    """Whether the scale-down window remembers it. A forecast is not remembered, nor a
    backlog (held only while it lasts); the pods either ordered are kept while they start
    (``policy._window``), as any rule's are."""


def _capacity_text(ctx: Context, replicas: int) -> str:
    """ "N replicas at R req/s each (source) for p95 <= T ms"."""
    count = f"over {ctx.search_limit}" if replicas > ctx.search_limit else str(replicas)
    cap = ctx.capacity
    target = " and ".join(f"{c.name} <= {c.target_ms:g} ms" for c in ctx.latency)
    if cap is None:
        return f"{count} replicas"
    return f"{count} replicas at {cap.per_replica:.2f} req/s each ({cap.source}) for {target}"


def load(ctx: Context) -> Proposal | None:
    rate = ctx.demand
    if rate is None:
        return None
    unserved, errors = ctx.obs.unserved_rate, ctx.obs.error_rate
    notes = []
    if unserved is not None and math.isfinite(unserved) and unserved > 0.0:
        notes.append(f"of which {unserved:.1f} timed out or were cancelled unserved")
    if errors is not None and math.isfinite(errors) and errors > 0.0:
        notes.append(f"not counting {errors:.1f} req/s of errors")
    what = f"{rate:.1f} req/s" + (f" ({'; '.join(notes)})" if notes else "")
    if "request_rate" in ctx.understated:
        what = f"at least {what} (not every pod scraped yet)"
    if ctx.capacity is None and ctx.model is None:
        # Nothing executed yet: keep what serves, let queue and latency speak.
        replicas = ctx.fleet.ready_replicas if rate > 0.0 else 0
        return Proposal(
            replicas,
            ReasonCode.SCALE_UP_LOAD,
            f"{what} arriving; no capacity measured yet (no request executed)",
            "load",
        )
    replicas = ctx.replicas_for(rate)
    cap = ctx.capacity
    if cap is not None and cap.per_replica <= 0.0 and ctx.model is not None:
        floor_ms = ctx.model.p95_ms(1, 0.0)
        target = ctx.spec.slo.latency_p95_ms
        return Proposal(
            replicas,
            ReasonCode.SCALE_UP_LOAD,
            f"{what} needs {replicas} replicas at full batches; the p95 target {target:g} ms "
            f"is below one request's own p95 (~{floor_ms:.0f} ms), which no replica count "
            "can lower",
            "load",
        )
    return Proposal(
        replicas, ReasonCode.SCALE_UP_LOAD, f"{what} needs {_capacity_text(ctx, replicas)}", "load"
    )


def latency(ctx: Context) -> Proposal | None:
    """With no capacity figure at all (nothing executed, nothing measured): HPA-style on
    the measured latency. Once a replica's capacity is known, a miss lowers it
    (``capacity.py``) and the load rule sizes from it."""
    check = ctx.missed
    fleet = ctx.fleet
    ready = fleet.ready_replicas
    if check is None or check.measured_ms is None or ready <= 0 or ctx.capacity is not None:
        return None
    if not ctx.settled or fleet.starting_replicas > 0 or ctx.excess_queue > 0.0:
        # Right after a change the latency window holds the old size; with pods starting
        # or a backlog queued, other rules already act.
        return None
    ratio = min(ctx.tuning.latency_step_max, check.measured_ms / check.target_ms)
    replicas = max(ready + 1, math.ceil(ready * ratio))
    return Proposal(
        replicas,
        ReasonCode.SCALE_UP_LATENCY,
        f"{check.name} {check.measured_ms:.0f} ms > {check.target_ms:g} ms target on "
        f"{ready} settled replicas: x{ratio:.2f}, {replicas} replicas",
        "latency",
    )


def backlog_rule(ctx: Context) -> Proposal | None:
    excess = ctx.excess_queue
    queue = ctx.obs.queue_depth
    fleet = ctx.fleet
    if excess <= 0.0 or queue is None:
        return None
    ready = fleet.ready_replicas
    depth = ctx.spec.scaling.target_queue_depth
    if ctx.capacity is None or ctx.demand is None:
        if fleet.starting_replicas > 0:
            return None  # starting pods will take the arrivals: no piling on
        replicas = ready + math.ceil(excess / depth)
        return Proposal(
            replicas,
            ReasonCode.SCALE_UP_QUEUE,
            f"backlog of {queue:.0f} requests queued (targetQueueDepth {depth:g} per "
            f"replica): {replicas} replicas",
            "backlog",
            remembered=False,
        )
    arrivals = ctx.demand
    throughput = (
        ctx.model.max_rate
        if ctx.model is not None
        else ctx.capacity.per_replica / ctx.tuning.max_utilization
    )
    serving = ready * throughput
    last = ctx.history.last_queue_depth
    completions = ctx.obs.request_rate
    if last is not None and queue >= last and arrivals < serving and completions is not None:
        # The queue does not shrink though the figure says it should: flat out, the
        # pods' completions are their throughput.
        serving = min(serving, completions)
    relief = backlog.relief_s(ctx.history.scale_ups, ctx.horizon_s, ctx.now)
    drain = backlog.project(excess, arrivals, serving, relief)
    target_s = (ctx.spec.slo.latency_p95_ms or 0.0) / 1000.0
    if drain.drain_s <= max(ctx.tuning.backlog_tolerance_s, target_s):
        # Removing a ready pod would strand its queue; keep them while they drain it.
        return Proposal(
            ready,
            ReasonCode.SCALE_UP_QUEUE,
            f"backlog of {queue:.0f} requests queued: the {ready} ready replicas drain it "
            f"before new pods could be ready",
            "backlog",
            remembered=False,
        )
    own = ctx.replicas_for(arrivals)
    replicas = ready + own
    busy = "for good" if math.isinf(drain.drain_s) else f"{drain.drain_s:.0f} s more"
    return Proposal(
        replicas,
        ReasonCode.SCALE_UP_QUEUE,
        f"backlog of {queue:.0f} requests queued, about {drain.at_relief:.0f} when new pods "
        f"can be ready in {drain.relief_s:.0f} s, keeps the {ready} ready replicas busy "
        f"{busy}: queued requests cannot move to new pods, so {arrivals:.1f} req/s of "
        f"arrivals need pods of their own, {_capacity_text(ctx, own)}; {replicas} in all",
        "backlog",
        remembered=False,
    )


def trend(ctx: Context) -> Proposal | None:
    rate = ctx.demand
    if rate is None or rate <= 0.0:
        return None
    ahead = demand.projected_rate(
        ctx.history.rate_samples, ctx.now, rate, ctx.horizon_s, ctx.tuning
    )
    if ahead <= rate:
        return None
    replicas = ctx.replicas_for(ahead)
    return Proposal(
        replicas,
        ReasonCode.SCALE_UP_FORECAST,
        f"demand rising steadily: {rate:.1f} req/s now, {ahead:.1f} expected in "
        f"{ctx.horizon_s:.0f} s when pods ordered now are ready, needs "
        f"{_capacity_text(ctx, replicas)}",
        "trend",
        remembered=False,
    )


def rising(ctx: Context) -> Proposal | None:
    """Keeps (never adds) the pods the demand's rise will need one cold start ahead:
    releasing a pod asks more evidence than ordering one, since it comes back a cold
    start late if the rise goes on."""
    rate = ctx.demand
    if rate is None or rate <= 0.0 or ctx.fleet.replicas <= ctx.replicas_for(rate):
        return None  # the load needs every pod already: none to keep
    ahead = demand.rising_rate(ctx.history.rate_samples, ctx.now, rate, ctx.horizon_s, ctx.tuning)
    if ahead <= rate:
        return None
    replicas = min(ctx.replicas_for(ahead), ctx.fleet.replicas)
    return Proposal(
        replicas,
        ReasonCode.SCALE_DOWN_STABILIZING,
        f"demand is rising: {rate:.1f} req/s now, {ahead:.1f} on its trend in "
        f"{ctx.horizon_s:.0f} s, when a pod released now could be back, needs "
        f"{_capacity_text(ctx, replicas)}",
        "rising",
        remembered=False,
    )


def rate_noise(ctx: Context) -> Proposal | None:
    """Keeps (never adds) the pods the demand needs within the counting noise of its
    reading. A rate counted over a window of ``rate_window_s`` seconds of independent
    arrivals is uncertain by ``sqrt(rate / rate_window_s)`` requests/s (Poisson: the
    least a reading is uncertain by); a reading less than that below what one replica
    fewer serves is no evidence that they would serve the load: the next window lands
    above as often. A pod released on it is ordered again when it does -- a cold start
    billed for nothing, and a cold start short. Releasing asks the demand to lie
    ``hold_significance`` standard errors below what the replicas left serve: keeping a
    pod asks less evidence than ordering one (``load`` orders on the reading itself).
    Remembered, so the scale-down window holds the highest such need of its readings."""
    rate = ctx.demand
    if rate is None or rate <= 0.0:
        return None
    needed = ctx.replicas_for(rate)
    if ctx.fleet.replicas <= needed:
        return None  # nothing to release: no pod to keep
    noise = math.sqrt(rate / ctx.tuning.rate_window_s)
    upper = rate + ctx.tuning.hold_significance * noise
    replicas = min(ctx.replicas_for(upper), ctx.fleet.replicas)
    if replicas <= needed:
        return None
    return Proposal(
        replicas,
        ReasonCode.STEADY,  # the size the reading is consistent with: no release pending
        f"{rate:.1f} req/s counted over {ctx.tuning.rate_window_s:.0f} s is uncertain by "
        f"{noise:.2f} req/s: up to {upper:.1f} req/s needs {_capacity_text(ctx, replicas)}; "
        "a pod released on a reading within its noise comes back a cold start late",
        "rate-noise",
    )


def recurring_spikes(ctx: Context) -> Proposal | None:
    rate = ctx.demand
    if rate is None:
        return None
    peaks, dip = ctx.history.demand_peaks, ctx.tuning.spike_dip
    recurred = spikes.recurring_level(peaks, dip)
    spike = spikes.spike_level(peaks, dip)
    step = spikes.step_level(peaks, dip)
    level = max(recurred, spike, step)
    if level <= rate:
        return None
    replicas = ctx.replicas_for(level)
    if level == step and level > max(recurred, spike):
        # A step down keeps the pods the load had; it orders none (a load that lasted
        # had its pods, and the peak of noisy readings is no reason for more).
        replicas = min(replicas, ctx.fleet.replicas)
    memory = ctx.tuning.miss_cost_cold_starts * ctx.horizon_s
    if recurred >= max(spike, step):
        what = f"demand fell away and came back to {level:.1f} req/s"
    else:
        what = f"demand reached {level:.1f} req/s and fell away within a cold start"
    return Proposal(
        replicas,
        ReasonCode.SCALE_UP_FORECAST,
        f"{what} within the last {memory:.0f} s ({ctx.tuning.miss_cost_cold_starts:g} "
        f"cold starts of {ctx.horizon_s:.0f} s): a pod released now would return a cold "
        f"start late for the next spike, so {_capacity_text(ctx, replicas)} are held",
        "recurring-spikes",
    )


def activation(spec: ModelDeploymentSpec, fleet: FleetState, obs: Observations) -> Proposal | None:
    """Scale from zero: the activation query says requests wait for a pod."""
    act = spec.scaling.activation
    value = obs.activation
    if act is None or fleet.replicas > 0 or value is None or value <= act.threshold:
        return None
    return Proposal(
        1,
        ReasonCode.SCALE_UP_ACTIVATION,
        f"activation query {value:g} > threshold {act.threshold:g} at zero replicas: starting one",
        "activation",
    )


def activation_rule(ctx: Context) -> Proposal | None:
    return activation(ctx.spec, ctx.fleet, ctx.obs)


def keep_warm(ctx: Context) -> Proposal | None:
    """With minReplicas 0: one pod stays until requests have stopped for
    ``scaleToZeroAfterSeconds`` and the activation query agrees."""
    if ctx.limits.lower > 0 or ctx.fleet.replicas == 0:
        return None
    act = ctx.spec.scaling.activation
    idle_since = ctx.history.idle_since
    if act is not None and idle_since is not None:
        idle_s = ctx.now - idle_since
        if idle_s >= act.scale_to_zero_after_seconds:
            return None
        why = (
            f"idle {idle_s:.0f} s of the {act.scale_to_zero_after_seconds} s before scaling to zero"
        )
    elif act is None:
        why = "scaling to zero needs scaling.activation"
    else:
        why = "requests arrived or the activation query is above its threshold or unknown"
    return Proposal(1, ReasonCode.STEADY, f"keeping one replica warm: {why}", "keep-warm")


def failing_requests(ctx: Context) -> Proposal | None:
    """Requests the model or server failed: more replicas would not serve them, so no
    pod is added for them; but they arrived, and had they succeeded they would have been
    load: the fleet keeps what would serve them too (never more than it has). A trickle
    of errors moves this by a fraction of a replica; a model failing most requests holds
    its fleet until the errors stop or the scale-down window passes them."""
    errors, demand, current = ctx.obs.error_rate, ctx.demand, ctx.fleet.replicas
    if errors is None or not errors > 0.0 or demand is None or current <= 0:
        return None
    needed = ctx.replicas_for(demand + errors)
    if needed <= 0:
        return None
    kept = "and are kept" if needed <= current else f"the {current} there are kept, none added"
    return Proposal(
        min(current, needed),
        ReasonCode.ERRORS_HOLD,
        f"{errors:.1f} req/s failed in the model or server (errors: more replicas do not "
        f"serve them; nor are they idleness): {_capacity_text(ctx, needed)} would serve "
        f"them too, {kept}",
        "failing-requests",
    )


Rule = Callable[[Context], Proposal | None]

RULES: tuple[Rule, ...] = (
    load,
    latency,
    backlog_rule,
    trend,
    rising,
    rate_noise,
    recurring_spikes,
    activation_rule,
    keep_warm,
    failing_requests,
)
"""In order of precedence when two propose the same replicas."""
