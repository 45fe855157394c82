"""The top-level ``Ready`` and the ``Schedulable`` conditions, from the Deployment and pods.

``Ready`` is kstatus-compatible: ``True`` when serving (or idle at zero replicas with a
working activation signal), ``Unknown`` (in progress) while GPU pods start, ``False``
only when something is wrong that needs a person: a rollout past its progress
deadline, crash-looping pods, pods that cannot start (an image that cannot be pulled),
no pod serving while pods that had started lost readiness, or while the cluster cannot
create them or place them past the provisioning timeout, or a fleet at zero that nothing could wake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpufleet.domain.conditions import Condition, ConditionStatus, ConditionType
from gpufleet.domain.pods import PodSummary

PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
REPLICA_FAILURE = "ReplicaFailure"


@dataclass(frozen=True, slots=True)
class DeploymentFacts:
    """A live Deployment, reduced to what status needs."""

    replicas: int
    """``spec.replicas``: pods asked for."""
    ready: int
    """``status.readyReplicas``."""
    rollout_failed: str | None = None
    """The controller's message while ``Progressing=False`` (ProgressDeadlineExceeded)."""
    replica_failure: str | None = None
    """Why the ReplicaSet cannot create pods, while ``ReplicaFailure=True`` (FailedCreate:
    a ResourceQuota exceeded, a LimitRange or Pod Security admission refusing the pod).
    A scale-up blocked so never passes the progress deadline: the Deployment controller
    does not time out a rollout it reported complete (NewReplicaSetAvailable)."""


def _true_condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or ():
        if condition.get("type") == type_ and condition.get("status") == "True":
            return dict(condition)
    return None


def deployment_facts(deployment: Mapping[str, Any] | None) -> DeploymentFacts | None:
    if not deployment:
        return None
    status = deployment.get("status") or {}
    failed = None
    for condition in status.get("conditions") or ():
        if (
            condition.get("type") == "Progressing"
            and condition.get("status") == "False"
            and condition.get("reason") == PROGRESS_DEADLINE_EXCEEDED
        ):
            failed = str(condition.get("message") or PROGRESS_DEADLINE_EXCEEDED)
    # The Deployment controller copies its ReplicaSets' ReplicaFailure condition
    # (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#failed-deployment).
    replica_failure = _true_condition(status, REPLICA_FAILURE)
    return DeploymentFacts(
        replicas=int((deployment.get("spec") or {}).get("replicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        rollout_failed=failed,
        replica_failure=(
            None
            if replica_failure is None
            else str(replica_failure.get("message") or replica_failure.get("reason") or "")
            or REPLICA_FAILURE
        ),
    )


@dataclass(frozen=True, slots=True)
class Activation:
    """The scale-from-zero signal as last measured (``scaling.activation``)."""

    threshold: float
    measured: bool = False
    """Whether the autoscaler has queried it since it last started."""
    value: float | None = None
    """``None`` with ``measured``: the query returned nothing usable."""


def _ready(status: ConditionStatus, reason: str, message: str) -> Condition:
    return Condition(ConditionType.READY, status, reason, message)


def _at_zero(activation: Activation | None) -> Condition:
    if activation is None:
        return _ready(
            ConditionStatus.FALSE,
            "NoReplicas",
            "0 replicas asked for and no scaling.activation: nothing serves requests "
            "and nothing would scale the fleet up",
        )
    if not activation.measured:
        return _ready(
            ConditionStatus.UNKNOWN,
            "ActivationPending",
            "0 replicas; the activation query has not been measured yet",
        )
    if activation.value is None:
        return _ready(
            ConditionStatus.FALSE,
            "ActivationUnknown",
            "0 replicas and the activation query has no value: requests arriving now "
            "would not scale the fleet up",
        )
    if activation.value > activation.threshold:
        return _ready(
            ConditionStatus.UNKNOWN,
            "ScalingFromZero",
            f"activation {activation.value:g} > threshold {activation.threshold:g}: "
            "scaling from zero",
        )
    return _ready(
        ConditionStatus.TRUE,
        "ScaledToZero",
        f"0 replicas; activation {activation.value:g} <= threshold {activation.threshold:g}",
    )


def ready_condition(
    deployment: DeploymentFacts | None,
    pods: PodSummary,
    cold_start_seconds: int,
    activation: Activation | None = None,
) -> Condition:
    """``activation``: ``None`` when the spec sets no ``scaling.activation``."""
    if deployment is None:
        return _ready(ConditionStatus.UNKNOWN, "Reconciling", "Deployment not created yet")
    if deployment.rollout_failed is not None:
        return _ready(
            ConditionStatus.FALSE,
            "RolloutFailed",
            f"the rollout exceeded its progress deadline ({deployment.ready}/"
            f"{deployment.replicas} replicas ready): {deployment.rollout_failed}",
        )
    if pods.crash_looping:
        first = pods.crash_looping[0]
        return _ready(
            ConditionStatus.FALSE,
            "PodsCrashLooping",
            f"{len(pods.crash_looping)} pod(s) crash-looping "
            f"({deployment.ready}/{deployment.replicas} replicas ready); "
            f"{first.name}: {first.crash_looping}",
        )
    if pods.cannot_start:
        first = pods.cannot_start[0]
        return _ready(
            ConditionStatus.FALSE,
            "PodsCannotStart",
            f"{len(pods.cannot_start)} pod(s) cannot start "
            f"({deployment.ready}/{deployment.replicas} replicas ready); "
            f"{first.name}: {first.cannot_start}",
        )
    if deployment.replicas == 0:
        return _at_zero(activation)
    if deployment.ready == 0 and pods.readiness_lost:
        if pods.node_lost:
            first = pods.node_lost[0]
            why = (
                f"{len(pods.node_lost)} on a node that stopped answering (marked not Ready by "
                "the node lifecycle controller; evicted 5 minutes on)"
            )
        else:
            first = pods.readiness_lost[0]
            why = "the model server not answering its readiness probe"
        return _ready(
            ConditionStatus.FALSE,
            "PodsNotReady",
            f"0/{deployment.replicas} replicas ready; {len(pods.readiness_lost)} pod(s) had "
            f"started and stopped passing readiness ({why}), e.g. {first.name}",
        )
    if deployment.ready == 0 and deployment.replica_failure is not None:
        return _ready(
            ConditionStatus.FALSE,
            "PodsNotCreated",
            f"0/{deployment.replicas} replicas ready and the ReplicaSet cannot create "
            f"pods: {deployment.replica_failure}",
        )
    if deployment.ready == 0 and pods.unplaceable:
        return _ready(
            ConditionStatus.FALSE,
            "PodsUnschedulable",
            f"0/{deployment.replicas} replicas ready and {len(pods.unplaceable)} pod(s) "
            f"unschedulable past scaling.provisioningTimeoutSeconds "
            f"({pods.provisioning_timeout_s:g} s): {pods.scheduler_message}",
        )
    if deployment.ready == 0:
        waiting = ""
        if pods.unschedulable:
            waiting = f"; {len(pods.unschedulable)} cannot be placed: {pods.scheduler_message}"
        return _ready(
            ConditionStatus.UNKNOWN,
            "PodsStarting",
            f"0/{deployment.replicas} replicas ready; GPU pods take about "
            f"{cold_start_seconds} s to start{waiting}",
        )
    return _ready(
        ConditionStatus.TRUE,
        "Serving",
        f"{deployment.ready}/{deployment.replicas} replicas ready",
    )


def schedulable_condition(pods: PodSummary, deployment: DeploymentFacts | None = None) -> Condition:
    """``Schedulable=False`` while a pod cannot be created or placed, with the
    controller's or the scheduler's message."""
    timeout = f"{pods.provisioning_timeout_s:g} s"
    if deployment is not None and deployment.replica_failure is not None:
        return Condition(
            ConditionType.SCHEDULABLE,
            ConditionStatus.FALSE,
            "PodsNotCreated",
            f"the ReplicaSet cannot create {uncreated_replicas(deployment, pods)} pod(s) "
            f"asked for: the cluster limits the fleet and no more pods are added. "
            f"Controller: {deployment.replica_failure}",
        )
    if pods.unplaceable:
        return Condition(
            ConditionType.SCHEDULABLE,
            ConditionStatus.FALSE,
            "ProvisioningTimedOut",
            f"{len(pods.unplaceable)} pod(s) unschedulable for longer than "
            f"scaling.provisioningTimeoutSeconds ({timeout}): the cluster limits the fleet "
            f"and no more pods are added. Scheduler: {pods.scheduler_message}",
        )
    if pods.unschedulable:
        return Condition(
            ConditionType.SCHEDULABLE,
            ConditionStatus.FALSE,
            "Unschedulable",
            f"{len(pods.unschedulable)} pod(s) cannot be placed yet; they count as capacity "
            f"on its way for scaling.provisioningTimeoutSeconds ({timeout}). "
            f"Scheduler: {pods.scheduler_message}",
        )
    return Condition(
        ConditionType.SCHEDULABLE, ConditionStatus.TRUE, "PodsScheduled", "every pod is placed"
    )


def uncreated_replicas(deployment: DeploymentFacts | None, pods: PodSummary) -> int:
    """Pods asked for that the ReplicaSet cannot create (0 without ``ReplicaFailure``).

    At least 1 while it fails: mid-rollout the old ReplicaSet's pods may outnumber
    ``spec.replicas`` though the new one cannot create its own."""
    if deployment is None or deployment.replica_failure is None:
        return 0
    return max(1, deployment.replicas - pods.pods)


def kstatus_conditions(ready: Condition) -> tuple[Condition, Condition]:
    """``Reconciling`` and ``Stalled`` as kstatus reads them, from ``Ready``.

    kstatus ignores ``Ready`` on custom resources: ``Reconciling=True`` is in progress
    (Ready Unknown), ``Stalled=True`` is failed (Ready False: needs a person).
    """
    progressing = ready.status is ConditionStatus.UNKNOWN
    failed = ready.status is ConditionStatus.FALSE
    done = f"Ready is {ready.status.value} ({ready.reason})"
    return (
        Condition(
            ConditionType.RECONCILING,
            ConditionStatus.TRUE if progressing else ConditionStatus.FALSE,
            ready.reason if progressing else "Settled",
            ready.message if progressing else done,
        ),
        Condition(
            ConditionType.STALLED,
            ConditionStatus.TRUE if failed else ConditionStatus.FALSE,
            ready.reason if failed else "NotStalled",
            ready.message if failed else done,
        ),
    )
