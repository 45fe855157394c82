"""What a spec that breaks a cross-field rule is told.

Each message is shared by the model validator that enforces its rule and by the rule's
CEL twin in the CRD (``cel_rules.py``), so ``kubectl apply`` and the operator say the same.
"""

from __future__ import annotations

NO_SLO_TARGET = "slo needs at least one target: latencyP95Ms, ttftP95Ms, itlP95Ms or tpotP95Ms"
ACTIVATION_REQUIRED = (
    "scaling.activation is required when scaling.minReplicas is 0: zero pods export no "
    "metrics, so only a query on a request-holding gateway can say when to scale from zero"
)
ROLLOUT_STUCK = (
    "rollout.maxSurge and rollout.maxUnavailable cannot both be 0: a rollout could never "
    "replace a pod"
)

HF_NEEDS_VLLM = "model.repository hf:// is served by runtime.type vllm only"
TOKEN_NEEDS_HF = "model.hfTokenSecretRef applies to hf:// repositories only"
VERSION_NOT_VLLM = (
    "model.version selects a Triton model version; vllm serves one model (use "
    "runtime.args --revision for a Hugging Face revision)"
)
CACHE_UNUSED = (
    "model.cache applies to downloaded models: a pvc:// repository is mounted as is, a "
    "seed:// model is drawn at start"
)
TORCH_SETTINGS_NEED_TORCH = "runtime.torch applies to runtime.type torch only"
SEED_NEEDS_TORCH_LLM = (
    "model.repository seed:// (weights drawn from a seed) is served by runtime.type torch "
    "with runtime.torch.mode llm only"
)
TORCH_LLM_NEEDS_SEED = (
    "model.repository must be seed://<n> with runtime.torch.mode llm: the LLM mode draws "
    "its weights from a seed and loads none from a repository"
)
VERSION_NOT_SEEDED = "model.version selects a Triton model version; a seed:// model has one"
MAX_BATCH_NOT_LLM = (
    "model.maxBatchSize is a request-batching model's largest batch (Triton's "
    "max_batch_size); an LLM engine batches running sequences (vLLM's --max-num-seqs in "
    "runtime.args)"
)
TORCH_OWNED_ARGS = (
    "runtime.args may not set --mode or --seed for runtime.type torch: the operator sets "
    "them from runtime.torch.mode and model.repository seed://<n>"
)
BUDGET_TOO_LOW = (
    "cost.maxHourlyCost cannot afford scaling.minReplicas replicas (one, when it is 0: "
    "scaling from zero starts one) at cost.gpuHourlyPrice"
)
COMPOSING_NEEDS_TRITON = (
    "model.composingModels applies to runtime.type triton only: it lists the models a "
    "Triton ensemble or BLS model runs (the torch server and vLLM run no ensembles)"
)
COMPOSING_NOT_ITSELF = (
    "model.composingModels lists the other models model.name runs, not model.name itself "
    "(whose directory the server gets anyway)"
)
MIG_ONE_PER_REPLICA = (
    "resources.gpus must be at most 1 when resources.gpuResource is a MIG slice "
    "(nvidia.com/mig-*): a process sees one MIG instance, and tensor parallelism (NCCL) does "
    "not run across instances; ask for a larger MIG profile, or whole GPUs (nvidia.com/gpu)"
)
