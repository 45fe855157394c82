"""How the model reaches the server container.

- ``pvc://claim/path``: the claim is mounted read-only at ``/models``. Triton gets only
  the model's own directory (``path/<model>`` at ``/models/<model>``), so a shared
  repository on the claim never loads other models; torch and vLLM serve ``/models/path``.
- ``s3://``, ``gs://``: an init container syncs the model into the model volume (an
  emptyDir of ``model.cache.sizeLimit``, or the claim ``model.cache.claimName``); for the
  Triton layout (triton, torch) only the model's directory ``<uri>/<model>``.
- ``http(s)://``: an init container unpacks the ``.tar.gz`` archive into the model volume;
  Triton mounts only the model's directory of it.
- A cache claim may serve many ModelDeployments of its namespace: each downloads into
  its own directory of it, named after the ModelDeployment (unique on the namespaced
  claim), and its server mounts only that directory (Triton: only its model's in it).
- Triton's ensemble and BLS models run other models of the repository
  (``model.composingModels``): each of their directories reaches the server as the
  model's own does, by the same means (a subPath mount each, a sync each, a mount each of
  the unpacked archive), and no other model does.
- ``hf://org/model`` (vLLM): vLLM downloads the model itself into the model volume
  (``HF_HOME``), with ``HF_TOKEN`` from ``model.hfTokenSecretRef``.
- ``seed://n`` (the torch server's LLM mode): nothing reaches the pod; the server draws
  the weights from the seed (``--seed``, see server.py).

The init container runs as the pod's non-root user with ``HOME`` on an emptyDir (the
tools keep their config and credential caches there) and gets the server's environment,
``envFrom`` and extra volume mounts, so the credentials that serve the model fetch it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from gpufleet.domain.manifests.pod_paths import (
    FETCH_HOME_PATH,
    FETCH_HOME_VOLUME,
    MODEL_MOUNT_PATH,
    MODEL_VOLUME,
)
from gpufleet.domain.spec import ModelDeploymentSpec, RuntimeType

# Images of the init containers that fetch a model, pinned.
FETCHER_IMAGES = {
    "s3": "amazon/aws-cli:2.17.0",
    "gs": "google/cloud-sdk:489.0.0-slim",
    "http": "alpine:3.20",
}
FETCH_HOME_SIZE = "256Mi"
"""The tools' config and credential caches: kilobytes to a few megabytes."""
HF_HOME = f"{MODEL_MOUNT_PATH}/huggingface"
ARCHIVE_MARKER_NAME = ".gpufleet-archive-url"
"""In the model's directory, names the archive a cache claim already holds there, so a
restarted pod does not fetch it again."""


def _http_fetch(model_dir: str) -> str:
    """http(s): a .tar.gz of the repository, unpacked into ``model_dir``; skipped when a
    cache claim already holds this very archive there."""
    marker = f"{model_dir}/{ARCHIVE_MARKER_NAME}"
    # The volume's root exists; a ModelDeployment's directory on a claim, the first time, not.
    make_dir = "" if model_dir == MODEL_MOUNT_PATH else f"mkdir -p {model_dir}; "
    return (
        f"set -eo pipefail; {make_dir}"
        f'if [ -f {marker} ] && [ "$(cat {marker})" = "$MODEL_ARCHIVE_URL" ]; '
        "then exit 0; fi; "
        f'wget -qO- "$MODEL_ARCHIVE_URL" | tar -xz -C {model_dir}; '
        f'printf %s "$MODEL_ARCHIVE_URL" > {marker}'
    )


@dataclass(frozen=True, slots=True)
class RepositoryPlan:
    server_path: str
    """What the server is told to serve: a path in the container, or an hf model id."""
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    init_containers: list[dict[str, Any]] = field(default_factory=list)
    env: list[dict[str, Any]] = field(default_factory=list)
    """Extra environment of the server."""


def _triton_layout(spec: ModelDeploymentSpec) -> bool:
    return spec.runtime.type in (RuntimeType.TRITON, RuntimeType.TORCH)


def _sync_command(scheme: str, uri: str, target: str) -> list[str]:
    if scheme == "s3":
        return ["aws", "s3", "sync", "--only-show-errors", "--no-progress", uri, target]
    return ["gcloud", "storage", "rsync", "--recursive", uri, target]


def _fetch_command(scheme: str, sources: list[tuple[str, str]]) -> list[str]:
    """The init container's command: each ``(uri, target)`` synced, or the archive unpacked.

    One sync is exec'd as is; several run one after the other in a shell, each word
    quoted (a bucket's path may hold any character), stopping at the first that fails.
    """
    if scheme == "http":
        return ["/bin/sh", "-c", _http_fetch(sources[0][1])]
    if len(sources) == 1:
        return _sync_command(scheme, *sources[0])
    syncs = (shlex.join(_sync_command(scheme, uri, target)) for uri, target in sources)
    return ["/bin/sh", "-c", "set -e; " + "; ".join(syncs)]


def _model_mount(models_dir: str, model: str) -> dict[str, Any]:
    """One model's directory ``models_dir/<model>`` of the volume at ``/models/<model>``."""
    return {
        "name": MODEL_VOLUME,
        "mountPath": f"{MODEL_MOUNT_PATH}/{model}",
        "subPath": f"{models_dir}/{model}" if models_dir else model,
        "readOnly": True,
    }


def _pvc_plan(spec: ModelDeploymentSpec) -> RepositoryPlan:
    model = spec.model
    sub = model.pvc_sub_path.strip("/")
    volume = {
        "name": MODEL_VOLUME,
        "persistentVolumeClaim": {"claimName": model.pvc_claim, "readOnly": True},
    }
    if spec.runtime.type is RuntimeType.TRITON:
        # Only this model's directory (and those of the models it runs): Triton loads
        # every model it finds.
        mounts = [_model_mount(sub, name) for name in model.served_models]
        return RepositoryPlan(MODEL_MOUNT_PATH, [volume], mounts)
    mount = {"name": MODEL_VOLUME, "mountPath": MODEL_MOUNT_PATH, "readOnly": True}
    server_path = f"{MODEL_MOUNT_PATH}/{sub}" if sub else MODEL_MOUNT_PATH
    return RepositoryPlan(server_path, [volume], [mount])


def _hf_plan(spec: ModelDeploymentSpec) -> RepositoryPlan:
    model = spec.model
    env: list[dict[str, Any]] = [{"name": "HF_HOME", "value": HF_HOME}]
    if model.hf_token_secret_ref is not None:
        ref = model.hf_token_secret_ref
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    return RepositoryPlan(
        server_path=model.hf_id or "",
        volumes=[{"name": MODEL_VOLUME, **model.effective_cache.volume()}],
        mounts=[{"name": MODEL_VOLUME, "mountPath": MODEL_MOUNT_PATH}],
        env=env,
    )


def _fetched_plan(
    spec: ModelDeploymentSpec,
    claim_dir: str,
    security_context: dict[str, Any],
    env: list[dict[str, Any]],
    env_from: list[dict[str, Any]],
    extra_mounts: list[dict[str, Any]],
) -> RepositoryPlan:
    model = spec.model
    scheme = "http" if model.scheme in ("http", "https") else model.scheme
    # A cache claim may hold other ModelDeployments' downloads: this one's lie in its own
    # directory of it (``claim_dir``), the only one its server sees.
    on_claim = model.effective_cache.claim_name is not None
    download_dir = f"{MODEL_MOUNT_PATH}/{claim_dir}" if on_claim else MODEL_MOUNT_PATH
    # The Triton layout keeps each model in a directory named after it: fetch only the
    # model's (and those of the models it runs).
    if _triton_layout(spec) and scheme != "http":
        repository = model.repository.rstrip("/")
        sources = [
            (f"{repository}/{name}", f"{download_dir}/{name}") for name in model.served_models
        ]
    else:
        sources = [(model.repository, download_dir)]
    fetch_env = [*env, {"name": "HOME", "value": FETCH_HOME_PATH}]
    if scheme == "http":
        fetch_env.append({"name": "MODEL_ARCHIVE_URL", "value": model.repository})
    init: dict[str, Any] = {
        "name": "fetch-model",
        "image": FETCHER_IMAGES[scheme],
        "command": _fetch_command(scheme, sources),
        "env": fetch_env,
        "volumeMounts": [
            {"name": MODEL_VOLUME, "mountPath": MODEL_MOUNT_PATH},
            {"name": FETCH_HOME_VOLUME, "mountPath": FETCH_HOME_PATH},
            *extra_mounts,
        ],
        "securityContext": security_context,
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    }
    if env_from:
        init["envFrom"] = env_from
    if spec.runtime.type is RuntimeType.TRITON and (scheme == "http" or on_claim):
        # Triton loads every model it sees, and an archive may hold a whole repository:
        # it sees only this model's directory (and those of the models it runs).
        models_dir = claim_dir if on_claim else ""
        mounts = [_model_mount(models_dir, name) for name in model.served_models]
    elif on_claim:
        mounts = [
            {
                "name": MODEL_VOLUME,
                "mountPath": MODEL_MOUNT_PATH,
                "subPath": claim_dir,
                "readOnly": True,
            }
        ]
    else:
        mounts = [{"name": MODEL_VOLUME, "mountPath": MODEL_MOUNT_PATH, "readOnly": True}]
    return RepositoryPlan(
        server_path=MODEL_MOUNT_PATH,
        volumes=[
            {"name": MODEL_VOLUME, **model.effective_cache.volume()},
            {"name": FETCH_HOME_VOLUME, "emptyDir": {"sizeLimit": FETCH_HOME_SIZE}},
        ],
        mounts=mounts,
        init_containers=[init],
    )


def plan_repository(
    spec: ModelDeploymentSpec,
    claim_dir: str,
    security_context: dict[str, Any],
    env: list[dict[str, Any]],
    env_from: list[dict[str, Any]],
    extra_mounts: list[dict[str, Any]],
) -> RepositoryPlan:
    """Volumes, mounts, init containers and environment that bring the model to the server.

    ``claim_dir`` is the ModelDeployment's directory on a cache claim: its name, unique
    on the claim, which is namespaced.
    """
    scheme = spec.model.scheme
    if scheme == "seed":
        return RepositoryPlan(server_path="")
    if scheme == "pvc":
        return _pvc_plan(spec)
    if scheme == "hf":
        return _hf_plan(spec)
    return _fetched_plan(spec, claim_dir, security_context, env, env_from, extra_mounts)
