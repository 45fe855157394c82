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
