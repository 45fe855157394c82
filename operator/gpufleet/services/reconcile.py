"""Reconcile a ModelDeployment into its children, and say what happened.

Status is split between writers by what each one knows first-hand:

- the reconcile handler: ``observedGeneration`` and ``Reconciled`` (or why not);
- the Deployment and pod watches (:func:`observed_status`): replica counts, cost at the
  current replicas, ``Ready`` and ``Schedulable`` -- from the objects' own watch events,
  the freshest view there is;
- the scaling loop: measurements, decisions, ``SLOMet``/``CostCapped``/``MetricsAvailable``/
  ``ScalingLimited``, the learned model; it also re-judges :func:`observed_status` each
  tick (a provisioning timeout passes, an activation value arrives, without an event).

Each gives a :data:`~gpufleet.services.status.StatusComputer` to
:func:`~gpufleet.services.status.update_status`, which merges it onto the live status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpufleet.domain.conditions import Condition, ConditionStatus, ConditionType, find_condition
from gpufleet.domain.manifests.children import CHILD_KINDS, DEPLOYMENT, OPTIONAL_CHILD_KINDS
from gpufleet.domain.manifests.context import BuildContext
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.pods import PodSummary
from gpufleet.domain.pricing import check_budget, gpu_hourly_price, replica_hourly_cost
from gpufleet.domain.readiness import (
    Activation,
    DeploymentFacts,
    kstatus_conditions,
    ready_condition,
    schedulable_condition,
)
from gpufleet.domain.spec import ModelDeploymentSpec, check_name, parse_spec
from gpufleet.k8s.client import KubernetesApi
from gpufleet.services.children import ChildOutcome, ensure_child
from gpufleet.services.status import (
    EventNote,
    StatusChange,
    StatusComputer,
    combine,
    with_conditions,
)
from gpufleet.settings import OperatorSettings


def validate(
    raw_spec: Mapping[str, Any], catalog: Mapping[str, float], name: str | None = None
) -> tuple[ModelDeploymentSpec, float]:
    """Parse the spec and check what only the operator can judge (:class:`SpecError`).

    ``name``: the ModelDeployment's, checked to make valid child names (an object
    applied before the CRD's rule existed may not)."""
    if name is not None:
        check_name(name)
    spec = parse_spec(dict(raw_spec))
    price = gpu_hourly_price(spec, catalog)
    check_budget(spec, price)
    return spec, price


def not_reconciled(reason: str, message: str, generation: int | None, now: float) -> StatusComputer:
    """``Ready=False`` and ``Reconciled=False`` with why (``InvalidSpec``, ``ChildConflict``...)."""

    ready = Condition(ConditionType.READY, ConditionStatus.FALSE, reason, message)

    def compute(current: Mapping[str, Any]) -> StatusChange:
        return with_conditions(
            current,
            {"observedGeneration": generation},
            [
                ready,
                *kstatus_conditions(ready),
                Condition(ConditionType.RECONCILED, ConditionStatus.FALSE, reason, message),
            ],
            generation,
            now,
        )

    return compute


BLOCKING_REASONS = frozenset({"InvalidSpec", "ChildConflict", "ChildRejected", "Forbidden"})
"""Why ``Ready`` is False when the operator could not apply the spec; only a
successful reconcile clears them (the Deployment says nothing about them)."""


def _ready_reason(current: Mapping[str, Any]) -> str | None:
    ready = find_condition(current.get("conditions"), ConditionType.READY)
    return None if ready is None else str(ready.get("reason"))


def activation_of(spec: ModelDeploymentSpec, current: Mapping[str, Any]) -> Activation | None:
    """The scale-from-zero signal as the autoscaler last wrote it in status."""
    if spec.scaling.activation is None:
        return None
    written = current.get("activation")
    threshold = spec.scaling.activation.threshold
    if not isinstance(written, Mapping) or not written.get("measuredAt"):
        return Activation(threshold)
    value = written.get("value")
    number = float(value) if isinstance(value, int | float) else None
    return Activation(threshold, measured=True, value=number)


@dataclass(frozen=True, slots=True)
class Observed:
    """What the watches say about a ModelDeployment's Deployment and pods."""

    deployment: DeploymentFacts | None
    pods: PodSummary = field(default_factory=PodSummary)


def observed_status(
    spec: ModelDeploymentSpec,
    price: float,
    observed: Observed,
    generation: int | None,
    now: float,
    *,
    ready_only_if_unset: bool = False,
) -> StatusComputer:
    """Replica counts, cost, ``Ready`` and ``Schedulable`` from the Deployment and pods.

    ``Ready`` keeps a blocking reason (the spec could not be applied: only a reconcile
    clears it); with ``ready_only_if_unset`` it is written only when none is set yet.
    """
    facts = observed.deployment
    fields: dict[str, Any] = {"unschedulableReplicas": len(observed.pods.unschedulable)}
    if facts is not None:
        fields |= {
            "replicas": facts.replicas,
            "readyReplicas": facts.ready,
            "gpuHourlyPrice": price,
            "hourlyCost": round(facts.replicas * replica_hourly_cost(spec, price), 4),
        }

    def compute(current: Mapping[str, Any]) -> StatusChange | None:
        conditions = [schedulable_condition(observed.pods, facts)]
        reason = _ready_reason(current)
        blocked = reason in BLOCKING_REASONS
        if not blocked and not (ready_only_if_unset and reason is not None):
            ready = ready_condition(
                facts, observed.pods, spec.scaling.cold_start_seconds, activation_of(spec, current)
            )
            conditions += [ready, *kstatus_conditions(ready)]
        return with_conditions(current, fields, conditions, generation, now)

    return compute


def reconciled(
    spec: ModelDeploymentSpec,
    price: float,
    observe_now: Callable[[], Observed],
    generation: int | None,
    now: float,
) -> StatusComputer:
    """``Reconciled=True``; ``Ready`` from the Deployment just applied if none is set or a
    blocking reason is now fixed (afterwards the Deployment and pod watches keep it fresh).

    ``observe_now`` is asked when the write is computed, not when the reconcile started:
    a Deployment event handled while the children were applied (a quota refusing the new
    pods) must not be overwritten by what the reconcile saw before it.
    """

    def applied(current: Mapping[str, Any]) -> StatusChange:
        condition = Condition(
            ConditionType.RECONCILED,
            ConditionStatus.TRUE,
            "ChildrenApplied",
            "every child matches the spec",
        )
        change = with_conditions(
            current, {"observedGeneration": generation}, [condition], generation, now
        )
        if _ready_reason(current) in BLOCKING_REASONS:
            # Fixed now: the reason that needed a person goes; the Deployment's own says.
            remaining = [c for c in change.fields["conditions"] if c.get("type") != "Ready"]
            change = StatusChange({**change.fields, "conditions": remaining}, change.events)
        return change

    def observed_part(current: Mapping[str, Any]) -> StatusChange | None:
        computer = observed_status(
            spec, price, observe_now(), generation, now, ready_only_if_unset=True
        )
        return computer(current)

    return combine(applied, observed_part)


@dataclass(slots=True)
class ReconcileOutcome:
    events: list[EventNote] = field(default_factory=list)
    deployment: dict[str, Any] | None = None


def build_context(
    settings: OperatorSettings, spec: ModelDeploymentSpec, price: float
) -> BuildContext:
    """What children are built from besides the spec (the live replicas come later)."""
    return BuildContext(
        gpu_node_label=settings.gpu_node_label,
        replica_hourly_cost=replica_hourly_cost(spec, price),
        operator_namespace=settings.operator_namespace,
        operator_pod_labels=settings.operator_pod_labels,
    )


async def reconcile(
    api: KubernetesApi, owner: Owner, spec: ModelDeploymentSpec, context: BuildContext
) -> ReconcileOutcome:
    """Create or update every child; an Event for each one that changed."""
    outcome = ReconcileOutcome()
    for kind in (*CHILD_KINDS, *OPTIONAL_CHILD_KINDS):
        result = await ensure_child(api, kind, owner, spec, context)
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
