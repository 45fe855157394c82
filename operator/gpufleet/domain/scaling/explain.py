"""Formatting helpers for the sentences a person reads in status and Events.

The reasons themselves come from the rules (``rules.py``): each writes its own
sentence with its own numbers; this module only phrases the common parts.
"""

from __future__ import annotations

from gpufleet.domain.scaling.budget import Limits
from gpufleet.domain.scaling.types import Bound, Observations, ReasonCode
from gpufleet.domain.spec import ModelDeploymentSpec

ARROW = "\u2192"


def bound_code(bounds: frozenset[Bound]) -> ReasonCode:
    if Bound.FAILING_PODS in bounds:
        return ReasonCode.PODS_CANNOT_START
    if Bound.CLUSTER in bounds:
        return ReasonCode.CLUSTER_FULL
    if Bound.BUDGET in bounds:
        return ReasonCode.COST_CAPPED
    if Bound.MAX_REPLICAS in bounds:
        return ReasonCode.MAX_REPLICAS
    return ReasonCode.MIN_REPLICAS


def verb(current: int, desired: int) -> str:
    if desired == current:
        return f"holding {desired} replicas"
    return f"scaled {current}{ARROW}{desired}"


def bound_text(bounds: frozenset[Bound], lim: Limits, spec: ModelDeploymentSpec) -> str:
    if Bound.BUDGET in bounds:
        return (
            f"capped at {lim.upper} replicas by maxHourlyCost {spec.cost.max_hourly_cost:.1f} $/h "
            f"({lim.replica_hourly_cost:g} $/h each)"
        )
    if Bound.MAX_REPLICAS in bounds:
        return f"capped at maxReplicas {lim.upper}"
    return f"at minReplicas {lim.lower}"


def unknown_text(obs: Observations, names: tuple[str, ...]) -> str:
    return ", ".join(f"{name} unknown ({obs.unknown.get(name, 'no data')})" for name in names)


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
    why = unknown_text(obs, names)
    if desired == current:
        action = f"holding {desired} replicas"
    elif code is ReasonCode.METRICS_UNKNOWN_FALLBACK and not bounds:
        action = f"scaled {current}{ARROW}{desired} (fallbackReplicas)"
    elif code is ReasonCode.REPLACING_LOST_PODS and not bounds:
        action = f"scaled {current}{ARROW}{desired}"
    else:
        action = (
            f"scaled {current}{ARROW}{desired} to stay within limits [{lim.lower}, {lim.upper}]"
        )
    return f"metrics unknown for {unknown_for_s:.0f} s: {action}; {why}"
