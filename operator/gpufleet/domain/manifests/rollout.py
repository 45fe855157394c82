"""The Deployment's rollout strategy, within the budget.

Surge pods are pods: they take a GPU and cost money while the rollout runs. When the
replicas asked for plus the surge would cost more than ``cost.maxHourlyCost``, the surge
shrinks to what the budget still pays for; with no room at all the rollout replaces pods
in place (``maxSurge: 0``, at least one pod unavailable at a time).
"""

from __future__ import annotations

import math
from typing import Any

from gpufleet.domain.spec import BUDGET_EPSILON, ModelDeploymentSpec


def surge_within_budget(
    spec: ModelDeploymentSpec, replicas: int, replica_hourly_cost: float | None
) -> int:
    """Surge pods the budget pays for on top of ``replicas`` (at most ``rollout.maxSurge``)."""
    wanted = spec.rollout.max_surge
    if replica_hourly_cost is None or replica_hourly_cost <= 0:
        return wanted
    spare = spec.cost.max_hourly_cost - replicas * replica_hourly_cost
    affordable = spare / replica_hourly_cost + BUDGET_EPSILON
    # A budget of 1e308 $/h ("no limit") over a price buys infinitely many pods: no float
    # to floor. NaN (an infinite price) buys none.
    if math.isnan(affordable):
        return 0
    return max(0, math.floor(min(affordable, wanted)))


def rolling_update(
    spec: ModelDeploymentSpec, replicas: int, replica_hourly_cost: float | None
) -> dict[str, Any]:
    """``spec.strategy`` of the Deployment at ``replicas`` replicas."""
    surge = surge_within_budget(spec, replicas, replica_hourly_cost)
    unavailable = spec.rollout.max_unavailable
    if surge == 0:
        unavailable = max(1, unavailable)  # in place: one pod down, then replaced
    return {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
