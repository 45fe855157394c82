"""The API objects a kubelet writes: Pods, their status, the Deployment's status, Events."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

NODE_NAME = "gpufleet-local"
LOOPBACK = "127.0.0.1"
AGENT_COMPONENT = "gpufleet-local-agent"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def template_hash(template: dict[str, Any]) -> str:
    """Like ``pod-template-hash``: pods of an older template are replaced."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def pod_name(deployment: str, hash_: str) -> str:
    return f"{deployment}-{hash_}-{secrets.token_hex(3)[:5]}"


def pod_manifest(
    deployment: dict[str, Any], name: str, hash_: str, ports: dict[str, int]
) -> dict[str, Any]:
    """A Pod with the template's labels, owned by the Deployment, on the local node.

    ``ports`` are the ports the process really listens on (name -> port).
    """
    meta = deployment["metadata"]
    template = deployment["spec"]["template"]
    tmeta = template.get("metadata") or {}
    spec = json.loads(json.dumps(template.get("spec") or {}))
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") in ports:
                port["containerPort"] = ports[port["name"]]
    spec["nodeName"] = NODE_NAME
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {**(tmeta.get("labels") or {}), "pod-template-hash": hash_},
            "annotations": dict(tmeta.get("annotations") or {}),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


@dataclass(frozen=True, slots=True)
class ContainerState:
    """What the agent knows about the one server container."""

    phase: str  # Pending, Running
    ready: bool
    waiting_reason: str | None  # ContainerCreating, CrashLoopBackOff
    started_at: str | None
    restarts: int
    last_exit_code: int | None
    last_finished_at: str | None
    created_at: str
    init_statuses: list[dict[str, Any]] = field(default_factory=list)
    """``initContainerStatuses``, in order (empty when the pod has none)."""
    initialized: bool = True


def _condition(type_: str, ok: bool, since: str, reason: str = "") -> dict[str, Any]:
    condition = {"type": type_, "status": "True" if ok else "False", "lastTransitionTime": since}
    if reason:
        condition["reason"] = reason
    return condition


def pod_status(state: ContainerState, ready_since: str) -> dict[str, Any]:
    if state.started_at is not None and state.waiting_reason is None:
        current: dict[str, Any] = {"running": {"startedAt": state.started_at}}
    else:
        current = {"waiting": {"reason": state.waiting_reason or "ContainerCreating"}}
    last: dict[str, Any] = {}
    if state.last_exit_code is not None:
        last = {
            "terminated": {
                "exitCode": state.last_exit_code,
                "reason": "Error" if state.last_exit_code else "Completed",
                "finishedAt": state.last_finished_at,
            }
        }
    not_ready = "" if state.ready else "ContainersNotReady"
    not_initialized = "" if state.initialized else "ContainersNotInitialized"
    status: dict[str, Any] = {
        "phase": state.phase,
        "hostIP": LOOPBACK,
        "podIP": LOOPBACK,
        "podIPs": [{"ip": LOOPBACK}],
        "startTime": state.created_at,
        "conditions": [
            _condition("PodScheduled", True, state.created_at),
            _condition("Initialized", state.initialized, state.created_at, not_initialized),
            _condition("ContainersReady", state.ready, ready_since, not_ready),
            _condition("Ready", state.ready, ready_since, not_ready),
        ],
        "containerStatuses": [
            {
                "name": "server",
                "ready": state.ready,
                "started": state.started_at is not None,
                "restartCount": state.restarts,
                "state": current,
                "lastState": last,
                "image": "local",
                "imageID": "",
            }
        ],
    }
    if state.init_statuses:
        status["initContainerStatuses"] = state.init_statuses
    return status


def deployment_status(
    generation: int | None, replicas: int, ready: int, updated: int
) -> dict[str, Any]:
    available = ready
    status: dict[str, Any] = {
        "replicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": available,
        "updatedReplicas": updated,
        "unavailableReplicas": max(0, replicas - available),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def pod_event(pod: dict[str, Any], type_: str, reason: str, message: str) -> dict[str, Any]:
    meta = pod["metadata"]
    stamp = now_iso()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{secrets.token_hex(8)}",
            "namespace": meta["namespace"],
        },
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
        },
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": AGENT_COMPONENT, "host": NODE_NAME},
        "reportingComponent": AGENT_COMPONENT,
        "reportingInstance": NODE_NAME,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
