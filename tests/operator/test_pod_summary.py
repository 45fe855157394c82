"""What a ModelDeployment's pods count for, from the objects as the cluster leaves them."""

from __future__ import annotations

from typing import Any

from gpufleet.domain.pods import pod_facts, summarize
from gpufleet.domain.readiness import DeploymentFacts, uncreated_replicas

EVICTED = {
    "phase": "Failed",
    "reason": "Evicted",
    "message": "The node was low on resource: ephemeral-storage.",
}


def _pod(name: str, status: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": name, "creationTimestamp": "2026-01-01T00:00:00Z"}
    return {"metadata": meta, "status": status}


def test_evicted_pods_do_not_count_as_pods_the_replicaset_created() -> None:
    # Evicted pods stay (phase Failed) until pod garbage collection; the ReplicaSet
    # replaced them, and a quota now refuses the replacements.
    pods = [
        _pod("llm-a", {"phase": "Running"}),
        _pod("llm-b", EVICTED),
        _pod("llm-c", EVICTED),
    ]
    summary = summarize([pod_facts(p) for p in pods], now=0.0, provisioning_timeout_s=600)
    refused = DeploymentFacts(replicas=3, ready=1, replica_failure="exceeded quota: gpu-quota")
    assert summary.pods == 1
    assert uncreated_replicas(refused, summary) == 2


def _running_since(ready: str, since: str) -> dict[str, Any]:
    running = {"state": {"running": {"startedAt": "2026-01-01T10:00:05Z"}}}
    return {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": since}],
        "containerStatuses": [{"name": "server", **running}],
    }


def test_a_pod_still_loading_its_model_has_not_lost_readiness() -> None:
    # Not Ready since it was created, before its container started: starting.
    loading = pod_facts(_pod("llm-a", _running_since("False", "2026-01-01T10:00:00Z")))
    # Not Ready since after its container started: it had served, or its node is lost.
    lost = pod_facts(_pod("llm-b", _running_since("False", "2026-01-01T10:30:00Z")))
    assert (loading.readiness_lost, lost.readiness_lost) == (False, True)


def test_a_pod_whose_node_is_lost_is_told_from_one_failing_its_probe() -> None:
    # The kubelet turns the container's ready false with the pod's Ready condition.
    probe_failing = _running_since("False", "2026-01-01T10:30:00Z")
    probe_failing["containerStatuses"][0]["ready"] = False
    # The node lifecycle controller turns only the condition: the kubelet is gone.
    node_lost = _running_since("False", "2026-01-01T10:30:00Z")
    node_lost["containerStatuses"][0]["ready"] = True
    # Some releases also set the pod's reason.
    node_lost_reason = {**probe_failing, "reason": "NodeLost"}
    # A readiness gate (a load balancer controller's) the kubelet reports not ready.
    gated = _running_since("False", "2026-01-01T10:30:00Z")
    gated["containerStatuses"][0]["ready"] = True
    gated["conditions"][0]["reason"] = "ReadinessGatesNotReady"
    cases = (("a", probe_failing), ("b", node_lost), ("c", node_lost_reason), ("d", gated))
    facts = [pod_facts(_pod(name, status)) for name, status in cases]
    assert [(f.readiness_lost, f.node_lost) for f in facts] == [
        (True, False),
        (True, True),
        (True, True),
        (True, False),
    ]
    summary = summarize(facts, now=0.0, provisioning_timeout_s=600)
    assert [p.name for p in summary.node_lost] == ["b", "c"]
