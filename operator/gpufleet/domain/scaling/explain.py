"""The sentence a person reads in Events and status: what was decided, and why, with numbers."""

from __future__ import annotations

import math

from gpufleet.domain.scaling.budget import Limits
from gpufleet.domain.scaling.need import Need
from gpufleet.domain.scaling.types import Bound, FleetState, Observations, ReasonCode
from gpufleet.domain.spec import ModelDeploymentSpec

ARROW = "\u2192"


def bound_code(bounds: frozenset[Bound]) -> ReasonCode:
    if Bound.BUDGET in bounds:
        return ReasonCode.COST_CAPPED
    if Bound.MAX_REPLICAS in bounds:
        return ReasonCode.MAX_REPLICAS
    return ReasonCode.MIN_REPLICAS


def _verb(current: int, desired: int) -> str:
    if desired == current:
        return f"holding {desired} replicas"
    return f"scaled {current}{ARROW}{desired}"


def _bound_text(bounds: frozenset[Bound], lim: Limits, spec: ModelDeploymentSpec) -> str:
    if Bound.BUDGET in bounds:
        return (
            f"capped at {lim.upper} replicas by maxHourlyCost {spec.cost.max_hourly_cost:.1f} $/h "
            f"({lim.replica_hourly_cost:g} $/h each)"
        )
    if Bound.MAX_REPLICAS in bounds:
        return f"capped at maxReplicas {lim.upper}"
    return f"at minReplicas {lim.lower}"


def _load_text(need: Need, spec: ModelDeploymentSpec) -> str:
    target = spec.slo.latency_p95_ms
    count = f"over {need.replicas - 1}" if need.lower_bound else f"{need.replicas}"
    if need.arrival_rate is None:
        return f"load needs {count}"
    if need.rate_per_replica is None:
        return f"{need.arrival_rate:.1f} req/s needs {count} (no capacity measured yet)"
    if need.rate_per_replica <= 0.0 and need.model is not None:
        # Even an idle replica answers slower than the target: more replicas cannot help.
        floor_ms = need.model.p95_ms(1, 0.0)
        return (
            f"{need.arrival_rate:.1f} req/s needs {count} at full batches; p95 target "
            f"{target:g} ms is below one request's own p95 (~{floor_ms:.0f} ms), which no "
            "replica count can lower"
        )
    text = (
        f"{need.arrival_rate:.1f} req/s needs {count} replicas at "
        f"{need.rate_per_replica:.2f} req/s each for p95 <= {target:g} ms"
    )
    if need.missed_load is not None:
        text += f" (a replica missed the target at {need.missed_load:.2f} req/s)"
    return text


def _unknown_text(obs: Observations, names: tuple[str, ...]) -> str:
    return ", ".join(f"{name} unknown ({obs.unknown.get(name, 'no data')})" for name in names)


def _backlog_text(
    queue_depth: float, need: Need, fleet: FleetState, spec: ModelDeploymentSpec
) -> str:
    queued = f"backlog of {queue_depth:.0f} requests queued"
    drain = need.backlog
    if drain is None:  # no capacity model yet: sized HPA-style from the queue
        return f"{queued} (targetQueueDepth {spec.scaling.target_queue_depth:g} per replica)"
    busy = "for good" if math.isinf(drain.drain_s) else f"{drain.drain_s:.0f} s more"
    return (
        f"{queued}, about {drain.at_relief:.0f} when new pods can be ready in "
        f"{drain.relief_s:.0f} s, keeps the {fleet.ready_replicas} ready replicas busy {busy}: "
        "queued requests cannot move to new pods, so the arrivals need their own"
    )


def scaling_reason(
    spec: ModelDeploymentSpec,
    fleet: FleetState,
    obs: Observations,
    need: Need,
    desired: int,
    bounds: frozenset[Bound],
    lim: Limits,
    unknown: tuple[str, ...],
) -> tuple[ReasonCode, str]:
    """Reason code and sentence of a decision made with the essential metrics known."""
    current = fleet.replicas
    verb = _verb(current, desired)
    load = _load_text(need, spec)
    if bounds and (need.replicas > lim.upper or need.replicas < lim.lower or desired != current):
        return bound_code(bounds), f"{verb}: {_bound_text(bounds, lim, spec)}; {load}"
    if desired > current:
        if need.code is ReasonCode.SCALE_UP_LATENCY and obs.p95_latency_ms is not None:
            return need.code, (
                f"{verb}: p95 {obs.p95_latency_ms:.0f} ms > {spec.slo.latency_p95_ms:g} ms "
                f"target; {load}"
            )
        if need.code is ReasonCode.SCALE_UP_QUEUE and obs.queue_depth is not None:
            return need.code, f"{verb}: {_backlog_text(obs.queue_depth, need, fleet, spec)}; {load}"
        return ReasonCode.SCALE_UP_LOAD, f"{verb}: {load}"
    if desired < current:
        return ReasonCode.SCALE_DOWN, f"{verb}: {load}"
    if unknown and need.replicas < current:
        return ReasonCode.METRICS_UNKNOWN_HOLD, (
            f"{verb}: {_unknown_text(obs, unknown)}; no scale-down while blind ({load})"
        )
    if need.replicas < current:
        window = spec.scaling.scale_down_window_seconds
        return ReasonCode.SCALE_DOWN_STABILIZING, (
            f"{verb}: {load}, but more were needed within the last {window} s"
        )
    if fleet.starting_replicas > 0 and need.replicas > fleet.ready_replicas:
        return ReasonCode.WAITING_FOR_STARTING_PODS, (
            f"{verb}: {fleet.starting_replicas} starting will cover it; {load}"
        )
    return ReasonCode.STEADY, f"{verb}: {load}"


def metrics_lost_reason(
    obs: Observations,
    unknown_for_s: float,
    current: int,
    desired: int,
    code: ReasonCode,
    bounds: frozenset[Bound],
    lim: Limits,
) -> str:
    names = tuple(sorted(obs.unknown)) or ("request_rate", "queue_depth")
    why = _unknown_text(obs, names)
    if desired == current:
        action = f"holding {desired} replicas"
    elif code is ReasonCode.METRICS_UNKNOWN_FALLBACK and not bounds:
        action = f"scaled {current}{ARROW}{desired} (fallbackReplicas)"
    else:
        action = (
            f"scaled {current}{ARROW}{desired} to stay within limits [{lim.lower}, {lim.upper}]"
        )
    return f"metrics unknown for {unknown_for_s:.0f} s: {action}; {why}"
