"""``ModelDeploymentSpec``: the whole spec, and the rules that span its sections."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from gpufleet.domain.spec.messages import (
    ACTIVATION_REQUIRED,
    BUDGET_TOO_LOW,
    CACHE_UNUSED,
    COMPOSING_NEEDS_TRITON,
    COMPOSING_NOT_ITSELF,
    HF_NEEDS_VLLM,
    MAX_BATCH_NOT_LLM,
    ROLLOUT_STUCK,
    SEED_NEEDS_TORCH_LLM,
    TOKEN_NEEDS_HF,
    TORCH_LLM_NEEDS_SEED,
    VERSION_NOT_SEEDED,
    VERSION_NOT_VLLM,
)
from gpufleet.domain.spec.model import ModelSpec
from gpufleet.domain.spec.network_policy import NetworkPolicySpec
from gpufleet.domain.spec.resources import ResourcesSpec
from gpufleet.domain.spec.rollout import RolloutSpec
from gpufleet.domain.spec.runtime import RuntimeSpec, RuntimeType
from gpufleet.domain.spec.scaling import MetricsLossBehavior, ScalingSpec
from gpufleet.domain.spec.server_flags import RESERVED_SERVER_FLAGS
from gpufleet.domain.spec.targets import CostSpec, SLOSpec
from gpufleet.domain.wire import WireModel


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
            raise ValueError(ACTIVATION_REQUIRED)
        if self.rollout.max_surge == 0 and self.rollout.max_unavailable == 0:
            raise ValueError(ROLLOUT_STUCK)
        if s.on_metrics_loss is MetricsLossBehavior.FALLBACK and s.fallback_replicas is None:
            raise ValueError(
                "scaling.fallbackReplicas is required when scaling.onMetricsLoss is Fallback"
            )
        if s.fallback_replicas is not None and not (
            s.min_replicas <= s.fallback_replicas <= s.max_replicas
        ):
            raise ValueError("scaling.fallbackReplicas must lie within [minReplicas, maxReplicas]")
        price = self.cost.gpu_hourly_price
        if price is not None and not affords(
            self.cost.max_hourly_cost, replicas_to_afford(self), replica_units(self) * price
        ):
            raise ValueError(BUDGET_TOO_LOW)
        return self


BUDGET_EPSILON = 1e-9
"""Budget arithmetic is in floats: 3 replicas at 1.1 $/h fit 3.3 $/h, though 3 x 1.1 is
3.3000000000000003 (as the autoscaler counts, gpufleet.domain.scaling.budget)."""


def replica_units(spec: ModelDeploymentSpec) -> int:
    """GPU-hours one replica is billed per hour: a CPU-only replica as one unit."""
    return max(spec.resources.gpus, 1)


def replicas_to_afford(spec: ModelDeploymentSpec) -> int:
    """Replicas the budget must pay for: ``minReplicas``, and one when that is 0, as
    scaling from zero starts one (a budget below one replica never starts a pod)."""
    return max(spec.scaling.min_replicas, 1)


def affords(budget: float, replicas: int, replica_cost: float) -> bool:
    """Whether ``budget`` (USD per hour) pays for ``replicas`` at ``replica_cost`` each (a
    free replica, as a catalog may price one, always)."""
    return replica_cost <= 0 or replicas <= budget / replica_cost + BUDGET_EPSILON


def _check_model_source(spec: ModelDeploymentSpec) -> None:
    model, runtime = spec.model, spec.runtime.type
    if model.scheme == "hf" and runtime is not RuntimeType.VLLM:
        raise ValueError(HF_NEEDS_VLLM)
    if model.hf_token_secret_ref is not None and model.scheme != "hf":
        raise ValueError(TOKEN_NEEDS_HF)
    if model.version is not None and runtime is RuntimeType.VLLM:
        raise ValueError(VERSION_NOT_VLLM)
    if model.scheme == "seed" and not spec.runtime.torch_llm:
        raise ValueError(SEED_NEEDS_TORCH_LLM)
    if spec.runtime.torch_llm and model.scheme != "seed":
        raise ValueError(TORCH_LLM_NEEDS_SEED)
    if model.version is not None and model.scheme == "seed":
        raise ValueError(VERSION_NOT_SEEDED)
    if model.max_batch_size is not None and (runtime is RuntimeType.VLLM or spec.runtime.torch_llm):
        raise ValueError(MAX_BATCH_NOT_LLM)
    if model.composing_models and runtime is not RuntimeType.TRITON:
        raise ValueError(COMPOSING_NEEDS_TRITON)
    if model.name in model.composing_models:
        raise ValueError(COMPOSING_NOT_ITSELF)
    cache = model.effective_cache
    if (cache.size_limit or cache.claim_name) and not downloads_model(spec):
        raise ValueError(CACHE_UNUSED)


def downloads_model(spec: ModelDeploymentSpec) -> bool:
    """True when the pod downloads the model (into ``model.cache``); a claim is mounted and
    a seed:// model is drawn."""
    return spec.model.scheme not in ("pvc", "seed")
