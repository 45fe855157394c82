"""The ``ModelDeployment`` spec: pydantic models are the single source of truth.

The CRD's OpenAPI schema is generated from these models (``gpufleet.domain.crd``),
so every default, enum and minimum lives here once. Field names are camelCase on
the wire and snake_case in Python.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from gpufleet.domain.k8s_shapes import (
    IMAGE_REFERENCE,
    IMAGE_REFERENCE_MAX,
    QUANTITY,
    EmptyDirVolumeSource,
    EnvFromSource,
    EnvVar,
    LabelSelector,
    LocalObjectReference,
    NetworkPolicyPeer,
    ObjectName,
    Volume,
    VolumeMount,
    image_name_too_long,
)
from gpufleet.domain.manifests.pod_paths import RESERVED_MOUNT_PATHS, RESERVED_VOLUMES
from gpufleet.domain.wire import WireModel as WireModel

_QUANTITY = QUANTITY
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
REPOSITORY_SCHEMES = ("s3", "gs", "pvc", "http", "https", "hf", "seed")
FETCHED_SCHEMES = frozenset({"s3", "gs", "http", "https"})


class RuntimeType(StrEnum):
    TRITON = "triton"
    TORCH = "torch"
    VLLM = "vllm"


class TorchMode(StrEnum):
    """What gpufleet's torch server serves (its ``--mode``)."""

    TRITON = "triton"
    LLM = "llm"


class MetricsLossBehavior(StrEnum):
    """What the autoscaler does when the metrics it needs are unknown."""

    HOLD = "Hold"
    FALLBACK = "Fallback"


DEFAULT_IMAGES: dict[RuntimeType, str] = {
    RuntimeType.TRITON: "nvcr.io/nvidia/tritonserver:24.08-py3",
    RuntimeType.TORCH: "ghcr.io/gpufleet/gpufleet-server:0.1.0",
    # vLLM's OpenAI-compatible server; the tag follows vLLM's release on PyPI.
    RuntimeType.VLLM: "vllm/vllm-openai:v0.33.0",
}


class SecretKey(WireModel):
    name: ObjectName
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")] = "token"


class ModelCacheSpec(WireModel):
    size_limit: Annotated[
        str | None,
        Field(
            default=None,
            pattern=QUANTITY,
            description=(
                "Most the downloaded model may take on the node's disk (the emptyDir's "
                "sizeLimit, also requested as ephemeral-storage so the scheduler picks a "
                "node with room); the kubelet evicts a pod that writes more."
            ),
        ),
    ] = None
    claim_name: Annotated[
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=253,
            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            description=(
                "A PersistentVolumeClaim to keep the model in instead of an emptyDir, so a "
                "restarted pod re-syncs instead of downloading everything (ReadWriteMany to "
                "share it between replicas)."
            ),
        ),
    ] = None

    @model_validator(mode="after")
    def _one_place(self) -> ModelCacheSpec:
        if self.size_limit is not None and self.claim_name is not None:
            raise ValueError("set sizeLimit (an emptyDir) or claimName (a claim), not both")
        return self

    def volume(self) -> dict[str, Any]:
        """The pod volume the model is downloaded into."""
        if self.claim_name:
            return {"persistentVolumeClaim": {"claimName": self.claim_name}}
        return {"emptyDir": EmptyDirVolumeSource(size_limit=self.size_limit).to_wire()}


MAX_BATCH_SIZE_LIMIT = 65536
"""Largest model.maxBatchSize accepted: far beyond any server's batch, it only keeps
the model's arithmetic finite."""


class ModelSpec(WireModel):
    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=128,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
            description="Model name as served (the Triton model directory name).",
        ),
    ]
    repository: Annotated[
        str,
        Field(
            min_length=1,
            max_length=2048,
            pattern=r"^((s3|gs|pvc|https?|hf)://.+|seed://[0-9]{1,18})$",
            description=(
                "Where the model is: s3://bucket/path, gs://bucket/path, pvc://claim/sub/path, "
                "http(s)://host/archive.tar.gz (Triton's repository layout for triton and "
                "torch; a Hugging Face model directory for vllm), hf://org/model (vllm "
                "only: downloaded by vLLM from the Hugging Face Hub), or seed://<n> (torch "
                "in mode llm only: a small transformer whose weights are drawn from seed n, "
                "nothing is downloaded)."
            ),
        ),
    ]
    version: Annotated[
        str | None,
        Field(
            default=None,
            pattern=r"^[0-9]+$",
            description=(
                "Triton model version to serve (triton and torch); all versions in the "
                "repository when unset."
            ),
        ),
    ] = None
    max_batch_size: Annotated[
        int | None,
        Field(
            default=None,
            ge=1,
            le=MAX_BATCH_SIZE_LIMIT,
            description=(
                "The model's largest batch: max_batch_size in its config.pbtxt (triton and "
                "torch; 1 for a model that does not batch, max_batch_size 0). The metrics "
                "show mean batches only, so when unset the operator believes batches can "
                "grow to twice the largest mean it has measured, until requests are seen "
                "waiting behind full ones; set, a replica is never rated above full "
                "batches of this size (unless larger batches are measured: the server's "
                "configuration wins over a stale declaration)."
            ),
        ),
    ] = None
    hf_token_secret_ref: Annotated[
        SecretKey | None,
        Field(
            default=None,
            description=(
                "Secret key holding a Hugging Face token for gated or private hf:// models "
                "(passed as HF_TOKEN from the Secret, never as a literal)."
            ),
        ),
    ] = None
    cache: Annotated[
        ModelCacheSpec | None,
        Field(
            default=None,
            description=(
                "Where a downloaded model is kept in the pod (s3/gs/http fetched by an init "
                "container, hf:// by vLLM): an emptyDir of at most sizeLimit, or a claim."
            ),
        ),
    ] = None

    @property
    def scheme(self) -> str:
        return self.repository.split("://", 1)[0]

    @property
    def hf_id(self) -> str | None:
        """The Hugging Face model id of an ``hf://org/model`` repository."""
        if self.scheme != "hf":
            return None
        return self.repository.split("://", 1)[1].strip("/")

    @property
    def seed(self) -> int | None:
        """The seed of a ``seed://n`` repository (weights drawn, not loaded)."""
        if self.scheme != "seed":
            return None
        return int(self.repository.split("://", 1)[1])

    @property
    def effective_cache(self) -> ModelCacheSpec:
        return self.cache or ModelCacheSpec()

    @property
    def pvc_claim(self) -> str | None:
        """The claim name of a ``pvc://claim/path`` repository."""
        if self.scheme != "pvc":
            return None
        return self.repository.split("://", 1)[1].split("/", 1)[0]

    @property
    def pvc_sub_path(self) -> str:
        rest = self.repository.split("://", 1)[1]
        return rest.split("/", 1)[1] if "/" in rest else ""


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
            json_schema_extra={"pattern": IMAGE_REFERENCE},
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
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=253,
            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            description=(
                "ServiceAccount of the model pods, e.g. one bound to a cloud role (EKS IRSA, "
                "GKE Workload Identity) that may read the model bucket; its token is then "
                "mounted. Unset: the namespace's default account, with no token mounted."
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
            raise ValueError("the image name (registry and path) is longer than 255 characters")
        return image

    @model_validator(mode="after")
    def _torch_settings(self) -> RuntimeSpec:
        if self.type is not RuntimeType.TORCH:
            if self.torch is not None:
                raise ValueError(_TORCH_SETTINGS_NEED_TORCH)
            return self
        if any(arg.split("=", 1)[0] in TORCH_OWNED_FLAGS for arg in self.args):
            raise ValueError(_TORCH_OWNED_ARGS)
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
        return self


class Toleration(WireModel):
    key: str | None = None
    operator: Annotated[str | None, Field(default=None, pattern=r"^(Exists|Equal)$")] = None
    value: str | None = None
    effect: Annotated[
        str | None, Field(default=None, pattern=r"^(NoSchedule|PreferNoSchedule|NoExecute)$")
    ] = None
    toleration_seconds: int | None = None


class ResourcesSpec(WireModel):
    gpus: Annotated[int, Field(ge=0, le=16, description="GPUs per replica (nvidia.com/gpu).")] = 1
    gpu_type: Annotated[
        str,
        Field(
            min_length=1,
            max_length=63,
            pattern=_DNS_LABEL,
            description=(
                "GPU model, e.g. nvidia-l4: its price in the operator's catalog, and the nodes "
                "pods may run on (through the operator's GPU node label: GPU Feature "
                "Discovery's nvidia.com/gpu.product by default, nvidia-l4 -> NVIDIA-L4)."
            ),
        ),
    ] = "nvidia-l4"
    cpu: Annotated[str, Field(pattern=_QUANTITY, description="CPU request per replica.")] = "2"
    memory: Annotated[str, Field(pattern=_QUANTITY, description="Memory request and limit.")] = (
        "8Gi"
    )
    node_selector: Annotated[
        dict[str, str],
        Field(
            default_factory=dict,
            description="Node labels the pods require; replaces the selection by gpuType.",
        ),
    ]
    tolerations: Annotated[
        list[Toleration],
        Field(
            default_factory=list,
            max_length=32,
            description="Extra tolerations (the nvidia.com/gpu taint is always tolerated).",
        ),
    ]


class SLOSpec(WireModel):
    """Latency targets; at least one is set, and the fleet is sized for every one set."""

    latency_p95_ms: Annotated[
        float | None,
        Field(
            default=None,
            gt=0,
            le=600_000,
            description="Target 95th-percentile request latency (whole request), milliseconds.",
        ),
    ] = None
    ttft_p95_ms: Annotated[
        float | None,
        Field(
            default=None,
            gt=0,
            le=600_000,
            description=(
                "LLM fleets: target 95th-percentile time to first token (queueing plus "
                "prefill), milliseconds."
            ),
        ),
    ] = None
    itl_p95_ms: Annotated[
        float | None,
        Field(
            default=None,
            gt=0,
            le=60_000,
            description=(
                "LLM fleets: target 95th-percentile inter-token latency (the time between "
                "two streamed tokens), milliseconds."
            ),
        ),
    ] = None

    @model_validator(mode="after")
    def _at_least_one_target(self) -> SLOSpec:
        if self.latency_p95_ms is None and self.ttft_p95_ms is None and self.itl_p95_ms is None:
            raise ValueError(_NO_SLO_TARGET)
        return self


class CostSpec(WireModel):
    max_hourly_cost: Annotated[
        float,
        Field(gt=0, description="Budget: the fleet never costs more than this, USD per hour."),
    ]
    gpu_hourly_price: Annotated[
        float | None,
        Field(
            default=None,
            gt=0,
            description="USD per GPU-hour; overrides the operator's price catalog for gpuType.",
        ),
    ] = None


class ActivationSpec(WireModel):
    """How a fleet at zero replicas learns that requests are waiting.

    Zero pods export no metrics, so the signal must come from in front of them:
    a request-holding gateway's queue or request count for this model.
    """

    query: Annotated[
        str,
        Field(
            min_length=1,
            description=(
                "PromQL returning one number that exists while no pod runs, e.g. a "
                "gateway's queued or incoming requests for this model."
            ),
        ),
    ]
    threshold: Annotated[
        float,
        Field(ge=0, description="Scale from zero when the query's value exceeds this."),
    ] = 0.0
    scale_to_zero_after_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=86_400,
            description=(
                "Go to zero replicas once the query has stayed at or below the threshold, "
                "and the pods served nothing, for this long."
            ),
        ),
    ] = 300


class RolloutSpec(WireModel):
    """How a spec change replaces the pods (the Deployment's RollingUpdate strategy)."""

    max_surge: Annotated[
        int,
        Field(
            ge=0,
            le=100,
            description=(
                "Extra pods a rollout may start above the replica count (each needs a free "
                "GPU). Set to 0 automatically while the surge would exceed cost.maxHourlyCost."
            ),
        ),
    ] = 1
    max_unavailable: Annotated[
        int,
        Field(
            ge=0,
            le=100,
            description=(
                "Pods a rollout may take down before their replacements are ready. 0 keeps "
                "serving capacity; at the budget a rollout replaces one pod at a time in place."
            ),
        ),
    ] = 0


def _monitoring_namespace() -> list[NetworkPolicyPeer]:
    return [
        NetworkPolicyPeer(
            namespace_selector=LabelSelector(
                match_labels={"kubernetes.io/metadata.name": "monitoring"}
            )
        )
    ]


class NetworkPolicySpec(WireModel):
    """Who may reach the model pods; set, the operator owns a NetworkPolicy that allows
    only these peers (and denies every other ingress to the pods)."""

    clients: Annotated[
        list[NetworkPolicyPeer],
        Field(
            default_factory=list,
            max_length=32,
            description=(
                "Who may call the model (its http and grpc ports): a gateway, an "
                "application's pods or namespaces. Empty: pods in the ModelDeployment's "
                "own namespace."
            ),
        ),
    ]
    prometheus: Annotated[
        list[NetworkPolicyPeer],
        Field(
            default_factory=_monitoring_namespace,
            max_length=8,
            description=(
                "Who scrapes the metrics port: the Prometheus the operator queries. "
                "Default: any pod in the namespace named monitoring."
            ),
        ),
    ]


MIN_AUTO_SCALE_DOWN_WINDOW_S = 60
"""Below this, a window would chase the noise of a 30 s rate window."""


class ScalingSpec(WireModel):
    min_replicas: Annotated[int, Field(ge=0, le=1000)] = 1
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 10
    target_queue_depth: Annotated[
        float,
        Field(gt=0, description="Pending requests per replica the fleet aims to stay below."),
    ] = 4.0
    latency_headroom: Annotated[
        float,
        Field(
            ge=0,
            le=0.5,
            description=(
                "Share of the latency target kept free when sizing the fleet: it is sized "
                "for a predicted p95 of (1 - latencyHeadroom) x latencyP95Ms. More headroom "
                "costs GPUs and misses the target less often when load rises faster than "
                "pods start."
            ),
        ),
    ] = 0.05
    scale_up_stabilization_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    scale_down_stabilization_seconds: Annotated[
        int | None,
        Field(
            default=None,
            ge=0,
            le=3600,
            description=(
                "How long the load must stay low before replicas are removed. Unset: "
                "coldStartSeconds (at least 60 s) -- the rent-or-buy break-even: an idle pod "
                "held that long costs what bringing it back would (a cold start billed)."
            ),
        ),
    ] = None
    cold_start_seconds: Annotated[
        int,
        Field(
            ge=1,
            le=3600,
            description="Expected time from pod creation to ready (image pull, model load).",
        ),
    ] = 120
    on_metrics_loss: Annotated[
        MetricsLossBehavior,
        Field(description="Hold the current replicas, or go to fallbackReplicas."),
    ] = MetricsLossBehavior.HOLD
    fallback_replicas: Annotated[int | None, Field(default=None, ge=0, le=1000)] = None
    provisioning_timeout_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=86_400,
            description=(
                "How long an unschedulable pod counts as capacity on its way (a node "
                "autoscaler such as Karpenter may be adding a GPU node). After that the "
                "cluster is the limit and the autoscaler stops adding pods it cannot place."
            ),
        ),
    ] = 600
    activation: Annotated[
        ActivationSpec | None,
        Field(
            default=None,
            description="Scale to and from zero replicas; required when minReplicas is 0.",
        ),
    ] = None

    @property
    def scale_down_window_seconds(self) -> int:
        """The scale-down stabilization window in effect (explicit, or from the cold start)."""
        if self.scale_down_stabilization_seconds is not None:
            return self.scale_down_stabilization_seconds
        return max(MIN_AUTO_SCALE_DOWN_WINDOW_S, self.cold_start_seconds)


_NO_SLO_TARGET = "slo needs at least one target: latencyP95Ms, ttftP95Ms or itlP95Ms"
_ACTIVATION_REQUIRED = (
    "scaling.activation is required when scaling.minReplicas is 0: zero pods export no "
    "metrics, so only a query on a request-holding gateway can say when to scale from zero"
)
_ROLLOUT_STUCK = (
    "rollout.maxSurge and rollout.maxUnavailable cannot both be 0: a rollout could never "
    "replace a pod"
)

_HF_NEEDS_VLLM = "model.repository hf:// is served by runtime.type vllm only"
_TOKEN_NEEDS_HF = "model.hfTokenSecretRef applies to hf:// repositories only"
_VERSION_NOT_VLLM = (
    "model.version selects a Triton model version; vllm serves one model (use "
    "runtime.args --revision for a Hugging Face revision)"
)
_CACHE_UNUSED = (
    "model.cache applies to downloaded models: a pvc:// repository is mounted as is, a "
    "seed:// model is drawn at start"
)
_TORCH_SETTINGS_NEED_TORCH = "runtime.torch applies to runtime.type torch only"
_SEED_NEEDS_TORCH_LLM = (
    "model.repository seed:// (weights drawn from a seed) is served by runtime.type torch "
    "with runtime.torch.mode llm only"
)
_TORCH_LLM_NEEDS_SEED = (
    "model.repository must be seed://<n> with runtime.torch.mode llm: the LLM mode draws "
    "its weights from a seed and loads none from a repository"
)
_VERSION_NOT_SEEDED = "model.version selects a Triton model version; a seed:// model has one"
_MAX_BATCH_NOT_LLM = (
    "model.maxBatchSize is a request-batching model's largest batch (Triton's "
    "max_batch_size); an LLM engine batches running sequences (vLLM's --max-num-seqs in "
    "runtime.args)"
)
TORCH_OWNED_FLAGS = ("--mode", "--seed")
"""gpufleet-server flags the operator sets from runtime.torch.mode and a seed:// repository."""
_TORCH_OWNED_ARGS = (
    "runtime.args may not set --mode or --seed for runtime.type torch: the operator sets "
    "them from runtime.torch.mode and model.repository seed://<n>"
)
_TORCH_LLM_CEL = "(has(self.runtime.torch) && self.runtime.torch.mode == 'llm')"

_RESERVED_SORTED = sorted(
    {
        "--model-repository",
        "--http-port",
        "--grpc-port",
        "--metrics-port",
        "--exit-timeout-secs",
        # Triton serves only this model, with no model-control API (see manifests/server.py).
        "--model-control-mode",
        "--load-model",
        # vLLM: the port the probes and the Service use, and the name clients call.
        "--host",
        "--port",
        "--served-model-name",
    }
)
RESERVED_SERVER_FLAGS = frozenset(_RESERVED_SORTED)
"""Flags the operator sets itself; a user overriding them would break probes, metrics or
the closed model-control API."""
_RESERVED_FLAGS_CEL = "[" + ", ".join(f"'{flag}'" for flag in _RESERVED_SORTED) + "]"

# Cross-field rules. Each is enforced twice: by the API server through the CRD's CEL
# rules (so `kubectl apply` rejects it), and here (so the operator and the simulator
# never act on a spec that slipped past an older CRD).
CEL_RULES: list[dict[str, str]] = [
    {
        "rule": "has(self.slo.latencyP95Ms) || has(self.slo.ttftP95Ms) || has(self.slo.itlP95Ms)",
        "message": _NO_SLO_TARGET,
        "fieldPath": ".slo",
    },
    {
        "rule": "self.scaling.minReplicas <= self.scaling.maxReplicas",
        "message": "scaling.minReplicas must be <= scaling.maxReplicas",
        "fieldPath": ".scaling.minReplicas",
    },
    {
        "rule": "!self.model.repository.startsWith('hf://') || self.runtime.type == 'vllm'",
        "message": _HF_NEEDS_VLLM,
        "fieldPath": ".model.repository",
    },
    {
        "rule": "!has(self.model.hfTokenSecretRef) || self.model.repository.startsWith('hf://')",
        "message": _TOKEN_NEEDS_HF,
        "fieldPath": ".model.hfTokenSecretRef",
    },
    {
        "rule": "!has(self.model.version) || self.runtime.type != 'vllm'",
        "message": _VERSION_NOT_VLLM,
        "fieldPath": ".model.version",
    },
    {
        "rule": "!has(self.model.version) || !self.model.repository.startsWith('seed://')",
        "message": _VERSION_NOT_SEEDED,
        "fieldPath": ".model.version",
    },
    {
        "rule": (
            "!has(self.model.maxBatchSize) || (self.runtime.type != 'vllm' && !"
            + _TORCH_LLM_CEL
            + ")"
        ),
        "message": _MAX_BATCH_NOT_LLM,
        "fieldPath": ".model.maxBatchSize",
    },
    {
        # The API server defaults model.cache to {}: only a set field counts.
        "rule": (
            "!(self.model.repository.startsWith('pvc://') || "
            "self.model.repository.startsWith('seed://')) || !has(self.model.cache) || "
            "(!has(self.model.cache.sizeLimit) && !has(self.model.cache.claimName))"
        ),
        "message": _CACHE_UNUSED,
        "fieldPath": ".model.cache",
    },
    {
        "rule": (
            "!has(self.runtime.volumeMounts) || self.runtime.volumeMounts.all(m, "
            "has(self.runtime.volumes) && self.runtime.volumes.exists(v, v.name == m.name))"
        ),
        "message": "runtime.volumeMounts: every mount names a volume in runtime.volumes",
        "fieldPath": ".runtime.volumeMounts",
    },
    {
        "rule": (
            "!has(self.runtime.args) || self.runtime.args.all(a, !"
            + _RESERVED_FLAGS_CEL
            + ".exists(f, a == f || a.startsWith(f + '=')))"
        ),
        "message": (
            "runtime.args may not set a flag the operator owns: " + ", ".join(_RESERVED_SORTED)
        ),
        "fieldPath": ".runtime.args",
    },
    {
        "rule": "!has(self.runtime.torch) || self.runtime.type == 'torch'",
        "message": _TORCH_SETTINGS_NEED_TORCH,
        "fieldPath": ".runtime.torch",
    },
    {
        "rule": "!self.model.repository.startsWith('seed://') || " + _TORCH_LLM_CEL,
        "message": _SEED_NEEDS_TORCH_LLM,
        "fieldPath": ".model.repository",
    },
    {
        "rule": "!" + _TORCH_LLM_CEL + " || self.model.repository.startsWith('seed://')",
        "message": _TORCH_LLM_NEEDS_SEED,
        "fieldPath": ".model.repository",
    },
    {
        "rule": (
            "self.runtime.type != 'torch' || !has(self.runtime.args) || "
            "self.runtime.args.all(a, !"
            + "["
            + ", ".join(f"'{flag}'" for flag in TORCH_OWNED_FLAGS)
            + "]"
            + ".exists(f, a == f || a.startsWith(f + '=')))"
        ),
        "message": _TORCH_OWNED_ARGS,
        "fieldPath": ".runtime.args",
    },
    {
        "rule": "self.scaling.minReplicas > 0 || has(self.scaling.activation)",
        "message": _ACTIVATION_REQUIRED,
        "fieldPath": ".scaling.activation",
    },
    {
        "rule": "self.rollout.maxSurge > 0 || self.rollout.maxUnavailable > 0",
        "message": _ROLLOUT_STUCK,
        "fieldPath": ".rollout.maxSurge",
    },
    {
        "rule": "self.scaling.onMetricsLoss != 'Fallback' || has(self.scaling.fallbackReplicas)",
        "message": "scaling.fallbackReplicas is required when scaling.onMetricsLoss is Fallback",
        "fieldPath": ".scaling.fallbackReplicas",
    },
    {
        "rule": (
            "!has(self.scaling.fallbackReplicas) || "
            "(self.scaling.fallbackReplicas >= self.scaling.minReplicas && "
            "self.scaling.fallbackReplicas <= self.scaling.maxReplicas)"
        ),
        "message": "scaling.fallbackReplicas must lie within [minReplicas, maxReplicas]",
        "fieldPath": ".scaling.fallbackReplicas",
    },
    {
        "rule": (
            "!has(self.cost.gpuHourlyPrice) || "
            "double(self.scaling.minReplicas) * "
            "(self.resources.gpus > 0 ? double(self.resources.gpus) : 1.0) * "
            "self.cost.gpuHourlyPrice"
            " <= self.cost.maxHourlyCost"
        ),
        "message": (
            "cost.maxHourlyCost cannot afford scaling.minReplicas replicas at cost.gpuHourlyPrice"
        ),
        "fieldPath": ".cost.maxHourlyCost",
    },
]


class ModelDeploymentSpec(WireModel):
    """``spec`` of a ``gpufleet.io/v1alpha1`` ``ModelDeployment``."""

    model: ModelSpec
    runtime: Annotated[RuntimeSpec, Field(default_factory=RuntimeSpec)]
    resources: Annotated[ResourcesSpec, Field(default_factory=ResourcesSpec)]
    slo: SLOSpec
    cost: CostSpec
    scaling: Annotated[ScalingSpec, Field(default_factory=ScalingSpec)]
    rollout: Annotated[RolloutSpec, Field(default_factory=RolloutSpec)]
    network_policy: Annotated[
        NetworkPolicySpec | None,
        Field(
            default=None,
            description=(
                "Restrict ingress to the model pods with a NetworkPolicy the operator owns "
                "(needs a CNI that enforces NetworkPolicy). Unset: no policy is created."
            ),
        ),
    ] = None

    @field_validator("runtime")
    @classmethod
    def _no_reserved_args(cls, runtime: RuntimeSpec) -> RuntimeSpec:
        for arg in runtime.args:
            flag = arg.split("=", 1)[0]
            if flag in RESERVED_SERVER_FLAGS:
                raise ValueError(f"runtime.args may not set {flag}: the operator owns it")
        return runtime

    @model_validator(mode="after")
    def _cross_field(self) -> ModelDeploymentSpec:
        s = self.scaling
        if s.min_replicas > s.max_replicas:
            raise ValueError("scaling.minReplicas must be <= scaling.maxReplicas")
        _check_model_source(self)
        if s.min_replicas == 0 and s.activation is None:
            raise ValueError(_ACTIVATION_REQUIRED)
        if self.rollout.max_surge == 0 and self.rollout.max_unavailable == 0:
            raise ValueError(_ROLLOUT_STUCK)
        if s.on_metrics_loss is MetricsLossBehavior.FALLBACK and s.fallback_replicas is None:
            raise ValueError(
                "scaling.fallbackReplicas is required when scaling.onMetricsLoss is Fallback"
            )
        if s.fallback_replicas is not None and not (
            s.min_replicas <= s.fallback_replicas <= s.max_replicas
        ):
            raise ValueError("scaling.fallbackReplicas must lie within [minReplicas, maxReplicas]")
        price = self.cost.gpu_hourly_price
        gpu_units = max(self.resources.gpus, 1)  # a CPU-only replica is billed as one unit
        if price is not None and s.min_replicas * gpu_units * price > self.cost.max_hourly_cost:
            raise ValueError(_BUDGET_TOO_LOW)
        return self


def _check_model_source(spec: ModelDeploymentSpec) -> None:
    model, runtime = spec.model, spec.runtime.type
    if model.scheme == "hf" and runtime is not RuntimeType.VLLM:
        raise ValueError(_HF_NEEDS_VLLM)
    if model.hf_token_secret_ref is not None and model.scheme != "hf":
        raise ValueError(_TOKEN_NEEDS_HF)
    if model.version is not None and runtime is RuntimeType.VLLM:
        raise ValueError(_VERSION_NOT_VLLM)
    if model.scheme == "seed" and not spec.runtime.torch_llm:
        raise ValueError(_SEED_NEEDS_TORCH_LLM)
    if spec.runtime.torch_llm and model.scheme != "seed":
        raise ValueError(_TORCH_LLM_NEEDS_SEED)
    if model.version is not None and model.scheme == "seed":
        raise ValueError(_VERSION_NOT_SEEDED)
    if model.max_batch_size is not None and (runtime is RuntimeType.VLLM or spec.runtime.torch_llm):
        raise ValueError(_MAX_BATCH_NOT_LLM)
    cache = model.effective_cache
    if (cache.size_limit or cache.claim_name) and not downloads_model(spec):
        raise ValueError(_CACHE_UNUSED)


def downloads_model(spec: ModelDeploymentSpec) -> bool:
    """True when the pod downloads the model (into ``model.cache``); a claim is mounted and
    a seed:// model is drawn."""
    return spec.model.scheme not in ("pvc", "seed")


_BUDGET_TOO_LOW = (
    "cost.maxHourlyCost cannot afford scaling.minReplicas replicas at cost.gpuHourlyPrice"
)


NAME_MAX = 63
"""A ModelDeployment's name becomes its Service's name (a DNS-1035 label) and label values."""
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
_NAME_TOO_LONG = (
    f"metadata.name must be at most {NAME_MAX} characters: it names the model's Service "
    "and is a label value"
)
_NAME_NOT_DNS_1035 = (
    "metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', starting "
    "with a letter, ending with a letter or digit): it names the model's Service"
)
NAME_RULES: list[dict[str, str]] = [
    {
        "rule": f"size(self.metadata.name) <= {NAME_MAX}",
        "message": _NAME_TOO_LONG,
        "fieldPath": ".metadata.name",
    },
    {
        "rule": f"self.metadata.name.matches('{NAME_PATTERN}')",
        "message": _NAME_NOT_DNS_1035,
        "fieldPath": ".metadata.name",
    },
]
"""CEL rules on the whole object (the API server lets them read metadata.name)."""


class SpecError(ValueError):
    """A spec the operator cannot act on; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"spec.{field}: {message}" if field else message)
        self.field = field
        self.message = message


def check_name(name: str) -> None:
    """Reject a ModelDeployment name its children cannot carry (:class:`SpecError`)."""
    if len(name) > NAME_MAX:
        raise SpecError("metadata.name", f"{name!r}: {_NAME_TOO_LONG}")
    if not re.fullmatch(NAME_PATTERN, name):
        raise SpecError("metadata.name", f"{name!r}: {_NAME_NOT_DNS_1035}")


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(item)
    return ".".join(parts)


_NAMED_FIELD = re.compile(r"^([a-zA-Z]+(?:\.[a-zA-Z]+)+)(: )?")


def parse_spec(raw: dict[str, Any] | None) -> ModelDeploymentSpec:
    """Parse a wire ``spec`` into the model, raising :class:`SpecError` naming the field."""
    from pydantic import ValidationError

    try:
        return ModelDeploymentSpec.model_validate(raw or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        path = _field_path(tuple(err["loc"]))
        msg = str(err["msg"]).removeprefix("Value error, ")
        # A rule on an object names the field it is about at the start of its message.
        match = _NAMED_FIELD.match(msg)
        if match and (not path or match.group(1).startswith(path + ".")):
            path = match.group(1)
            if match.group(2):
                msg = msg[match.end() :]
        raise SpecError(path, msg) from exc
