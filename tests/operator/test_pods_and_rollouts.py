"""What the operator says about its pods and rollouts, on the API emulator.

The emulator runs no scheduler, kubelet or Deployment controller: each test writes
what those would (a pod's PodScheduled condition, a container in CrashLoopBackOff,
the Deployment's Progressing condition) and checks what a user then reads on the
ModelDeployment: its conditions, status and Events.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gpufleet_devtools.apiserver.server import EmulatedApiServer
from tests.operator.specs import minimal_spec
from tests.support.kube import (
    DEPLOYMENTS,
    EVENTS,
    MODELDEPLOYMENTS,
    Kind,
    Kube,
    condition,
    modeldeployment,
)
from tests.support.operator import running_operator
from tests.support.pod_states import image_pull_backoff, serving, unschedulable
from tests.support.waiting import wait_for

NS = "default"
PODS = Kind("", "v1", "pods")
PDBS = Kind("policy", "v1", "poddisruptionbudgets")
SCHEDULER_SAYS = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


@pytest.fixture
def operator(kube: Kube, kubeconfig: str) -> Iterator[None]:
    # One-second ticks: the provisioning timeout is judged on the scaling loop's tick.
    with running_operator(kubeconfig, GPUFLEET_TICK_SECONDS="1"):
        yield


def _apply(kube: Kube, name: str, **overrides: Any) -> None:
    response = kube.create(MODELDEPLOYMENTS, NS, modeldeployment(name, minimal_spec(**overrides)))
    assert response.status_code == 201, response.text
    wait_for(lambda: kube.get(DEPLOYMENTS, NS, name), what="Deployment")


def _pod(kube: Kube, owner: str, pod: str, status: dict[str, Any]) -> None:
    """A pod of ``owner``'s Deployment, as its ReplicaSet would create it, then its status."""
    labels = {"app.kubernetes.io/managed-by": "gpufleet", "gpufleet.io/modeldeployment": owner}
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod, "namespace": NS, "labels": labels},
        "spec": {"containers": [{"name": "server", "image": "triton"}]},
    }
    assert kube.create(PODS, NS, body).status_code == 201
    assert kube.merge_patch(PODS, NS, pod, {"status": status}, sub="status").ok


def _condition(kube: Kube, name: str, type_: str) -> dict[str, Any]:
    return condition(kube.get(MODELDEPLOYMENTS, NS, name), type_) or {}


def _wait_condition(kube: Kube, name: str, type_: str, status: str, reason: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = _condition(kube, name, type_)
        return found if (found.get("status"), found.get("reason")) == (status, reason) else None

    return wait_for(probe, what=f"{type_}={status} ({reason})")


def _event_reasons(kube: Kube) -> set[str]:
    return {str(e.get("reason")) for e in kube.list(EVENTS, NS)}


UNSCHEDULABLE = unschedulable(SCHEDULER_SAYS)


def test_a_pod_the_cluster_cannot_place_is_reported_then_stops_counting(
    kube: Kube, operator: None
) -> None:
    _apply(kube, "llama", scaling={"minReplicas": 1, "provisioningTimeoutSeconds": 3})
    _pod(kube, "llama", "llama-abc12", UNSCHEDULABLE)
    waiting = _wait_condition(kube, "llama", "Schedulable", "False", "Unschedulable")
    assert SCHEDULER_SAYS in waiting["message"]
    status = kube.get(MODELDEPLOYMENTS, NS, "llama")["status"]  # type: ignore[index]
    assert status["unschedulableReplicas"] == 1
    # Ready says why nothing serves yet, with the scheduler's words.
    assert SCHEDULER_SAYS in _condition(kube, "llama", "Ready")["message"]
    wait_for(lambda: "Unschedulable" in _event_reasons(kube), what="an Unschedulable Event")
    # Past provisioningTimeoutSeconds no node autoscaler came: the cluster is the limit.
    timed_out = _wait_condition(kube, "llama", "Schedulable", "False", "ProvisioningTimedOut")
    assert "the cluster limits the fleet" in timed_out["message"]
    assert SCHEDULER_SAYS in timed_out["message"]
    # Nothing serves and nothing will be placed: that needs a person.
    ready = _wait_condition(kube, "llama", "Ready", "False", "PodsUnschedulable")
    assert SCHEDULER_SAYS in ready["message"]
    # A node arrives and the pod is placed.
    placed = {"conditions": [{"type": "PodScheduled", "status": "True"}], "phase": "Running"}
    assert kube.merge_patch(PODS, NS, "llama-abc12", {"status": placed}, sub="status").ok
    _wait_condition(kube, "llama", "Schedulable", "True", "PodsScheduled")
    assert kube.get(MODELDEPLOYMENTS, NS, "llama")["status"]["unschedulableReplicas"] == 0  # type: ignore[index]


def test_crash_looping_pods_make_the_fleet_not_ready(kube: Kube, operator: None) -> None:
    _apply(kube, "bert")
    crashing = {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [
            {
                "name": "server",
                "ready": False,
                "restartCount": 6,
                "state": {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": "back-off 2m40s restarting failed container",
                    }
                },
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
            }
        ],
    }
    _pod(kube, "bert", "bert-x1", crashing)
    ready = _wait_condition(kube, "bert", "Ready", "False", "PodsCrashLooping")
    assert "bert-x1" in ready["message"]
    assert "container server restarted 6 times, last exit 1 (Error)" in ready["message"]
    wait_for(lambda: "PodsCrashLooping" in _event_reasons(kube), what="a PodsCrashLooping Event")
    # The container comes up and the Deployment counts it ready.
    healthy = {
        "containerStatuses": [
            {"name": "server", "ready": True, "restartCount": 6, "state": {"running": {}}}
        ],
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    assert kube.merge_patch(PODS, NS, "bert-x1", {"status": healthy}, sub="status").ok
    deployment_status = {"replicas": 1, "readyReplicas": 1}
    kube.merge_patch(DEPLOYMENTS, NS, "bert", {"status": deployment_status}, sub="status")
    _wait_condition(kube, "bert", "Ready", "True", "Serving")


PULL_SAYS = 'Back-off pulling image "registry.example/triton:24.1O"'


def test_a_pod_whose_image_cannot_be_pulled_makes_the_fleet_not_ready(
    kube: Kube, operator: None
) -> None:
    _apply(kube, "resnet")
    # A typo in the tag: the kubelet retries forever, and the pod would count as
    # starting until a progress deadline (none passes on a scale-up).
    pulling = image_pull_backoff(PULL_SAYS)
    _pod(kube, "resnet", "resnet-p1", pulling)
    ready = _wait_condition(kube, "resnet", "Ready", "False", "PodsCannotStart")
    assert f"resnet-p1: container server ImagePullBackOff: {PULL_SAYS}" in ready["message"]
    assert _condition(kube, "resnet", "Stalled")["status"] == "True"
    wait_for(lambda: "PodsCannotStart" in _event_reasons(kube), what="a PodsCannotStart Event")
    # The tag is fixed; the new pod pulls and starts.
    started = {"containerStatuses": [{"name": "server", "ready": False, "state": {"running": {}}}]}
    assert kube.merge_patch(PODS, NS, "resnet-p1", {"status": started}, sub="status").ok
    _wait_condition(kube, "resnet", "Ready", "Unknown", "PodsStarting")


def test_pods_that_stop_being_ready_are_not_reported_as_starting(
    kube: Kube, operator: None
) -> None:
    _apply(kube, "whisper")
    _pod(kube, "whisper", "whisper-a1", serving("True", "2026-01-01T10:03:00Z"))
    one_ready = {"replicas": 1, "readyReplicas": 1}
    kube.merge_patch(DEPLOYMENTS, NS, "whisper", {"status": one_ready}, sub="status")
    _wait_condition(kube, "whisper", "Ready", "True", "Serving")
    # Its server hangs: the kubelet marks it not Ready an hour on.
    hung = serving("False", "2026-01-01T11:00:00Z")
    assert kube.merge_patch(PODS, NS, "whisper-a1", {"status": hung}, sub="status").ok
    none_ready = {"replicas": 1, "readyReplicas": 0}
    kube.merge_patch(DEPLOYMENTS, NS, "whisper", {"status": none_ready}, sub="status")
    ready = _wait_condition(kube, "whisper", "Ready", "False", "PodsNotReady")
    assert "whisper-a1" in ready["message"]
    assert "not answering its readiness probe" in ready["message"]
    # Or its node stops answering: the node lifecycle controller marks it not Ready; the
    # kubelet, gone, leaves its container reading ready.
    unreachable = serving("False", "2026-01-01T11:01:00Z")
    unreachable["containerStatuses"][0]["ready"] = True
    assert kube.merge_patch(PODS, NS, "whisper-a1", {"status": unreachable}, sub="status").ok
    wait_for(
        lambda: "node that stopped answering" in _condition(kube, "whisper", "Ready")["message"],
        what="the lost node named",
    )
    wait_for(lambda: "PodsNotReady" in _event_reasons(kube), what="a PodsNotReady Event")
    # The node comes back.
    back = serving("True", "2026-01-01T11:05:00Z")
    assert kube.merge_patch(PODS, NS, "whisper-a1", {"status": back}, sub="status").ok
    kube.merge_patch(DEPLOYMENTS, NS, "whisper", {"status": one_ready}, sub="status")
    _wait_condition(kube, "whisper", "Ready", "True", "Serving")


def test_a_rollout_past_its_progress_deadline_is_not_ready(kube: Kube, operator: None) -> None:
    _apply(kube, "vit")
    kube.merge_patch(
        DEPLOYMENTS, NS, "vit", {"status": {"replicas": 1, "readyReplicas": 1}}, sub="status"
    )
    _wait_condition(kube, "vit", "Ready", "True", "Serving")
    # A new image never becomes ready; the Deployment controller gives up on progress.
    stuck = {
        "conditions": [
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "vit-7d9f" has timed out progressing.',
            }
        ]
    }
    kube.merge_patch(DEPLOYMENTS, NS, "vit", {"status": stuck}, sub="status")
    ready = _wait_condition(kube, "vit", "Ready", "False", "RolloutFailed")
    assert 'ReplicaSet "vit-7d9f" has timed out progressing.' in ready["message"]
    # kstatus (Flux, kpt) reads Stalled/Reconciling, not Ready, on custom resources.
    assert _condition(kube, "vit", "Stalled")["status"] == "True"
    assert _condition(kube, "vit", "Reconciling")["status"] == "False"
    wait_for(lambda: "RolloutFailed" in _event_reasons(kube), what="a RolloutFailed Event")
    # A fixed spec rolls out: the controller reports progress again.
    progressing = {
        "conditions": [
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        ]
    }
    kube.merge_patch(DEPLOYMENTS, NS, "vit", {"status": progressing}, sub="status")
    _wait_condition(kube, "vit", "Ready", "True", "Serving")
    assert _condition(kube, "vit", "Stalled")["status"] == "False"


QUOTA_SAYS = (
    'pods "gemma-5d8f7-x2k9q" is forbidden: exceeded quota: gpu-quota, requested: '
    "requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2"
)


def _replica_failure(status: str) -> dict[str, Any]:
    """The Deployment's status as its controller writes it while (``status`` "True") or
    after a ResourceQuota refuses the ReplicaSet's pods; no progress deadline passes (a
    scale-up is not a rollout)."""
    failure = {"type": "ReplicaFailure", "status": status, "reason": "FailedCreate"}
    if status == "True":
        failure["message"] = QUOTA_SAYS
    available = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
    return {"replicas": 0, "readyReplicas": 0, "conditions": [available, failure]}


def test_pods_a_quota_refuses_to_create_are_reported(kube: Kube, operator: None) -> None:
    _apply(kube, "gemma")
    kube.merge_patch(DEPLOYMENTS, NS, "gemma", {"status": _replica_failure("True")}, sub="status")
    # Not "starting": no pod exists, and none will until someone raises the quota.
    ready = _wait_condition(kube, "gemma", "Ready", "False", "PodsNotCreated")
    assert QUOTA_SAYS in ready["message"]
    refused = _wait_condition(kube, "gemma", "Schedulable", "False", "PodsNotCreated")
    assert "the ReplicaSet cannot create 1 pod(s)" in refused["message"]
    assert QUOTA_SAYS in refused["message"]
    assert _condition(kube, "gemma", "Stalled")["status"] == "True"
    wait_for(lambda: "PodsNotCreated" in _event_reasons(kube), what="a PodsNotCreated Event")
    # The quota is raised: the pod is created and starts.
    kube.merge_patch(DEPLOYMENTS, NS, "gemma", {"status": _replica_failure("False")}, sub="status")
    _wait_condition(kube, "gemma", "Schedulable", "True", "PodsScheduled")
    _wait_condition(kube, "gemma", "Ready", "Unknown", "PodsStarting")


def test_a_quota_refusal_seen_while_the_children_are_applied_is_not_overwritten(
    apiserver: EmulatedApiServer, kube: Kube, operator: None
) -> None:
    # The API server holds the PodDisruptionBudget's creation (the reconcile's step after
    # the Deployment) until the quota refusal has been reported: the reconcile's own
    # status write then lands last, and must not bring back what it saw before it.
    release_pdb_creation = apiserver.handler.hold("POST", PDBS.path(NS))
    try:
        _apply(kube, "gemma")
        kube.merge_patch(
            DEPLOYMENTS, NS, "gemma", {"status": _replica_failure("True")}, sub="status"
        )
        _wait_condition(kube, "gemma", "Schedulable", "False", "PodsNotCreated")
    finally:
        release_pdb_creation.set()
    wait_for(lambda: kube.get(PDBS, NS, "gemma"), what="the PodDisruptionBudget")
    wait_for(
        lambda: _condition(kube, "gemma", "Reconciled").get("status") == "True",
        what="the reconcile's status write",
    )
    assert _condition(kube, "gemma", "Schedulable")["reason"] == "PodsNotCreated"
    assert _condition(kube, "gemma", "Ready")["reason"] == "PodsNotCreated"


def test_deleting_while_the_operator_is_down_completes(kube: Kube, kubeconfig: str) -> None:
    with running_operator(kubeconfig, GPUFLEET_TICK_SECONDS="1"):
        _apply(kube, "gone")
        wait_for(
            lambda: _condition(kube, "gone", "Reconciled").get("status") == "True",
            what="reconciled",
        )
        # The scaling loop runs for it (a kopf timer or daemon would add a finalizer here).
        wait_for(
            lambda: kube.get(MODELDEPLOYMENTS, NS, "gone")["status"].get("replicas") == 1,  # type: ignore[index]
            what="status from the Deployment",
        )
        assert not kube.get(MODELDEPLOYMENTS, NS, "gone")["metadata"].get("finalizers")  # type: ignore[index]
    # The operator is down: the deletion neither waits for it nor leaves children behind.
    assert kube.delete(MODELDEPLOYMENTS, NS, "gone").ok
    wait_for(lambda: kube.get(MODELDEPLOYMENTS, NS, "gone") is None, what="ModelDeployment gone")
    wait_for(lambda: kube.get(DEPLOYMENTS, NS, "gone") is None, what="children collected")


def test_a_finalizer_an_older_version_added_is_removed(kube: Kube, operator: None) -> None:
    body = modeldeployment("old", minimal_spec())
    body["metadata"]["finalizers"] = ["gpufleet.io/finalizer"]
    assert kube.create(MODELDEPLOYMENTS, NS, body).status_code == 201
    wait_for(
        lambda: not (kube.get(MODELDEPLOYMENTS, NS, "old") or {})["metadata"].get("finalizers"),
        what="the old finalizer removed",
    )
