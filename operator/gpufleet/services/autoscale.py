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
from gpufleet.domain.scaling.report import build_report
from gpufleet.domain.scaling.types import Decision, FleetState, Observations, ScalerHistory
from gpufleet.domain.spec import ModelDeploymentSpec
from gpufleet.k8s.client import KubernetesApi
from gpufleet.services.children import resource_of
from gpufleet.services.sampling import TickSampler
from gpufleet.services.status import EventNote, StatusChange, StatusComputer

AUTOSCALER_FIELD_MANAGER = "gpufleet-autoscaler"
NUMBERS_REFRESH_SECONDS = 15.0
"""Measured numbers alone are rewritten at most this often: a thousand ModelDeployments
must not patch their status every tick."""
MATERIAL_STATUS_KEYS = ("desiredReplicas", "conditions", "lastScaleTime", "lastScaleReason")


@dataclass(frozen=True, slots=True)
class TickOutcome:
    spec: ModelDeploymentSpec
    decision: Decision
    observations: Observations
    replicas_before: int
    scaled: bool

    def status(self, generation: int | None, now: float, last_write: float) -> StatusComputer:
        """Status and Events of this tick, merged onto the live status when written."""

        def compute(live: Mapping[str, Any]) -> StatusChange | None:
            report = build_report(
                self.spec,
                self.decision,
                self.observations,
                previous_status=live,
                replicas_before=self.replicas_before,
                generation=generation,
                now=now,
            )
            patch = report.status_patch
            material = any(patch.get(key) != live.get(key) for key in MATERIAL_STATUS_KEYS)
            if not material and now - last_write < NUMBERS_REFRESH_SECONDS:
                return None
            events = tuple(EventNote(e.type, e.reason, e.message) for e in report.events)
            return StatusChange(patch, events)

        return compute


async def autoscale_tick(
    api: KubernetesApi,
    sampler: TickSampler,
    owner: Owner,
    spec: ModelDeploymentSpec,
    price: float,
    replicas: int,
    ready_replicas: int,
    history: ScalerHistory,
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
    scaled = decision.desired_replicas != replicas
    if scaled:
        await api.merge_patch(
            resource_of(DEPLOYMENT),
            owner.namespace,
            owner.name,
            {"spec": {"replicas": decision.desired_replicas}},
            field_manager=AUTOSCALER_FIELD_MANAGER,
        )
    return TickOutcome(spec, decision, observations, replicas, scaled)
