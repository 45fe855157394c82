"""The ``ModelDeployment`` spec: pydantic models are the single source of truth.

The CRD's OpenAPI schema is generated from these models (``gpufleet.domain.crd``),
so every default, enum and minimum lives here once. Field names are camelCase on
the wire and snake_case in Python.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
REPOSITORY_SCHEMES = ("s3", "gs", "pvc", "http", "https")


class WireModel(BaseModel):
    """Base for every API object: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """Serialise as the API server stores it (camelCase, no unset optionals)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class RuntimeType(StrEnum):
    TRITON = "triton"
    TORCH = "torch"
    VLLM = "vllm"


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
            pattern=r"^(s3|gs|pvc|https?)://.+$",
            description=(
                "Model repository URI in Triton's layout: s3://bucket/path, gs://bucket/path, "
                "pvc://claim/sub/path, or http(s)://host/archive.tar.gz."
            ),
        ),
    ]
    version: Annotated[
        str | None,
        Field(
            default=None,
            pattern=r"^[0-9]+$",
            description="Model version to serve; all versions in the repository when unset.",
        ),
    ] = None

    @property
    def scheme(self) -> str:
        return self.repository.split("://", 1)[0]

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


class EnvVar(WireModel):
    name: Annotated[str, Field(min_length=1, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")]
    value: str = ""


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
            description="Container image; a default per type when unset.",
        ),
    ] = None
    args: Annotated[
        list[str], Field(default_factory=list, description="Extra server arguments, appended.")
    ]
    env: Annotated[list[EnvVar], Field(default_factory=list, description="Extra environment.")]
    exit_timeout_seconds: Annotated[
        int,
        Field(
            ge=1, le=3600, description="How long in-flight requests may take to drain on shutdown."
        ),
    ] = 30

    @property
    def effective_image(self) -> str:
        return self.image or DEFAULT_IMAGES[self.type]


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
            description="GPU model, e.g. nvidia-l4; selects the node and the price in the catalog.",
        ),
    ] = "nvidia-l4"
    cpu: Annotated[str, Field(pattern=_QUANTITY, description="CPU request per replica.")] = "2"
    memory: Annotated[str, Field(pattern=_QUANTITY, description="Memory request and limit.")] = (
        "8Gi"
    )
    node_selector: Annotated[dict[str, str], Field(default_factory=dict)]
    tolerations: Annotated[list[Toleration], Field(default_factory=list)]


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
                "pods start. The default keeps the p95; 0.15 keeps >= 99 % of requests "
                "within the target on most simulated traffic (docs/benchmarks/sim-suite.md)."
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


_BUDGET_TOO_LOW = (
    "cost.maxHourlyCost cannot afford scaling.minReplicas replicas at cost.gpuHourlyPrice"
)

# Flags the operator sets itself; a user overriding them would break probes/metrics.
RESERVED_SERVER_FLAGS = frozenset(
    {
        "--model-repository",
        "--http-port",
        "--grpc-port",
        "--metrics-port",
        "--exit-timeout-secs",
    }
)


class SpecError(ValueError):
    """A spec the operator cannot act on; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"spec.{field}: {message}" if field else message)
        self.field = field
        self.message = message


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(item)
    return ".".join(parts)


_CROSS_FIELD = re.compile(r"^(?:Value error, )?([a-zA-Z]+\.[a-zA-Z]+)")


def parse_spec(raw: dict[str, Any] | None) -> ModelDeploymentSpec:
    """Parse a wire ``spec`` into the model, raising :class:`SpecError` naming the field."""
    from pydantic import ValidationError

    try:
        return ModelDeploymentSpec.model_validate(raw or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        path = _field_path(tuple(err["loc"]))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not path:  # a model-level (cross-field) rule: its message starts with the field
            match = _CROSS_FIELD.match(msg)
            path = match.group(1) if match else ""
        raise SpecError(path, msg) from exc
