"""metav1.Condition bookkeeping, pure.

Conditions are the status API that kstatus (Flux), Argo CD and ``kubectl wait``
read. ``lastTransitionTime`` changes only when ``status`` flips, as metav1 says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class ConditionType(StrEnum):
    READY = "Ready"
    RECONCILED = "Reconciled"
    SLO_MET = "SLOMet"
    COST_CAPPED = "CostCapped"
    METRICS_AVAILABLE = "MetricsAvailable"
    SCHEDULABLE = "Schedulable"
    SCALING_LIMITED = "ScalingLimited"
    # kstatus (Flux, kpt, cli-utils) reads these two "abnormal-true" conditions of a
    # custom resource; they mirror Ready (see domain.readiness.kstatus_conditions).
    RECONCILING = "Reconciling"
    STALLED = "Stalled"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: ConditionStatus
    reason: str
    message: str


def rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    current: Sequence[dict[str, Any]] | None,
    updates: Iterable[Condition],
    *,
    generation: int | None,
    now: float,
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any] | None, dict[str, Any]]]]:
    """Apply ``updates`` to ``current`` conditions.

    Returns the new list (other types kept, order stable) and the changes
    ``(old, new)`` whose status, reason or message differ -- the caller emits an
    Event for each of those.
    """
    by_type: dict[str, dict[str, Any]] = {c["type"]: dict(c) for c in current or () if "type" in c}
    order = [c["type"] for c in current or () if "type" in c]
    changes: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
    for update in updates:
        old = by_type.get(update.type)
        flipped = old is None or old.get("status") != update.status.value
        new = {
            "type": update.type,
            "status": update.status.value,
            "reason": update.reason,
            "message": update.message,
            "lastTransitionTime": rfc3339(now)
            if flipped or old is None
            else old.get("lastTransitionTime", rfc3339(now)),
        }
        if generation is not None:
            new["observedGeneration"] = generation
        if old is None or any(old.get(k) != new[k] for k in ("status", "reason", "message")):
            changes.append((old, new))
        if update.type not in by_type:
            order.append(update.type)
        by_type[update.type] = new
    return [by_type[t] for t in order], changes


def find_condition(
    conditions: Sequence[dict[str, Any]] | None, type_: str
) -> dict[str, Any] | None:
    for condition in conditions or ():
        if condition.get("type") == type_:
            return condition
    return None
