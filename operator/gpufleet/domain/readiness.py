"""The top-level ``Ready`` condition and replica counts, from the Deployment's status.

``Ready`` is kstatus-compatible: ``True`` when serving, ``Unknown`` (in progress)
while GPU pods start, ``False`` only when something is wrong that needs a person.
"""

from __future__ import annotations

from typing import Any

from gpufleet.domain.conditions import Condition, ConditionStatus, ConditionType


def replica_counts(deployment: dict[str, Any] | None) -> tuple[int, int]:
    """``(asked for, ready)`` replicas of a live Deployment."""
    if not deployment:
        return 0, 0
    asked = int(deployment.get("spec", {}).get("replicas") or 0)
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    return asked, ready


def ready_condition(deployment: dict[str, Any] | None, cold_start_seconds: int) -> Condition:
    asked, ready = replica_counts(deployment)
    if deployment is None:
        return Condition(
            ConditionType.READY,
            ConditionStatus.UNKNOWN,
            "Reconciling",
            "Deployment not created yet",
        )
    if asked == 0:
        return Condition(
            ConditionType.READY, ConditionStatus.TRUE, "ScaledToZero", "0 replicas asked for"
        )
    if ready == 0:
        return Condition(
            ConditionType.READY,
            ConditionStatus.UNKNOWN,
            "PodsStarting",
            f"0/{asked} replicas ready; GPU pods take about {cold_start_seconds} s to start",
        )
    return Condition(
        ConditionType.READY, ConditionStatus.TRUE, "Serving", f"{ready}/{asked} replicas ready"
    )
