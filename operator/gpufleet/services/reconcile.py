"""Reconcile a ModelDeployment into its children, and say what happened.

Status is split between writers by what each one knows first-hand:

- the reconcile handler: ``observedGeneration`` and ``Reconciled`` (or why not);
- the Deployment mirror: replica counts, cost at the current replicas, ``Ready``
  -- from the Deployment's own watch events, the freshest view there is;
- the scaling loop: measurements, decisions, ``SLOMet``/``CostCapped``/``MetricsAvailable``.

Each gives a :data:`~gpufleet.services.status.StatusComputer` to
:func:`~gpufleet.services.status.update_status`, which merges it onto the live status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpufleet.domain.conditions import Condition, ConditionStatus, ConditionType, find_condition
from gpufleet.domain.manifests.children import CHILD_KINDS, DEPLOYMENT
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.pricing import check_budget, gpu_hourly_price, replica_hourly_cost
from gpufleet.domain.readiness import ready_condition, replica_counts
from gpufleet.domain.spec import ModelDeploymentSpec, parse_spec
from gpufleet.k8s.client import KubernetesApi
from gpufleet.services.children import ChildOutcome, ensure_child
from gpufleet.services.status import EventNote, StatusChange, StatusComputer, with_conditions


def validate(
    raw_spec: Mapping[str, Any], catalog: Mapping[str, float]
) -> tuple[ModelDeploymentSpec, float]:
    """Parse the spec and check what only the operator can judge (:class:`SpecError`)."""
    spec = parse_spec(dict(raw_spec))
    price = gpu_hourly_price(spec, catalog)
    check_budget(spec, price)
    return spec, price


def not_reconciled(reason: str, message: str, generation: int | None, now: float) -> StatusComputer:
    """``Ready=False`` and ``Reconciled=False`` with why (``InvalidSpec``, ``ChildConflict``...)."""

    def compute(current: Mapping[str, Any]) -> StatusChange:
        return with_conditions(
            current,
            {"observedGeneration": generation},
            [
                Condition(ConditionType.READY, ConditionStatus.FALSE, reason, message),
                Condition(ConditionType.RECONCILED, ConditionStatus.FALSE, reason, message),
            ],
            generation,
            now,
        )

    return compute


BLOCKING_REASONS = frozenset({"InvalidSpec", "ChildConflict", "ChildRejected"})
"""Why ``Ready`` is False when the operator could not apply the spec; only a
successful reconcile clears them (the Deployment says nothing about them)."""


def _ready_reason(current: Mapping[str, Any]) -> str | None:
    ready = find_condition(current.get("conditions"), ConditionType.READY)
    return None if ready is None else str(ready.get("reason"))


def reconciled(
    spec: ModelDeploymentSpec,
    deployment: dict[str, Any] | None,
    generation: int | None,
    now: float,
) -> StatusComputer:
    """``Reconciled=True``; ``Ready`` from the Deployment just applied if none is set or a
    blocking reason is now fixed (afterwards the Deployment mirror keeps it fresh)."""
    ready = ready_condition(deployment, spec.scaling.cold_start_seconds)

    def compute(current: Mapping[str, Any]) -> StatusChange:
        conditions = [
            Condition(
                ConditionType.RECONCILED,
                ConditionStatus.TRUE,
                "ChildrenApplied",
                "Deployment, Service and PodDisruptionBudget match the spec",
            )
        ]
        reason = _ready_reason(current)
        if reason is None or reason in BLOCKING_REASONS:
            conditions.append(ready)
        fields = {"observedGeneration": generation}
        return with_conditions(current, fields, conditions, generation, now)

    return compute


def from_deployment(
    spec: ModelDeploymentSpec,
    price: float,
    deployment: dict[str, Any] | None,
    generation: int | None,
    now: float,
) -> StatusComputer:
    """Replica counts, cost and ``Ready`` from the live Deployment."""
    asked, ready = replica_counts(deployment)
    fields = {
        "replicas": asked,
        "readyReplicas": ready,
        "gpuHourlyPrice": price,
        "hourlyCost": round(asked * replica_hourly_cost(spec, price), 4),
    }
    condition = ready_condition(deployment, spec.scaling.cold_start_seconds)

    def compute(current: Mapping[str, Any]) -> StatusChange | None:
        if _ready_reason(current) in BLOCKING_REASONS:
            return StatusChange(fields)  # Ready stays with the reason that needs a person
        return with_conditions(current, fields, [condition], generation, now)

    return compute


@dataclass(slots=True)
class ReconcileOutcome:
    events: list[EventNote] = field(default_factory=list)
    deployment: dict[str, Any] | None = None


async def reconcile(
    api: KubernetesApi, owner: Owner, spec: ModelDeploymentSpec
) -> ReconcileOutcome:
    """Create or update every child; an Event for each one that changed."""
    outcome = ReconcileOutcome()
    for kind in CHILD_KINDS:
        result = await ensure_child(api, kind, owner, spec)
        if kind is DEPLOYMENT:
            outcome.deployment = result.live
        if result.outcome is not ChildOutcome.UNCHANGED:
            outcome.events.append(
                EventNote(
                    "Normal",
                    f"{kind.kind}{result.outcome.value}",
                    f"{result.outcome.value.lower()} {kind.kind} {owner.namespace}/{owner.name}",
                )
            )
    return outcome
