"""``gpufleet``: the operator's own ``decide``, fed as the operator feeds it.

Observations come from the operator's own aggregation of its Prometheus queries
(``gpufleet.metrics.sample``), answered from the simulated scrapes
(:mod:`gpufleet.sim.operator_view`): rates over the rate window, the pending gauge
summed over fresh pods, the pods' p95 summaries; unknown when pods are stale or
missing. The history of each Decision is handed back on the next tick.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gpufleet.domain.model_config import serves_model_config
from gpufleet.domain.scaling import policy as scaling_policy
from gpufleet.domain.scaling.tuning import tuning_for
from gpufleet.domain.scaling.types import Decision, FleetState, Observations, ScalerHistory
from gpufleet.domain.spec import ModelDeploymentSpec
from gpufleet.settings import OperatorSettings
from gpufleet.sim.llm import LlmProfile
from gpufleet.sim.metrics import MetricsPipeline
from gpufleet.sim.operator_view import SIM_FLEET, fleet_sample
from gpufleet.sim.policies.base import Policy, PolicyContext


def observe(now: float, metrics: MetricsPipeline, operator: OperatorSettings) -> Observations:
    """What the operator's Prometheus reader would report at ``now``, given (as the
    operator gives it) when each ready pod became ready: a pod that became ready since
    the last scrapes is warming up, not a lost metric."""
    fleet = metrics.fleet
    sample = fleet_sample(metrics, fleet, now, operator)
    ready_since = {str(pod.name): pod.ready_at for pod in (*fleet.routable, *fleet.unanswering)}
    return sample.observations(
        *SIM_FLEET, expected_pods=fleet.ready_replicas, ready_since=ready_since
    )


class GpufleetPolicy(Policy):
    name = "gpufleet"

    def __init__(self, spec: ModelDeploymentSpec, operator: OperatorSettings | None = None):
        self.spec = spec
        self.operator = operator or OperatorSettings()
        self.tick_seconds = self.operator.tick_seconds
        self.tuning = tuning_for(self.operator.rate_window_seconds)
        self.history = ScalerHistory()
        self.decisions: list[tuple[float, Decision]] = []

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        fleet = FleetState(
            replicas=ctx.fleet.replicas,
            ready_replicas=ctx.fleet.ready_replicas,
            gpus_per_replica=ctx.settings.gpus_per_replica,
            gpu_hourly_price=ctx.settings.gpu_hourly_price,
            # A lost node's pods: the node lifecycle controller marked them not ready.
            lost_replicas=ctx.fleet.lost_replicas,
            node_lost_replicas=ctx.fleet.lost_replicas,
        )
        observations = observe(now, ctx.metrics, self.operator)
        if ctx.fleet.ready_replicas > 0 and self._reads_model_config(ctx):
            # The operator reads the largest batch from a ready pod's model configuration;
            # the simulated server's is its profile's.
            observations = replace(observations, configured_max_batch=ctx.profile.max_batch)
        decision = scaling_policy.decide(
            self.spec, fleet, observations, self.history, now, self.tuning
        )
        self.history = decision.history
        self.decisions.append((now, decision))
        return decision.desired_replicas

    def _reads_model_config(self, ctx: PolicyContext) -> bool:
        return serves_model_config(self.spec.runtime) and not isinstance(ctx.profile, LlmProfile)

    def decision_log(self) -> list[dict[str, Any]]:
        return [
            {
                "at": at,
                "desired_replicas": d.desired_replicas,
                "reason_code": d.reason_code.value,
                "rule": d.rule,
                "reason": d.reason,
                "capacity_per_replica": d.capacity_per_replica,
                "predicted_p95_ms": d.predicted_p95_ms,
                "metrics_available": d.metrics_available,
            }
            for at, d in self.decisions
        ]
