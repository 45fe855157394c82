"""Triton's statistics extension: the per-model statistics in its JSON shape, shared by
``GET /v2/models[/{model}[/versions/{version}]]/stats`` and the gRPC ``ModelStatistics``.

The shape is the one the ``tritonserver`` 2.51 bundled with nvidia-pytriton answers (checked
field for field by ``tests/runtime/test_runtime_statistics.py``): counts and durations in
ns, the version as a string, ``last_inference`` in ms since the epoch (0 before the first
execution), one ``batch_stats`` entry per batch size executed, in increasing size. There is
no response cache, so ``cache_hit`` and ``cache_miss`` stay 0; ``response_stats`` (per
response of decoupled models) and ``memory_usage`` (what a backend reports allocating) are
empty, as Triton's are for a libtorch or python-backend model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gpufleet_server.metrics import BatchDurations, Duration, ModelStats


def _duration(duration: Duration) -> dict[str, int]:
    return {"count": duration.count, "ns": duration.ns}


def _batch(batch_size: int, batch: BatchDurations) -> dict[str, Any]:
    return {
        "batch_size": batch_size,
        "compute_input": _duration(batch.compute_input),
        "compute_infer": _duration(batch.compute_infer),
        "compute_output": _duration(batch.compute_output),
    }


def model_statistics(stats: ModelStats) -> dict[str, Any]:
    """One ``model_stats`` entry, keys in Triton's order."""
    phases = stats.inference_stats
    return {
        "name": stats.model,
        "version": str(stats.version),
        "last_inference": stats.last_inference_ms,
        "inference_count": stats.inference_count,
        "execution_count": stats.exec_count,
        "inference_stats": {
            "success": _duration(phases.success),
            "fail": _duration(phases.fail),
            "queue": _duration(phases.queue),
            "compute_input": _duration(phases.compute_input),
            "compute_infer": _duration(phases.compute_infer),
            "compute_output": _duration(phases.compute_output),
            "cache_hit": _duration(Duration()),
            "cache_miss": _duration(Duration()),
        },
        "response_stats": {},
        "batch_stats": [
            _batch(size, stats.batch_stats[size]) for size in sorted(stats.batch_stats)
        ],
        "memory_usage": [],
    }


def statistics_response(models: Iterable[ModelStats]) -> dict[str, Any]:
    return {"model_stats": [model_statistics(stats) for stats in models]}
