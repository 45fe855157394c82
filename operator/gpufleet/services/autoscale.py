"""One autoscaling tick of one ModelDeployment: measure, decide, scale, report.

The decision is the pure policy's (:func:`gpufleet.domain.scaling.policy.decide`,
the same code the simulator runs); this module only gathers its inputs and
carries out its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpufleet.domain.manifests.children import DEPLOYMENT
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.scaling.policy import decide
from gpufleet.domain.scaling.report import ScalingReport, build_report
from gpufleet.domain.scaling.types import Decision, FleetState, ScalerHistory
from gpufleet.domain.spec import ModelDeploymentSpec
from gpufleet.k8s.client import KubernetesApi
from gpufleet.services.children import resource_of
from gpufleet.services.sampling import TickSampler

AUTOSCALER_FIELD_MANAGER = "gpufleet-autoscaler"


@dataclass(frozen=True, slots=True)
class TickOutcome:
    decision: Decision
    report: ScalingReport
    scaled_from: int | None
    """Replicas before, when this tick patched the Deployment."""


async def autoscale_tick(
    api: KubernetesApi,
    sampler: TickSampler,
    owner: Owner,
    spec: ModelDeploymentSpec,
    price: float,
    replicas: int,
    ready_replicas: int,
    history: ScalerHistory,
    previous_status: Mapping[str, Any],
    generation: int | None,
    now: float,
) -> TickOutcome:
    fleet = FleetState(
        replicas=replicas,
        ready_replicas=ready_replicas,
        gpus_per_replica=spec.resources.gpus,
        gpu_hourly_price=price,
    )
    sample = await sampler.latest()
    observations = sample.observations(owner.namespace, owner.name, expected_pods=ready_replicas)
    decision = decide(spec, fleet, observations, history, now)
    scaled_from: int | None = None
    if decision.desired_replicas != replicas:
        await api.merge_patch(
            resource_of(DEPLOYMENT),
            owner.namespace,
            owner.name,
            {"spec": {"replicas": decision.desired_replicas}},
            field_manager=AUTOSCALER_FIELD_MANAGER,
        )
        scaled_from = replicas
    report = build_report(
        spec,
        decision,
        observations,
        previous_status=previous_status,
        replicas_before=replicas,
        generation=generation,
        now=now,
    )
    return TickOutcome(decision, report, scaled_from)
