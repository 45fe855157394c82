"""Reconcile a ModelDeployment into its children, and say what happened.

Handlers call :func:`reconcile` and turn its :class:`ReconcileReport` into a
status patch and Events; they hold no logic of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpufleet.domain.conditions import Condition, ConditionStatus, ConditionType, merge_conditions
from gpufleet.domain.manifests.children import CHILD_KINDS, DEPLOYMENT
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.pricing import check_budget, gpu_hourly_price, replica_hourly_cost
from gpufleet.domain.readiness import ready_condition, replica_counts
from gpufleet.domain.spec import ModelDeploymentSpec, SpecError, parse_spec
from gpufleet.k8s.client import KubernetesApi
from gpufleet.services.children import ChildOutcome, ensure_child


@dataclass(frozen=True, slots=True)
class EventNote:
    type: str  # "Normal" | "Warning"
    reason: str
    message: str


@dataclass(slots=True)
class ReconcileReport:
    status: dict[str, Any] = field(default_factory=dict)
    events: list[EventNote] = field(default_factory=list)


def validate(
    raw_spec: Mapping[str, Any], catalog: Mapping[str, float]
) -> tuple[ModelDeploymentSpec, float]:
    """Parse the spec and check what only the operator can judge (:class:`SpecError`)."""
    spec = parse_spec(dict(raw_spec))
    price = gpu_hourly_price(spec, catalog)
    check_budget(spec, price)
    return spec, price


def _with_conditions(
    report: ReconcileReport,
    current_status: Mapping[str, Any],
    updates: list[Condition],
    generation: int | None,
    now: float,
) -> None:
    conditions, changes = merge_conditions(
        current_status.get("conditions"), updates, generation=generation, now=now
    )
    report.status["conditions"] = conditions
    for _old, new in changes:
        kind = "Warning" if new["status"] == ConditionStatus.FALSE else "Normal"
        report.events.append(
            EventNote(kind, str(new["reason"]), f"{new['type']}={new['status']}: {new['message']}")
        )


def invalid_spec_report(
    error: SpecError, current_status: Mapping[str, Any], generation: int | None, now: float
) -> ReconcileReport:
    report = ReconcileReport(status={"observedGeneration": generation})
    reason = "InvalidSpec"
    _with_conditions(
        report,
        current_status,
        [
            Condition(ConditionType.READY, ConditionStatus.FALSE, reason, str(error)),
            Condition(ConditionType.RECONCILED, ConditionStatus.FALSE, reason, str(error)),
        ],
        generation,
        now,
    )
    return report


def failure_report(
    reason: str, message: str, current_status: Mapping[str, Any], generation: int | None, now: float
) -> ReconcileReport:
    report = ReconcileReport()
    _with_conditions(
        report,
        current_status,
        [
            Condition(ConditionType.READY, ConditionStatus.FALSE, reason, message),
            Condition(ConditionType.RECONCILED, ConditionStatus.FALSE, reason, message),
        ],
        generation,
        now,
    )
    return report


def status_from_deployment(
    spec: ModelDeploymentSpec,
    price: float,
    deployment: dict[str, Any] | None,
    current_status: Mapping[str, Any],
    generation: int | None,
    now: float,
) -> ReconcileReport:
    """Replica counts, cost and ``Ready`` from the live Deployment."""
    asked, ready = replica_counts(deployment)
    report = ReconcileReport(
        status={
            "replicas": asked,
            "readyReplicas": ready,
            "gpuHourlyPrice": price,
            "hourlyCost": round(asked * replica_hourly_cost(spec, price), 4),
        }
    )
    _with_conditions(
        report,
        current_status,
        [ready_condition(deployment, spec.scaling.cold_start_seconds)],
        generation,
        now,
    )
    return report


async def reconcile(
    api: KubernetesApi,
    owner: Owner,
    spec: ModelDeploymentSpec,
    price: float,
    current_status: Mapping[str, Any],
    generation: int | None,
    now: float,
) -> ReconcileReport:
    """Create or update every child; report outcomes, replicas, ``Reconciled`` and ``Ready``."""
    events: list[EventNote] = []
    deployment: dict[str, Any] | None = None
    for kind in CHILD_KINDS:
        result = await ensure_child(api, kind, owner, spec)
        if result.outcome is not ChildOutcome.UNCHANGED:
            events.append(
                EventNote(
                    "Normal",
                    f"{kind.kind}{result.outcome.value}",
                    f"{result.outcome.value.lower()} {kind.kind} {owner.namespace}/{owner.name}",
                )
            )
        if kind is DEPLOYMENT:
            deployment = result.live
    report = status_from_deployment(spec, price, deployment, current_status, generation, now)
    report.status["observedGeneration"] = generation
    report.events[:0] = events
    merged = {**current_status, **report.status}
    _with_conditions(
        report,
        merged,
        [
            Condition(
                ConditionType.RECONCILED,
                ConditionStatus.TRUE,
                "ChildrenApplied",
                "Deployment, Service and PodDisruptionBudget match the spec",
            )
        ],
        generation,
        now,
    )
    return report
