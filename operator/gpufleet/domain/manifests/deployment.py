"""The Deployment that runs the model's GPU pods."""

from __future__ import annotations

import json
import math
from typing import Any

from gpufleet.domain.manifests.context import BuildContext
from gpufleet.domain.manifests.identity import (
    Owner,
    child_metadata,
    common_labels,
    selector_labels,
)
from gpufleet.domain.manifests.ports import GRPC_PORT, HTTP_PORT, METRICS_PORT
from gpufleet.domain.manifests.repository import plan_repository
from gpufleet.domain.manifests.rollout import rolling_update
from gpufleet.domain.manifests.scheduling import GPU_RESOURCE, pod_scheduling
from gpufleet.domain.manifests.server import server_command
from gpufleet.domain.spec import ModelDeploymentSpec

PRE_STOP_SECONDS = 10
"""Time for endpoints to drop a terminating pod before the server stops taking work."""
PROBE_PERIOD_SECONDS = 5
UID = 1000

CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": UID,
    "fsGroup": UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _startup_failure_threshold(cold_start_seconds: int) -> int:
    # Allow twice the expected model load before the kubelet gives up on the pod:
    # a slow load is better than a restart loop that never finishes loading.
    return max(6, math.ceil(2 * cold_start_seconds / PROBE_PERIOD_SECONDS))


def _resources(spec: ModelDeploymentSpec) -> dict[str, Any]:
    res = spec.resources
    requests: dict[str, Any] = {"cpu": res.cpu, "memory": res.memory}
    limits: dict[str, Any] = {"memory": res.memory}
    if res.gpus:
        limits[GPU_RESOURCE] = res.gpus
    return {"requests": requests, "limits": limits}


def build_deployment(
    owner: Owner,
    spec: ModelDeploymentSpec,
    initial_replicas: int,
    context: BuildContext | None = None,
) -> dict[str, Any]:
    """The desired Deployment; ``spec.replicas`` is only used when creating it.

    After creation the replica count belongs to the autoscaler: reconciling a spec
    change never resets it (see :func:`gpufleet.domain.manifests.diff.owned_patch`).
    The rollout strategy depends on it (``context.replicas``): surge pods must fit the budget.
    """
    context = context or BuildContext()
    replicas = initial_replicas if context.replicas is None else context.replicas
    labels = common_labels(owner, spec.model.name, spec.runtime.type.value)
    env = [e.to_wire() for e in spec.runtime.env]
    repo = plan_repository(spec, CONTAINER_SECURITY_CONTEXT, env)
    shm = {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}
    container = {
        "name": "server",
        "image": spec.runtime.effective_image,
        "command": server_command(spec, repo.server_path),
        "env": env,
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": _resources(spec),
        "startupProbe": _probe(
            "/v2/health/ready",
            PROBE_PERIOD_SECONDS,
            _startup_failure_threshold(spec.scaling.cold_start_seconds),
        ),
        "readinessProbe": _probe("/v2/health/ready", PROBE_PERIOD_SECONDS, 2),
        "livenessProbe": _probe("/v2/health/live", 10, 3),
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}},
        "volumeMounts": [*repo.mounts, {"name": "dshm", "mountPath": "/dev/shm"}],
        "securityContext": CONTAINER_SECURITY_CONTEXT,
    }
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": POD_SECURITY_CONTEXT,
        # preStop pause + drain of in-flight requests + a margin to exit.
        "terminationGracePeriodSeconds": PRE_STOP_SECONDS + spec.runtime.exit_timeout_seconds + 5,
        "initContainers": repo.init_containers,
        "containers": [container],
        "volumes": [*repo.volumes, shm],
        **pod_scheduling(spec.resources, context.gpu_node_label),
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector_labels(owner)},
            }
        ],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_metadata(owner, labels),
        "spec": {
            "replicas": initial_replicas,
            "selector": {"matchLabels": selector_labels(owner)},
            # By default a new GPU pod is ready before an old one goes; at the budget,
            # pods are replaced in place.
            "strategy": rolling_update(spec, replicas, context.replica_hourly_cost),
            "progressDeadlineSeconds": max(600, 3 * spec.scaling.cold_start_seconds),
            "revisionHistoryLimit": 5,
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(METRICS_PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": pod_spec,
            },
        },
    }
    # No shared sub-objects: callers may mutate what they get (and YAML gets no anchors).
    return dict(json.loads(json.dumps(deployment)))
