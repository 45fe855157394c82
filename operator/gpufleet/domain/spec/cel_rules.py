"""The cross-field rules as CEL, for the CRD's ``x-kubernetes-validations``."""

from __future__ import annotations

from gpufleet.domain.spec.deployment import BUDGET_EPSILON
from gpufleet.domain.spec.messages import (
    ACTIVATION_REQUIRED,
    BUDGET_TOO_LOW,
    CACHE_UNUSED,
    COMPOSING_NEEDS_TRITON,
    COMPOSING_NOT_ITSELF,
    HF_NEEDS_VLLM,
    MAX_BATCH_NOT_LLM,
    MIG_ONE_PER_REPLICA,
    NO_SLO_TARGET,
    ROLLOUT_STUCK,
    SEED_NEEDS_TORCH_LLM,
    TOKEN_NEEDS_HF,
    TORCH_LLM_NEEDS_SEED,
    TORCH_OWNED_ARGS,
    TORCH_SETTINGS_NEED_TORCH,
    VERSION_NOT_SEEDED,
    VERSION_NOT_VLLM,
)
from gpufleet.domain.spec.resources import MIG_RESOURCE_PREFIX
from gpufleet.domain.spec.server_flags import RESERVED_SERVER_FLAGS, TORCH_OWNED_FLAGS

_TORCH_LLM_CEL = "(has(self.runtime.torch) && self.runtime.torch.mode == 'llm')"

# Sorted, so the rule and its message list the flags in the same order on every run.
_RESERVED_SORTED = sorted(RESERVED_SERVER_FLAGS)
_RESERVED_FLAGS_CEL = "[" + ", ".join(f"'{flag}'" for flag in _RESERVED_SORTED) + "]"

# Cross-field rules. Each is enforced twice: by the API server through the CRD's CEL
# rules (so `kubectl apply` rejects it), and by the models' validators (so the operator
# and the simulator never act on a spec that slipped past an older CRD).
CEL_RULES: list[dict[str, str]] = [
    {
        "rule": (
            "has(self.slo.latencyP95Ms) || has(self.slo.ttftP95Ms) || has(self.slo.itlP95Ms)"
            " || has(self.slo.tpotP95Ms)"
        ),
        "message": NO_SLO_TARGET,
        "fieldPath": ".slo",
    },
    {
        "rule": "self.scaling.minReplicas <= self.scaling.maxReplicas",
        "message": "scaling.minReplicas must be <= scaling.maxReplicas",
        "fieldPath": ".scaling.minReplicas",
    },
    {
        "rule": "!self.model.repository.startsWith('hf://') || self.runtime.type == 'vllm'",
        "message": HF_NEEDS_VLLM,
        "fieldPath": ".model.repository",
    },
    {
        "rule": "!has(self.model.hfTokenSecretRef) || self.model.repository.startsWith('hf://')",
        "message": TOKEN_NEEDS_HF,
        "fieldPath": ".model.hfTokenSecretRef",
    },
    {
        "rule": "!has(self.model.version) || self.runtime.type != 'vllm'",
        "message": VERSION_NOT_VLLM,
        "fieldPath": ".model.version",
    },
    {
        "rule": "!has(self.model.version) || !self.model.repository.startsWith('seed://')",
        "message": VERSION_NOT_SEEDED,
        "fieldPath": ".model.version",
    },
    {
        "rule": (
            "!has(self.model.maxBatchSize) || (self.runtime.type != 'vllm' && !"
            + _TORCH_LLM_CEL
            + ")"
        ),
        "message": MAX_BATCH_NOT_LLM,
        "fieldPath": ".model.maxBatchSize",
    },
    {
        "rule": (
            "!has(self.model.composingModels) || size(self.model.composingModels) == 0 || "
            "self.runtime.type == 'triton'"
        ),
        "message": COMPOSING_NEEDS_TRITON,
        "fieldPath": ".model.composingModels",
    },
    {
        "rule": (
            "!has(self.model.composingModels) || "
            "!self.model.composingModels.exists(m, m == self.model.name)"
        ),
        "message": COMPOSING_NOT_ITSELF,
        "fieldPath": ".model.composingModels",
    },
    {
        # The API server defaults model.cache to {}: only a set field counts.
        "rule": (
            "!(self.model.repository.startsWith('pvc://') || "
            "self.model.repository.startsWith('seed://')) || !has(self.model.cache) || "
            "(!has(self.model.cache.sizeLimit) && !has(self.model.cache.claimName))"
        ),
        "message": CACHE_UNUSED,
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
        "message": TORCH_SETTINGS_NEED_TORCH,
        "fieldPath": ".runtime.torch",
    },
    {
        "rule": "!self.model.repository.startsWith('seed://') || " + _TORCH_LLM_CEL,
        "message": SEED_NEEDS_TORCH_LLM,
        "fieldPath": ".model.repository",
    },
    {
        "rule": "!" + _TORCH_LLM_CEL + " || self.model.repository.startsWith('seed://')",
        "message": TORCH_LLM_NEEDS_SEED,
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
        "message": TORCH_OWNED_ARGS,
        "fieldPath": ".runtime.args",
    },
    {
        "rule": "self.scaling.minReplicas > 0 || has(self.scaling.activation)",
        "message": ACTIVATION_REQUIRED,
        "fieldPath": ".scaling.activation",
    },
    {
        "rule": "self.rollout.maxSurge > 0 || self.rollout.maxUnavailable > 0",
        "message": ROLLOUT_STUCK,
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
        # As ModelDeploymentSpec's affords(replicas_to_afford()): the budget over one
        # replica's cost, with BUDGET_EPSILON of slack for the floats (3 x 1.1 $/h fit
        # 3.3 $/h); minReplicas 0 still needs one replica, which scaling from zero starts.
        "rule": (
            "!has(self.cost.gpuHourlyPrice) || "
            "(self.scaling.minReplicas > 0 ? double(self.scaling.minReplicas) : 1.0) <= "
            "double(self.cost.maxHourlyCost) / "
            "((self.resources.gpus > 0 ? double(self.resources.gpus) : 1.0) * "
            "double(self.cost.gpuHourlyPrice)) + " + repr(BUDGET_EPSILON)
        ),
        "message": BUDGET_TOO_LOW,
        "fieldPath": ".cost.maxHourlyCost",
    },
    {
        # As ResourcesSpec's _one_mig_slice: a process sees one MIG instance. The API server
        # defaults resources and its gpuResource, so both are always there.
        "rule": (
            f"!self.resources.gpuResource.startsWith('{MIG_RESOURCE_PREFIX}') || "
            "self.resources.gpus <= 1"
        ),
        "message": MIG_ONE_PER_REPLICA,
        "fieldPath": ".resources.gpus",
    },
]
