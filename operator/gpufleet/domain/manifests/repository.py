"""How a model repository URI reaches the server container.

- ``pvc://claim/path``: the claim is mounted read-only at ``/models``.
- ``s3://``, ``gs://`` with Triton: passed as is (Triton reads them natively).
- ``s3://``, ``gs://`` with the torch runtime, and ``http(s)://`` archives with
  either: an init container copies the repository into an ``emptyDir``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpufleet.domain.spec import ModelDeploymentSpec, RuntimeType

MOUNT_PATH = "/models"
VOLUME_NAME = "model-repository"

# Images of the init containers that fetch a repository the server cannot read itself.
FETCHER_IMAGES = {
    "s3": "amazon/aws-cli:2.17.0",
    "gs": "google/cloud-sdk:489.0.0-slim",
    "http": "alpine:3.20",
}


@dataclass(frozen=True, slots=True)
class RepositoryPlan:
    server_path: str
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    init_containers: list[dict[str, Any]] = field(default_factory=list)


def _fetch_command(scheme: str, uri: str) -> list[str]:
    if scheme == "s3":
        return ["aws", "s3", "sync", "--only-show-errors", uri, MOUNT_PATH]
    if scheme == "gs":
        return ["gsutil", "-m", "rsync", "-r", uri, MOUNT_PATH]
    # http(s): a .tar.gz of the repository, unpacked in place.
    return ["/bin/sh", "-c", f'wget -qO- "$MODEL_ARCHIVE_URL" | tar -xz -C {MOUNT_PATH}']


def plan_repository(
    spec: ModelDeploymentSpec, security_context: dict[str, Any], env: list[dict[str, Any]]
) -> RepositoryPlan:
    model = spec.model
    scheme = model.scheme
    if scheme == "pvc":
        sub = model.pvc_sub_path.strip("/")
        return RepositoryPlan(
            server_path=f"{MOUNT_PATH}/{sub}" if sub else MOUNT_PATH,
            volumes=[
                {
                    "name": VOLUME_NAME,
                    "persistentVolumeClaim": {"claimName": model.pvc_claim, "readOnly": True},
                }
            ],
            mounts=[{"name": VOLUME_NAME, "mountPath": MOUNT_PATH, "readOnly": True}],
        )
    if scheme in ("s3", "gs") and spec.runtime.type is RuntimeType.TRITON:
        return RepositoryPlan(server_path=model.repository)
    fetcher = "http" if scheme in ("http", "https") else scheme
    fetch_env = list(env)
    if fetcher == "http":
        fetch_env.append({"name": "MODEL_ARCHIVE_URL", "value": model.repository})
    init = {
        "name": "fetch-model",
        "image": FETCHER_IMAGES[fetcher],
        "command": _fetch_command(fetcher, model.repository),
        "env": fetch_env,
        "volumeMounts": [{"name": VOLUME_NAME, "mountPath": MOUNT_PATH}],
        "securityContext": security_context,
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    }
    return RepositoryPlan(
        server_path=MOUNT_PATH,
        volumes=[{"name": VOLUME_NAME, "emptyDir": {}}],
        mounts=[{"name": VOLUME_NAME, "mountPath": MOUNT_PATH, "readOnly": True}],
        init_containers=[init],
    )
