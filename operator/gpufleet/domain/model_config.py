"""What a model server's configuration says about batching, pure.

Triton (and gpufleet-server, which mirrors it) returns a model's configuration at
``GET /v2/models/{model}/config``. The largest batch a replica forms is not in its
metrics -- they give the mean batch of each window, never the bound -- so the capacity
model otherwise has to believe one; the configuration states it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpufleet.domain.spec.runtime import RuntimeSpec, RuntimeType

BATCHING_SCHEDULERS = ("dynamic_batching", "sequence_batching")
"""Schedulers that gather requests into one execution, up to ``max_batch_size``. Without
one, Triton executes each request on its own (a request may still carry a batch of rows)."""


def largest_batch(config: Mapping[str, Any]) -> int | None:
    """The most requests one execution of the model serves, as configured; ``None`` when
    the configuration does not say (an ensemble: its steps batch each on their own, or an
    answer that is not a model configuration)."""
    if config.get("platform") == "ensemble" or "ensemble_scheduling" in config:
        return None
    raw = config.get("max_batch_size", 0)
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        return None
    try:
        max_batch_size = int(raw)
    except ValueError:
        return None
    if max_batch_size < 0:
        return None
    # 0: the model takes no batch dimension, each execution serves one request.
    if max_batch_size == 0 or not any(config.get(s) is not None for s in BATCHING_SCHEDULERS):
        return 1
    return max_batch_size


def serves_model_config(runtime: RuntimeSpec) -> bool:
    """Whether the runtime answers Triton's model configuration extension: Triton and
    gpufleet-server's request mode do; vLLM and the torch runtime's LLM mode (OpenAI's
    API) batch running sequences instead, bounded by the engine, not by a model config."""
    return runtime.type in (RuntimeType.TRITON, RuntimeType.TORCH) and not runtime.torch_llm
