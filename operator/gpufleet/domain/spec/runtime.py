"""``spec.runtime``: the inference server, its image, arguments, environment and volumes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated

from pydantic import Field, JsonValue, field_validator, model_validator

from gpufleet.domain.k8s_shapes import (
    IMAGE_NAME_RULE,
    IMAGE_NAME_TOO_LONG,
    IMAGE_REFERENCE,
    IMAGE_REFERENCE_MAX,
    EnvFromSource,
    EnvVar,
    LocalObjectReference,
    ObjectName,
    Volume,
    VolumeMount,
    image_name_too_long,
)
from gpufleet.domain.manifests.pod_paths import RESERVED_MOUNT_PATHS, RESERVED_VOLUMES
from gpufleet.domain.spec.messages import TORCH_OWNED_ARGS, TORCH_SETTINGS_NEED_TORCH
from gpufleet.domain.spec.server_flags import TORCH_OWNED_FLAGS
from gpufleet.domain.wire import WireModel


class RuntimeType(StrEnum):
    TRITON = "triton"
    TORCH = "torch"
    VLLM = "vllm"


class TorchMode(StrEnum):
    """What gpufleet's torch server serves (its ``--mode``)."""

    TRITON = "triton"
    LLM = "llm"


DEFAULT_IMAGES: dict[RuntimeType, str] = {
    RuntimeType.TRITON: "nvcr.io/nvidia/tritonserver:24.08-py3",
    RuntimeType.TORCH: "ghcr.io/gpufleet/gpufleet-server:0.1.0",
    # vLLM's OpenAI-compatible server; the tag follows vLLM's release on PyPI.
    RuntimeType.VLLM: "vllm/vllm-openai:v0.33.0",
}


def _quoted(items: Iterable[str]) -> str:
    """A CEL list literal of strings, sorted so the CRD is the same on every run."""
    return "[" + ", ".join(f"'{item}'" for item in sorted(items)) + "]"


def _listed(items: Iterable[str]) -> str:
    *most, last = sorted(items)
    return ", ".join(most) + " and " + last


_SUB_PATH_BACKSTEP = (
    "a subPath may not hold a '..' segment: the API server refuses a path that leaves the volume"
)

# The CEL twins of _volumes_consistent, so the API server refuses what the operator would.
_VOLUME_RULES: list[JsonValue] = [
    {
        "rule": "self.all(v, self.exists_one(w, w.name == v.name))",
        "message": "a volume name is used twice: each volume needs a name of its own",
    },
    {
        "rule": f"self.all(v, !(v.name in {_quoted(RESERVED_VOLUMES)}))",
        "message": f"the names {_listed(RESERVED_VOLUMES)} are the operator's",
    },
]
_MOUNT_RULES: list[JsonValue] = [
    {
        # A mount path ends in at most one '/' (its pattern): "/a/" and "/a" are one path.
        "rule": (
            "self.all(m, self.exists_one(n, n.mountPath == m.mountPath || "
            "n.mountPath == m.mountPath + '/' || n.mountPath + '/' == m.mountPath))"
        ),
        "message": "a path is mounted twice",
    },
    {
        "rule": (
            f"self.all(m, !{_quoted(RESERVED_MOUNT_PATHS)}.exists(p, "
            "m.mountPath == p || m.mountPath.startsWith(p + '/')))"
        ),
        "message": (
            f"{_listed(RESERVED_MOUNT_PATHS)} (and the paths below them) are the operator's"
        ),
    },
    {
        "rule": "self.all(m, !has(m.subPath) || !m.subPath.matches('(^|/)[.][.](/|$)'))",
        "message": _SUB_PATH_BACKSTEP,
    },
]


class TorchSpec(WireModel):
    """Settings of gpufleet's torch server (``runtime.type: torch``)."""

    mode: Annotated[
        TorchMode,
        Field(
            description=(
                "triton: the models of a Triton-layout repository behind Triton's HTTP/gRPC "
                "protocol and metrics. llm: one generative transformer (weights from "
                "model.repository seed://<n>) behind OpenAI's /v1/completions and "
                "/v1/chat/completions with streaming and vLLM's metrics, scaled as vLLM is; "
                "its engine settings (--max-model-len, --kv-cache-tokens, --max-num-seqs, "
                "...) go in runtime.args."
            )
        ),
    ] = TorchMode.TRITON


class RuntimeSpec(WireModel):
    type: Annotated[
        RuntimeType,
        Field(
            description=(
                "Inference server: NVIDIA Triton, gpufleet's torch server, or vLLM's "
                "OpenAI-compatible server."
            )
        ),
    ] = RuntimeType.TRITON
    image: Annotated[
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=IMAGE_REFERENCE_MAX,
            json_schema_extra={
                "pattern": IMAGE_REFERENCE,
                "x-kubernetes-validations": [
                    {"rule": IMAGE_NAME_RULE, "message": IMAGE_NAME_TOO_LONG}
                ],
            },
            description=(
                "Container image reference ([registry/]path[:tag][@digest]); a default per "
                "type when unset."
            ),
        ),
    ] = None
    args: Annotated[
        list[Annotated[str, Field(max_length=4096)]],
        Field(
            default_factory=list,
            max_length=256,
            description="Extra server arguments, appended.",
        ),
    ]
    env: Annotated[
        list[EnvVar],
        Field(
            default_factory=list,
            max_length=256,
            description=(
                "Extra environment of the server (and of the init container that downloads "
                "the model): Kubernetes EnvVars; put credentials in valueFrom.secretKeyRef."
            ),
        ),
    ]
    env_from: Annotated[
        list[EnvFromSource],
        Field(
            default_factory=list,
            max_length=32,
            description="Every key of these Secrets/ConfigMaps as environment (server and fetch).",
        ),
    ]
    service_account_name: Annotated[
        ObjectName | None,
        Field(
            default=None,
            description=(
                "ServiceAccount of the model pods, e.g. one bound to a cloud role (EKS IRSA, "
                "GKE Workload Identity) that may read the model bucket; its token is then "
                "mounted. Unset: the namespace's default account, with no token mounted."
            ),
        ),
    ] = None
    runtime_class_name: Annotated[
        ObjectName | None,
        Field(
            default=None,
            description=(
                "RuntimeClass of the model pods, e.g. nvidia where the NVIDIA container "
                "runtime is not the node's default (k3s, RKE2, the GPU Operator without "
                "CDI): without it the container starts without its GPUs."
            ),
        ),
    ] = None
    image_pull_secrets: Annotated[
        list[LocalObjectReference],
        Field(
            default_factory=list,
            max_length=16,
            description="Secrets to pull private images with.",
        ),
    ]
    volumes: Annotated[
        list[Volume],
        Field(
            default_factory=list,
            max_length=32,
            description=(
                "Extra pod volumes (secret, configMap, persistentVolumeClaim, emptyDir, csi, "
                "nfs), e.g. a credentials file or a CA bundle."
            ),
            json_schema_extra={"x-kubernetes-validations": _VOLUME_RULES},
        ),
    ]
    volume_mounts: Annotated[
        list[VolumeMount],
        Field(
            default_factory=list,
            max_length=32,
            description=(
                "Mounts of those volumes in the server (and in the init container that "
                "downloads the model)."
            ),
            json_schema_extra={"x-kubernetes-validations": _MOUNT_RULES},
        ),
    ]
    exit_timeout_seconds: Annotated[
        int,
        Field(
            ge=1, le=3600, description="How long in-flight requests may take to drain on shutdown."
        ),
    ] = 30
    torch: Annotated[
        TorchSpec | None,
        Field(default=None, description="runtime.type torch only: what the torch server serves."),
    ] = None

    @property
    def effective_image(self) -> str:
        return self.image or DEFAULT_IMAGES[self.type]

    @property
    def torch_llm(self) -> bool:
        """gpufleet's torch server in its LLM mode (OpenAI API, vLLM's metrics)."""
        return self.torch is not None and self.torch.mode is TorchMode.LLM

    @field_validator("image")
    @classmethod
    def _image_reference(cls, image: str | None) -> str | None:
        if image is None:
            return image
        if not re.fullmatch(IMAGE_REFERENCE, image):
            raise ValueError(
                f"{image!r} is not an image reference: [registry[:port]/]path[:tag][@digest], "
                "the path in lowercase letters, digits and . _ -"
            )
        if image_name_too_long(image):
            raise ValueError(IMAGE_NAME_TOO_LONG)
        return image

    @model_validator(mode="after")
    def _torch_settings(self) -> RuntimeSpec:
        if self.type is not RuntimeType.TORCH:
            if self.torch is not None:
                raise ValueError(TORCH_SETTINGS_NEED_TORCH)
            return self
        if any(arg.split("=", 1)[0] in TORCH_OWNED_FLAGS for arg in self.args):
            raise ValueError(TORCH_OWNED_ARGS)
        return self

    @model_validator(mode="after")
    def _volumes_consistent(self) -> RuntimeSpec:
        names = [v.name for v in self.volumes]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"runtime.volumes: the name {name!r} is used twice")
            if name in RESERVED_VOLUMES:
                raise ValueError(f"runtime.volumes: the name {name!r} is the operator's")
        paths = [m.mount_path.rstrip("/") for m in self.volume_mounts]
        for mount in self.volume_mounts:
            if mount.name not in names:
                raise ValueError(f"runtime.volumeMounts: {mount.name!r} is not in runtime.volumes")
            path = mount.mount_path.rstrip("/")
            if paths.count(path) > 1:
                raise ValueError(f"runtime.volumeMounts: {path} is mounted twice")
            if any(path == p or path.startswith(p + "/") for p in RESERVED_MOUNT_PATHS):
                raise ValueError(f"runtime.volumeMounts: {path} is the operator's")
            if mount.sub_path is not None and ".." in mount.sub_path.split("/"):
                raise ValueError(f"runtime.volumeMounts: {_SUB_PATH_BACKSTEP}")
        return self
