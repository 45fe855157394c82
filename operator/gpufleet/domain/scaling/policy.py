"""The scaling policy: ``decide(spec, fleet, observations, history, now) -> Decision``.

Pure, deterministic and cheap (tens of microseconds): the operator calls it every
tick per ModelDeployment, the simulator calls it for hours of simulated time.

One tick:

1. Limits: ``[minReplicas, maxReplicas]`` and what ``maxHourlyCost`` affords.
2. Pods on their way: match newly ready pods to past scale-ups, learn the cold start.
3. If the request rate and the queue depth are both unknown, without even a lower
   bound: hold (or raise to ``fallbackReplicas``), never scale down -- a lost metric
   is not an idle fleet.
4. Need: the fewest replicas whose predicted p95 meets (1 - ``latencyHeadroom``) x
   the target for the arrival rate (completions + queue growth), projected one cold
   start ahead when rising (``demand.py``); more if the measured p95 misses where the
   model says the fleet meets it (the model is wrong), and for ``MISSED_LOAD_MEMORY_S``
   no replica is given the load it missed at, on a steady load; and if a queued backlog will
   keep the ready pods busy after new ones could be ready, replicas of their own for
   the arrivals (``backlog.py``: queued requests cannot move to new pods). The prediction
   (``batching.py``) is a dynamic-batching replica -- batch time ``a + c*b`` fitted
   from compute time and batch size, p95 = ``tail_factor`` batch times -- plus an
   Erlang C wait when the fleet runs short (``queueing.py``); the tail factor is
   learned from the measured p95 (``capacity.py``). ``spec.replicas`` already
   counts starting pods, so a need they cover adds nothing: no piling on.
5. Stabilise (``stabilization.py``): up at once; down to the highest need of the
   scale-down window at the *measured* rate, plus ``RELEASE_MARGIN`` when more was
   asked (a forecast or a backlog to drain holds pods only while it lasts, or while
   the pods it ordered start), at most half per
   decision; up-only while an essential signal is unknown -- sized, where known, for
   its lower bound (its sum over the pods that report it: a pod just became ready).
6. Clamp to the limits (``budget.py``) and explain (``explain.py``).
"""

from __future__ import annotations

import math
from dataclasses import replace

from gpufleet.domain.scaling import (
    backlog,
    budget,
    capacity,
    coldstart,
    demand,
    explain,
    stabilization,
)
from gpufleet.domain.scaling.batching import ReplicaModel
from gpufleet.domain.scaling.need import Need
from gpufleet.domain.scaling.types import (
    Decision,
    FleetState,
    Observations,
    ReasonCode,
    ScalerHistory,
)
from gpufleet.domain.spec import MetricsLossBehavior, ModelDeploymentSpec

MAX_UTILIZATION = 0.9
"""Headroom against the noise of a windowed rate, whatever the queueing model says."""
RELEASE_MARGIN = 0.1
"""Pods asked for beyond the measured load (a forecast rise, a backlog, a measured
miss) are released down to what 10 % more than that load needs, not to the load
itself: a rise seldom ends where its forecast was last renewed, and a pod released
on the way up comes back a cold start late. A fleet sized for its measured load
gets no margin: it would only hold pods on a flat load. (The simulator suite,
docs/benchmarks/sim-suite.md: 24 of 32 scenarios at >= 99 % with it, 20 at 52c3ac4
without it, both at 1.21x the oracle's GPU-hours on average.)"""
MISSED_LOAD_MEMORY_S = 600.0
"""How long a per-replica load measured to miss the target caps what a replica is
given. Without it, the measured-miss scale-up lasts one scale-down window: then the
model, which has not learned (a miss with a queue teaches the tail factor nothing),
releases the pods again and the miss comes back -- a cycle of a few minutes."""
CEILING_MARGIN = 0.1
"""A replica is given at most 10 % less than a load it missed the target at."""
BUSY_TOLERANCE_S = 10.0
"""A backlog the ready pods clear within this after new pods could be ready makes its
arrivals wait a few seconds; not worth a set of fresh pods, each billed a whole cold
start -- and a projection one cold start ahead is no more precise than this."""
LEARN_SETTLE_S = 60.0
"""A measured p95 describes one fleet size only this long after the ready count changed."""
STEADY_SPREAD = 0.3
"""Largest spread (max - min over mean) of the arrival rate over ``LEARN_SETTLE_S`` still
read as one load: the p95 window then describes it, not a burst that has passed."""
LATENCY_STEP_MAX = 2.0
"""Without a capacity model, one latency-driven step at most doubles the fleet."""
ESSENTIAL_SIGNALS = ("request_rate", "queue_depth")
"""Signals without which the fleet cannot be sized; latency is a correction."""


def decide(
    spec: ModelDeploymentSpec,
    fleet: FleetState,
    observations: Observations,
    history: ScalerHistory,
    now: float,
) -> Decision:
    lim = budget.limits(spec, fleet)
    history = coldstart.track(history, fleet, now)
    unknown = tuple(name for name in ESSENTIAL_SIGNALS if getattr(observations, name) is None)
    obs, bounded = _with_lower_bounds(observations)
    if all(getattr(obs, name) is None for name in ESSENTIAL_SIGNALS):
        return _metrics_lost(spec, fleet, obs, history, now, lim)

    if "queue_depth" in bounded:
        # A lower bound's change is no queue growth: forget the last depth.
        history = replace(history, last_queue_depth=None)
    need, history = _need(spec, fleet, obs, history, now, lim)
    current = fleet.replicas
    scaling = spec.scaling
    window = max(scaling.scale_up_stabilization_seconds, scaling.scale_down_window_seconds)
    # Blind to a signal, or seeing only a lower bound of it, a low need is no
    # evidence: remember at least the current size (scale up only).
    needed = max(need.replicas, current) if unknown else need.replicas
    # A signal summed over the pods that report it (one just became ready) bounds the
    # load from below: hold this tick, but remember only what that bound needs -- the
    # current size remembered would restart the scale-down window at every scale-up.
    blind = tuple(name for name in unknown if name not in bounded)
    remembered = max(need.remembered, current) if blind else need.remembered
    recs = stabilization.remember(history.recommendations, now, remembered, window)
    horizon = coldstart.horizon_s(spec, history)
    forecasts = stabilization.remember(history.forecasts, now, needed, horizon)
    if needed > current:
        wanted = max(
            current,
            stabilization.scale_up_target(
                history.recommendations, now, scaling.scale_up_stabilization_seconds, needed
            ),
        )
    elif needed < current:
        if not history.recommendations:
            # A fresh history (operator restart) has seen no quiet window: count
            # the current size as recommended now, so scale-down waits a window.
            recs = stabilization.remember(((now, current),), now, remembered, window)
        # Never below what the load needs now, forecast and backlog included; and
        # pods ordered for a forecast are kept while they start, until it could have
        # come true (one cold start): cancelling them would re-order them later.
        keep = needed
        if fleet.starting_replicas > 0:
            keep = stabilization.highest(forecasts, now, horizon)
        wanted = max(
            keep,
            stabilization.scale_down_target(recs, now, scaling.scale_down_window_seconds, current),
        )
    else:
        wanted = current
    desired, bounds = budget.clamp(wanted, lim)
    if need.replicas > lim.upper:
        bounds = frozenset({lim.upper_bound})

    history = replace(
        history,
        recommendations=recs,
        forecasts=forecasts,
        metrics_unknown_since=((history.metrics_unknown_since or now) if unknown else None),
        last_queue_depth=None if "queue_depth" in bounded else obs.queue_depth,
        last_observed_at=obs.at,
    )
    code, reason = explain.scaling_reason(spec, fleet, obs, need, desired, bounds, lim, unknown)
    history = _record_change(history, current, desired, now, reason)
    predicted = None
    if need.model is not None:
        rate = obs.request_rate if obs.request_rate is not None else 0.0
        predicted = need.model.p95_ms(desired, rate)
    return Decision(
        desired_replicas=desired,
        reason_code=code,
        reason=reason,
        bounds_hit=bounds,
        predicted_p95_ms=predicted if predicted is None or math.isfinite(predicted) else None,
        hourly_cost=desired * lim.replica_hourly_cost,
        metrics_available=not unknown,
        slo_met=_slo_met(spec, obs),
        history=history,
    )


def _with_lower_bounds(obs: Observations) -> tuple[Observations, tuple[str, ...]]:
    """``obs`` with each unknown load signal replaced by its lower bound, if one is
    known, and the names so replaced. Sizing for a lower bound of the load can only
    under-size, so it may raise the fleet; the caller never lowers it on one."""
    filled = {
        name: obs.lower_bounds[name]
        for name in ESSENTIAL_SIGNALS
        if getattr(obs, name) is None and name in obs.lower_bounds
    }
    if not filled:
        return obs, ()
    bounded = replace(
        obs,
        request_rate=filled.get("request_rate", obs.request_rate),
        queue_depth=filled.get("queue_depth", obs.queue_depth),
    )
    return bounded, tuple(filled)


def _need(
    spec: ModelDeploymentSpec,
    fleet: FleetState,
    obs: Observations,
    history: ScalerHistory,
    now: float,
    lim: budget.Limits,
) -> tuple[Need, ScalerHistory]:
    target = spec.slo.latency_p95_ms
    # The measured p95 is a noisy, lagging estimate, and a fleet sized exactly at the
    # target misses it half the time: size for a share of it.
    aim = (1.0 - spec.scaling.latency_headroom) * target
    search_limit = max(4 * lim.upper, 64)
    horizon = coldstart.horizon_s(spec, history)
    history = capacity.observe(obs, history)
    arrivals: float | None = None
    if obs.request_rate is not None:
        arrivals = demand.arrival_rate(
            obs.request_rate,
            obs.queue_depth,
            history.last_queue_depth,
            history.last_observed_at,
            now,
            backlog_threshold=_normal_queue(spec, fleet, obs),
        )
        history = replace(
            history,
            rate_samples=demand.remember_rate(
                history.rate_samples, now, arrivals, demand.trend_window_s(horizon)
            ),
        )
    latency_high = obs.p95_latency_ms is not None and obs.p95_latency_ms > target
    history = capacity.learn_tail_factor(
        history,
        obs,
        fleet.ready_replicas,
        trustworthy=_trustworthy(spec, fleet, obs, history, now),
        aim_ms=aim,
    )
    model = capacity.replica_model(history)
    if model is None:
        # No capacity model yet (no request executed since start): the queue and the
        # measured latency are all there is, HPA-style.
        replicas = 0 if arrivals is None or arrivals <= 0.0 else fleet.ready_replicas
        code = ReasonCode.SCALE_UP_LOAD
        if latency_high and obs.p95_latency_ms is not None:
            stepped = _latency_step(fleet.ready_replicas, obs.p95_latency_ms, target)
            replicas = max(replicas, stepped)
            code = ReasonCode.SCALE_UP_LATENCY
        by_queue = _backlog_replicas(spec, fleet, obs)
        if by_queue > replicas:
            replicas, code = by_queue, ReasonCode.SCALE_UP_QUEUE
        return Need(replicas, code, arrivals, None, None), history

    measured = _measured_miss(fleet, obs, history, now, model, arrivals, target)
    if (
        measured is not None
        and arrivals is not None
        and fleet.ready_replicas > 0
        and _steady(history, now)
    ):
        history = _remember_missed_load(history, now, arrivals / fleet.ready_replicas)
    ceiling = _load_ceiling(history, now)
    per_replica = model.rate_within(aim)
    capped_by = None
    if ceiling is not None and ceiling < per_replica and history.missed_load is not None:
        per_replica, capped_by = ceiling, history.missed_load[1]
    replicas, code = 0, ReasonCode.SCALE_UP_LOAD
    sustained = 0
    release_to = 0
    if arrivals is not None:

        def replicas_at(rate: float) -> int:
            by_model = model.replicas_for(rate, aim, MAX_UTILIZATION, search_limit)
            if ceiling is None:
                return by_model
            # Never size a replica past a load it was measured to miss the target at.
            return max(by_model, math.ceil(rate / ceiling))

        sustained = replicas_at(arrivals)
        release_to = replicas_at(arrivals * (1.0 + RELEASE_MARGIN))
        sized_for = demand.projected_rate(history.rate_samples, now, arrivals, horizon)
        replicas = replicas_at(sized_for)
        if latency_high:
            code = ReasonCode.SCALE_UP_LATENCY
    if measured is not None:
        # Measured, not forecast: the scale-down window remembers it.
        sustained = max(sustained, measured)
        release_to = max(release_to, measured)
        if measured > replicas:
            replicas, code = measured, ReasonCode.SCALE_UP_LATENCY
    drain = _backlog(spec, fleet, obs, history, now, model, arrivals, horizon)
    if drain is not None:
        # The ready pods hold the backlog: removing one would strand its queue.
        replicas = max(replicas, fleet.ready_replicas)
        if drain.drain_s > max(BUSY_TOLERANCE_S, target / 1000.0):
            # The ready pods stay busy with the backlog after new ones are ready: the
            # arrivals then need replicas of their own.
            busy = fleet.ready_replicas + sustained
            if busy > replicas:
                replicas, code = busy, ReasonCode.SCALE_UP_QUEUE
    need = Need(
        replicas,
        code,
        arrivals,
        per_replica,
        model,
        lower_bound=replicas > search_limit,
        sustained=release_to,
        backlog=drain,
        missed_load=capped_by,
    )
    return need, history


def _remember_missed_load(history: ScalerHistory, now: float, load: float) -> ScalerHistory:
    """The lowest per-replica load measured to miss within ``MISSED_LOAD_MEMORY_S``, its
    memory renewed by each miss."""
    if _load_ceiling(history, now) is not None and history.missed_load is not None:
        load = min(load, history.missed_load[1])
    return replace(history, missed_load=(now, load))


def _load_ceiling(history: ScalerHistory, now: float) -> float | None:
    """Requests/s one replica may be given: ``CEILING_MARGIN`` below a load it was
    measured to miss the target at, for ``MISSED_LOAD_MEMORY_S``; ``None``: no such miss."""
    if history.missed_load is None:
        return None
    at, load = history.missed_load
    if now - at > MISSED_LOAD_MEMORY_S or load <= 0.0:
        return None
    return load * (1.0 - CEILING_MARGIN)


def _measured_miss(
    fleet: FleetState,
    obs: Observations,
    history: ScalerHistory,
    now: float,
    model: ReplicaModel,
    arrivals: float | None,
    target: float,
) -> int | None:
    """Replicas a measured p95 miss asks for where the model says the ready fleet meets
    the target -- the model is wrong (a cost it does not see: HTTP, serialisation, a
    shared CPU), and the measurement wins until the tail factor has learned it. Only
    on a settled fleet: right after a change the p95 window still holds the old size."""
    p95, ready = obs.p95_latency_ms, fleet.ready_replicas
    if p95 is None or p95 <= target or ready <= 0 or fleet.starting_replicas > 0:
        return None
    if not _settled(history, now) or model.p95_ms(ready, arrivals or 0.0) > target:
        return None
    return max(ready + 1, _latency_step(ready, p95, target))


def _latency_step(ready: int, p95_ms: float, target: float) -> int:
    """HPA-style on latency: the ready fleet times the miss ratio, at most doubled."""
    return math.ceil(max(ready, 1) * min(LATENCY_STEP_MAX, p95_ms / target))


def _backlog(
    spec: ModelDeploymentSpec,
    fleet: FleetState,
    obs: Observations,
    history: ScalerHistory,
    now: float,
    model: ReplicaModel,
    arrivals: float | None,
    horizon: float,
) -> backlog.Backlog | None:
    """The queued backlog projected to when new pods could be ready; ``None``: none."""
    queued = _excess_backlog(spec, fleet, obs)
    if queued <= 0.0:
        return None
    serving = fleet.ready_replicas * model.max_rate
    last, queue = history.last_queue_depth, obs.queue_depth or 0.0
    not_shrinking = last is not None and queue >= last
    if not_shrinking and (arrivals or 0.0) < serving and obs.request_rate is not None:
        # The model says the queue shrinks, and it does not: the pods are slower than
        # modelled. Flat out, their completions are their throughput.
        serving = min(serving, obs.request_rate)
    relief = backlog.relief_s(history.scale_ups, horizon, now)
    return backlog.project(queued, arrivals or 0.0, serving, relief)


def _trustworthy(
    spec: ModelDeploymentSpec,
    fleet: FleetState,
    obs: Observations,
    history: ScalerHistory,
    now: float,
) -> bool:
    """Whether the measured p95 describes the ready replicas serving the measured rate.

    Not if the ready count changed within ``LEARN_SETTLE_S`` (the latency window
    mixes two fleet sizes), nor with a backlog queued: a burst arriving or leaving
    raises p95 without saying anything about one replica's latency.
    """
    if not _settled(history, now):
        return False
    queue, last = obs.queue_depth, history.last_queue_depth
    normal = _normal_queue(spec, fleet, obs)
    return queue is not None and last is not None and queue <= normal and last <= normal


def _steady(history: ScalerHistory, now: float) -> bool:
    """Whether the arrivals held within ``STEADY_SPREAD`` over ``LEARN_SETTLE_S``."""
    recent = [r for t, r in history.rate_samples if t >= now - LEARN_SETTLE_S]
    if len(recent) < 2:
        return False
    mean = sum(recent) / len(recent)
    return mean > 0.0 and (max(recent) - min(recent)) / mean <= STEADY_SPREAD


def _settled(history: ScalerHistory, now: float) -> bool:
    """Whether the ready count has held long enough for the p95 window to describe it."""
    return history.ready_since is None or now - history.ready_since >= LEARN_SETTLE_S


def _normal_queue(spec: ModelDeploymentSpec, fleet: FleetState, obs: Observations) -> float:
    """Requests a healthy fleet holds: ``targetQueueDepth`` per ready replica, plus
    the batch forming behind the one executing (a batching server's queue is
    never empty under load, and that is no backlog)."""
    batch = obs.inferences_per_exec
    forming = batch if batch is not None and math.isfinite(batch) and batch > 1.0 else 1.0
    return fleet.ready_replicas * (spec.scaling.target_queue_depth + 2.0 * forming)


def _excess_backlog(spec: ModelDeploymentSpec, fleet: FleetState, obs: Observations) -> float:
    if obs.queue_depth is None:
        return 0.0
    return max(0.0, obs.queue_depth - _normal_queue(spec, fleet, obs))


def _backlog_replicas(spec: ModelDeploymentSpec, fleet: FleetState, obs: Observations) -> int:
    """Without a capacity model: HPA-style, a replica per ``targetQueueDepth`` queued."""
    if fleet.starting_replicas > 0:
        # Starting pods will take the arrivals; counting the queue again would pile pods on.
        return 0
    excess = _excess_backlog(spec, fleet, obs)
    if excess <= 0.0:
        return 0
    return fleet.ready_replicas + math.ceil(excess / spec.scaling.target_queue_depth)


def _metrics_lost(
    spec: ModelDeploymentSpec,
    fleet: FleetState,
    obs: Observations,
    history: ScalerHistory,
    now: float,
    lim: budget.Limits,
) -> Decision:
    current = fleet.replicas
    wanted, code = current, ReasonCode.METRICS_UNKNOWN_HOLD
    fallback = spec.scaling.fallback_replicas
    if spec.scaling.on_metrics_loss is MetricsLossBehavior.FALLBACK and fallback is not None:
        # Fallback raises to a safe size; lowering would be scaling down blind.
        wanted, code = max(current, fallback), ReasonCode.METRICS_UNKNOWN_FALLBACK
    desired, bounds = budget.clamp(wanted, lim)
    since = history.metrics_unknown_since if history.metrics_unknown_since is not None else now
    reason = explain.metrics_lost_reason(obs, now - since, current, desired, code, bounds, lim)
    history = replace(
        history, metrics_unknown_since=since, last_queue_depth=None, last_observed_at=None
    )
    history = _record_change(history, current, desired, now, reason)
    return Decision(
        desired_replicas=desired,
        reason_code=code if not bounds else explain.bound_code(bounds),
        reason=reason,
        bounds_hit=bounds,
        predicted_p95_ms=None,
        hourly_cost=desired * lim.replica_hourly_cost,
        metrics_available=False,
        slo_met=_slo_met(spec, obs),
        history=history,
    )


def _record_change(
    history: ScalerHistory, current: int, desired: int, now: float, reason: str
) -> ScalerHistory:
    if desired == current:
        return history
    if desired > current:
        history = coldstart.record_scale_up(history, now, desired - current)
    return replace(history, last_scale_time=now, last_scale_reason=reason)


def _slo_met(spec: ModelDeploymentSpec, obs: Observations) -> bool | None:
    p95 = obs.p95_latency_ms
    if p95 is None or not math.isfinite(p95):
        return None
    return p95 <= spec.slo.latency_p95_ms
