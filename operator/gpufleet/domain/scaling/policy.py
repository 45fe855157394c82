"""PLACEHOLDER -- replaced by the autoscaler work (issue 3). Holds replicas."""

from __future__ import annotations

from gpufleet.domain.scaling.types import (
    Decision,
    FleetState,
    Observations,
    ReasonCode,
    ScalerHistory,
)
from gpufleet.domain.spec import ModelDeploymentSpec


def decide(
    spec: ModelDeploymentSpec,
    fleet: FleetState,
    observations: Observations,
    history: ScalerHistory,
    now: float,
) -> Decision:
    replicas = min(max(fleet.replicas, spec.scaling.min_replicas), spec.scaling.max_replicas)
    return Decision(
        desired_replicas=replicas,
        reason_code=ReasonCode.STEADY,
        reason=f"holding {replicas} replicas",
        bounds_hit=frozenset(),
        predicted_p95_ms=None,
        hourly_cost=replicas * max(fleet.gpus_per_replica, 1) * fleet.gpu_hourly_price,
        metrics_available=not observations.all_unknown,
        slo_met=None,
        history=history,
    )
