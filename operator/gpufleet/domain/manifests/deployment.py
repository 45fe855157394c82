"""The Deployment that runs the model's GPU pods."""

from __future__ import annotations

import json
from typing import Any

from gpufleet.domain.manifests.context import BuildContext
from gpufleet.domain.manifests.identity import (
    Owner,
    child_metadata,
    common_labels,
    selector_labels,
)
from gpufleet.domain.manifests.pod_paths import SHM_MOUNT_PATH, SHM_VOLUME
from gpufleet.domain.manifests.repository import plan_repository
from gpufleet.domain.manifests.rollout import rolling_update
from gpufleet.domain.manifests.scheduling import pod_scheduling, topology_spread
from gpufleet.domain.manifests.server import (
    PROBE_PERIOD_SECONDS,
    container_ports,
    metrics_port,
    probes,
    server_command,
    server_env,
    shm_size,
    startup_failure_threshold,
)
from gpufleet.domain.spec import ModelDeploymentSpec, downloads_model

PRE_STOP_SECONDS = 10
"""Time for endpoints to drop a terminating pod before the server stops taking work."""
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


def _resources(spec: ModelDeploymentSpec) -> dict[str, Any]:
    res = spec.resources
    requests: dict[str, Any] = {"cpu": res.cpu, "memory": res.memory}
    size_limit = spec.model.effective_cache.size_limit
    if downloads_model(spec) and size_limit:
        # The scheduler places the pod where the downloaded model fits on the node's disk.
        requests["ephemeral-storage"] = size_limit
    limits: dict[str, Any] = {"memory": res.memory}
    if res.gpus:
        # A limit alone: the API server sets a pod's request of an extended resource to it.
        limits[res.gpu_resource] = res.gpus
    return {"requests": requests, "limits": limits}


def progress_deadline_seconds(spec: ModelDeploymentSpec) -> int:
    """When a rollout that makes no progress counts as failed (Ready=False, RolloutFailed).

    Never before a new pod has had its whole startup allowance (and a minute to be
    scheduled and pulled): a slow but healthy model load is not a failed rollout.
    """
    startup = startup_failure_threshold(spec) * PROBE_PERIOD_SECONDS
    return max(600, 3 * spec.scaling.cold_start_seconds, startup + 60)


def _identity(spec: ModelDeploymentSpec) -> dict[str, Any]:
    """The pods' ServiceAccount, image pull secrets and RuntimeClass.

    The Kubernetes API token is never mounted: a model server does not call the API.
    Cloud identities need no such token: EKS IRSA and Azure Workload Identity inject
    their own projected token through their webhooks; GKE Workload Identity uses the
    metadata server.
    """
    runtime = spec.runtime
    out: dict[str, Any] = {}
    if runtime.service_account_name:
        out["serviceAccountName"] = runtime.service_account_name
    if runtime.image_pull_secrets:
        out["imagePullSecrets"] = [s.to_wire() for s in runtime.image_pull_secrets]
    if runtime.runtime_class_name:
        out["runtimeClassName"] = runtime.runtime_class_name
    return out


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
    runtime = spec.runtime
    env = [e.to_wire() for e in runtime.env]
    env_from = [e.to_wire() for e in runtime.env_from]
    extra_mounts = [m.to_wire() for m in runtime.volume_mounts]
    repo = plan_repository(
        spec, owner.name, CONTAINER_SECURITY_CONTEXT, env, env_from, extra_mounts
    )
    shm = {
        "name": SHM_VOLUME,
        "emptyDir": {"medium": "Memory", "sizeLimit": shm_size(runtime.type)},
    }
    container: dict[str, Any] = {
        "name": "server",
        "image": runtime.effective_image,
        "command": server_command(spec, repo.server_path),
        "env": [*server_env(runtime.type), *env, *repo.env],
        "ports": container_ports(runtime),
        "resources": _resources(spec),
        **probes(spec),
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}},
        "volumeMounts": [
            *repo.mounts,
            {"name": SHM_VOLUME, "mountPath": SHM_MOUNT_PATH},
            *extra_mounts,
        ],
        "securityContext": CONTAINER_SECURITY_CONTEXT,
    }
    if env_from:
        container["envFrom"] = env_from
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": POD_SECURITY_CONTEXT,
        # preStop pause + drain of in-flight requests + a margin to exit.
        "terminationGracePeriodSeconds": PRE_STOP_SECONDS + spec.runtime.exit_timeout_seconds + 5,
        "initContainers": repo.init_containers,
        "containers": [container],
        "volumes": [*repo.volumes, shm, *(v.to_wire() for v in runtime.volumes)],
        **pod_scheduling(spec.resources, context.gpu_node_label),
        **_identity(spec),
    }
    spread = topology_spread(spec.resources, selector_labels(owner))
    if spread:  # none ([] in the spec) is not stored: removed from a live Deployment
        pod_spec["topologySpreadConstraints"] = spread
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
            "progressDeadlineSeconds": progress_deadline_seconds(spec),
            "revisionHistoryLimit": 5,
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(metrics_port(runtime)),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": pod_spec,
            },
        },
    }
    # No shared sub-objects: callers may mutate what they get (and YAML gets no anchors).
    return dict(json.loads(json.dumps(deployment)))
