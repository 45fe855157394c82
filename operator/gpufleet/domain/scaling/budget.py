"""The hard limits: ``[minReplicas, maxReplicas]`` and the hourly budget.

The budget is absolute: ``replicas x max(gpus, 1) x price <= maxHourlyCost``,
whatever the load or the metrics say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpufleet.domain.scaling.types import Bound, FleetState
from gpufleet.domain.spec import BUDGET_EPSILON, ModelDeploymentSpec


@dataclass(frozen=True, slots=True)
class Limits:
    lower: int
    upper: int
    upper_bound: Bound
    """Which limit ``upper`` comes from: maxReplicas or maxHourlyCost."""
    replica_hourly_cost: float


def replica_hourly_cost(fleet: FleetState) -> float:
    return max(fleet.gpus_per_replica, 1) * fleet.gpu_hourly_price


def limits(spec: ModelDeploymentSpec, fleet: FleetState) -> Limits:
    unit = replica_hourly_cost(fleet)
    max_replicas = spec.scaling.max_replicas
    # min() first: a budget of 1e308 $/h ("no limit") over a price is no float to floor.
    affordable = (
        math.floor(min(spec.cost.max_hourly_cost / unit + BUDGET_EPSILON, max_replicas))
        if unit > 0.0
        else max_replicas
    )
    if affordable < max_replicas:
        upper, bound = max(affordable, 0), Bound.BUDGET
    else:
        upper, bound = max_replicas, Bound.MAX_REPLICAS
    # A budget below minReplicas is rejected at admission; if prices changed since,
    # the budget still wins: never spend above it.
    lower = min(spec.scaling.min_replicas, upper)
    return Limits(lower=lower, upper=upper, upper_bound=bound, replica_hourly_cost=unit)


def clamp(replicas: int, lim: Limits) -> tuple[int, frozenset[Bound]]:
    """``replicas`` within the limits, and the limits that changed it."""
    if replicas > lim.upper:
        return lim.upper, frozenset({lim.upper_bound})
    if replicas < lim.lower:
        return lim.lower, frozenset({Bound.MIN_REPLICAS})
    return replicas, frozenset()
