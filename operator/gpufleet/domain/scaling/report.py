"""Turn a scaling ``Decision`` into what the operator writes: status, conditions, Events.

Pure. The autoscaling timer, per ModelDeployment and tick::

    decision = decide(spec, fleet, observations, history, now)
    report = build_report(spec, decision, observations, previous_status=body.status,
                          replicas_before=fleet.replicas, generation=meta.generation, now=now)
    # 1. patch the Deployment's spec.replicas to decision.desired_replicas (if changed)
    # 2. patch the ModelDeployment's status with report.status_patch
    #    (camelCase keys; "conditions" already merged with the other conditions)
    # 3. post each of report.events: kopf.event(body, type=e.type, reason=e.reason,
    #    message=e.message)
    # 4. keep decision.history for the next tick

``status_patch`` holds ``desiredReplicas``, ``queueDepth``, ``requestRate``, ``errorRate``,
``p95LatencyMs``, ``predictedP95LatencyMs``, ``lastScaleTime``,
``lastScaleReason``, ``metricsUnknown`` and ``conditions`` (``SLOMet``, ``CostCapped``,
``MetricsAvailable`` merged into the previous list by
:func:`gpufleet.domain.conditions.merge_conditions`). Unknown measurements are
written as ``None`` so a stale number never lingers in status. ``hourlyCost`` is not
here: it has one writer, the Deployment's (``services.reconcile.from_deployment``),
which prices the replicas the Deployment asks for once the scale patch has landed.

Events: one per scale change (``reason`` = the decision's ReasonCode) and one per
condition whose status or reason changed (a changed number in a message alone
is not news and would flood the Events list every tick).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gpufleet.domain.conditions import (
    Condition,
    ConditionStatus,
    ConditionType,
    merge_conditions,
    rfc3339,
)
from gpufleet.domain.scaling.context import LatencyCheck, latency_checks
from gpufleet.domain.scaling.types import Bound, Decision, Observations
from gpufleet.domain.spec import ModelDeploymentSpec

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True, slots=True)
class EventMessage:
    type: EventType
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class ScalingReport:
    status_patch: dict[str, Any]
    events: tuple[EventMessage, ...]


def scaling_conditions(
    spec: ModelDeploymentSpec, decision: Decision, obs: Observations
) -> tuple[Condition, ...]:
    return (
        _slo_condition(spec, decision, obs),
        _cost_condition(spec, decision),
        _metrics_condition(obs, decision),
    )


def _slo_condition(spec: ModelDeploymentSpec, decision: Decision, obs: Observations) -> Condition:
    """Every latency target the spec sets -- the request p95, TTFT, ITL and TPOT p95 -- against
    its measurement: met when each one measured is within its target."""
    checks = latency_checks(spec, obs)
    known = [c for c in checks if c.measured_ms is not None]
    if decision.slo_met is None or not known:
        why = "; ".join(
            f"{c.name}: {obs.unknown.get(c.measurement, 'not measured')}" for c in checks
        )
        return Condition(
            ConditionType.SLO_MET,
            ConditionStatus.UNKNOWN,
            "LatencyUnknown",
            f"latency unknown: {why}",
        )
    message = "; ".join(_against_target(c) for c in known)
    if decision.slo_met:
        return Condition(
            ConditionType.SLO_MET, ConditionStatus.TRUE, "LatencyWithinTarget", message
        )
    return Condition(ConditionType.SLO_MET, ConditionStatus.FALSE, "LatencyAboveTarget", message)


def _against_target(check: LatencyCheck) -> str:
    measured = check.measured_ms or 0.0
    sign = "<=" if measured <= check.target_ms else ">"
    return f"{check.name} {measured:.0f} ms {sign} {check.target_ms:g} ms target"


def _cost_condition(spec: ModelDeploymentSpec, decision: Decision) -> Condition:
    budget = spec.cost.max_hourly_cost
    if Bound.BUDGET in decision.bounds_hit:
        return Condition(
            ConditionType.COST_CAPPED,
            ConditionStatus.TRUE,
            "BudgetLimitsReplicas",
            f"capped at {decision.desired_replicas} replicas "
            f"({decision.hourly_cost:.2f} $/h) by maxHourlyCost {budget:g} $/h",
        )
    return Condition(
        ConditionType.COST_CAPPED,
        ConditionStatus.FALSE,
        "WithinBudget",
        f"{decision.hourly_cost:.2f} $/h of {budget:g} $/h budget",
    )


def _metrics_condition(obs: Observations, decision: Decision) -> Condition:
    if decision.metrics_available:
        return Condition(
            ConditionType.METRICS_AVAILABLE,
            ConditionStatus.TRUE,
            "MetricsFresh",
            f"{obs.pods_reporting} pods reporting",
        )
    why = "; ".join(f"{name}: {reason}" for name, reason in sorted(obs.unknown.items()))
    return Condition(
        ConditionType.METRICS_AVAILABLE,
        ConditionStatus.FALSE,
        "MetricsUnknown",
        why or "request rate and queue depth unknown",
    )


def _event_type(condition: dict[str, Any]) -> EventType:
    bad = {
        ConditionType.SLO_MET.value: "False",
        ConditionType.METRICS_AVAILABLE.value: "False",
        ConditionType.COST_CAPPED.value: "True",
    }
    return "Warning" if bad.get(condition["type"]) == condition["status"] else "Normal"


def build_report(
    spec: ModelDeploymentSpec,
    decision: Decision,
    obs: Observations,
    *,
    previous_status: Mapping[str, Any] | None,
    replicas_before: int,
    generation: int | None,
    now: float,
) -> ScalingReport:
    previous = previous_status or {}
    conditions, changes = merge_conditions(
        previous.get("conditions"),
        scaling_conditions(spec, decision, obs),
        generation=generation,
        now=now,
    )
    history = decision.history
    status: dict[str, Any] = {
        "desiredReplicas": decision.desired_replicas,
        "queueDepth": obs.queue_depth,
        "requestRate": obs.request_rate,
        "errorRate": obs.error_rate,
        "p95LatencyMs": obs.p95_latency_ms,
        "predictedP95LatencyMs": decision.predicted_p95_ms,
        "lastScaleTime": (
            rfc3339(history.last_scale_time)
            if history.last_scale_time is not None
            else previous.get("lastScaleTime")
        ),
        "lastScaleReason": history.last_scale_reason or previous.get("lastScaleReason"),
        "metricsUnknown": dict(obs.unknown) or None,
        "conditions": conditions,
    }
    events: list[EventMessage] = []
    if decision.desired_replicas != replicas_before:
        kind: EventType = "Warning" if decision.bounds_hit else "Normal"
        events.append(EventMessage(kind, decision.reason_code.value, decision.reason))
    for old, new in changes:
        if (
            old is not None
            and old.get("status") == new["status"]
            and old.get("reason") == new["reason"]
        ):
            continue
        events.append(
            EventMessage(
                _event_type(new),
                new["reason"],
                f"{new['type']} is {new['status']}: {new['message']}",
            )
        )
    return ScalingReport(status_patch=status, events=tuple(events))
