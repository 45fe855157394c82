"""What a demo run amounts to: one summary, as JSON for CI and as a table for people."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from gpufleet_devtools.local.clientwindow import percentile
from gpufleet_devtools.local.loadgen import RequestRecord
from gpufleet_devtools.local.timeline import Sample


class StreamSummary(BaseModel):
    """The LLM demo's token latencies, all measured at the client."""

    model_config = ConfigDict(frozen=True)

    target_ttft_p95_ms: float | None
    target_itl_p95_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    ttft_p99_ms: float | None
    itl_p50_ms: float | None
    itl_p95_ms: float | None
    itl_p99_ms: float | None
    seconds_within_ttft_pct: float | None
    """Share of sampled seconds whose 5 s TTFT p95 met its target (seconds with streams)."""
    seconds_within_itl_pct: float | None
    """Share of sampled seconds whose 5 s ITL p95 met its target (seconds with tokens)."""
    tokens: int
    tokens_per_s_mean: float
    tokens_per_s_max: float
    prompt_tokens: int
    clipped_prompts: int
    """Prompts shortened to fit the model's context."""
    kv_cache_usage_mean: float | None
    kv_cache_usage_max: float | None
    """The fullest pod's KV-cache usage (0..1), mean and max over the run."""


class DemoSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    trace: str
    duration_s: float
    requests: int
    failed: int
    failure_reasons: dict[str, int]
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    target_p95_ms: float | None
    """Whole requests' p95 target (None for an LLM demo: its targets are TTFT and ITL)."""
    seconds_within_target_pct: float | None
    """Share of sampled seconds whose 5 s client p95 met the target (seconds with traffic)."""
    replicas_min: int
    replicas_max: int
    replicas_mean: float
    scale_ups: int
    scale_downs: int
    cost_usd: float
    """Ready replicas x price, integrated over the run."""
    max_hourly_cost: float
    budget_hourly: float | None
    last_reason: str
    plot: str | None = None
    llm: StreamSummary | None = None
    """LLM demo: what the streams saw (``requests``/``failed`` count streams)."""


class Outcome(Protocol):
    """How one request (stream) ended."""

    @property
    def ok(self) -> bool: ...

    @property
    def error(self) -> str: ...


def request_fields(outcomes: Sequence[Outcome], latencies_ms: Sequence[float]) -> dict[str, Any]:
    """How many requests (streams) went out, which failed and why (the error's type), and
    the percentiles of ``latencies_ms`` (those of the requests that succeeded)."""
    reasons = Counter(o.error.split(":")[0] for o in outcomes if not o.ok)
    return {
        "requests": len(outcomes),
        "failed": sum(not o.ok for o in outcomes),
        "failure_reasons": dict(reasons),
        "latency_p50_ms": percentile(latencies_ms, 0.50),
        "latency_p95_ms": percentile(latencies_ms, 0.95),
        "latency_p99_ms": percentile(latencies_ms, 0.99),
    }


def _scale_changes(samples: Sequence[Sample]) -> tuple[int, int]:
    desired = [s.desired for s in samples if s.desired is not None]
    ups = sum(b > a for a, b in itertools.pairwise(desired))
    downs = sum(b < a for a, b in itertools.pairwise(desired))
    return ups, downs


def seconds_within(values: Sequence[float | None], target: float | None) -> float | None:
    """Percent of the known ``values`` at or under ``target``."""
    judged = [v for v in values if v is not None]
    if target is None or not judged:
        return None
    return 100.0 * sum(v <= target for v in judged) / len(judged)


def fleet_fields(
    samples: Sequence[Sample], price_per_replica_hour: float, budget_hourly: float | None
) -> dict[str, Any]:
    """Replicas, scaling, cost and the last decision, as the timeline saw them."""
    replicas = [s.desired for s in samples if s.desired is not None] or [0]
    ups, downs = _scale_changes(samples)
    cost = 0.0
    for before, after in itertools.pairwise(samples):
        cost += before.ready * price_per_replica_hour * (after.t - before.t) / 3600
    return {
        "duration_s": round(samples[-1].t if samples else 0.0, 1),
        "replicas_min": min(replicas),
        "replicas_max": max(replicas),
        "replicas_mean": round(sum(replicas) / len(replicas), 2),
        "scale_ups": ups,
        "scale_downs": downs,
        "cost_usd": round(cost, 5),
        # Rounded like the run's cost: in binary floating point 6 x 0.80 $/h is 4.800000000000001,
        # which a budget of 4.8 would read as exceeded.
        "max_hourly_cost": round(
            max((s.ready * price_per_replica_hour for s in samples), default=0.0), 6
        ),
        "budget_hourly": budget_hourly,
        "last_reason": next((s.reason for s in reversed(samples) if s.reason), ""),
    }


def summarize(
    trace: str,
    records: Sequence[RequestRecord],
    samples: Sequence[Sample],
    target_p95_ms: float,
    price_per_replica_hour: float,
    budget_hourly: float | None,
) -> DemoSummary:
    latencies = [r.latency_s * 1000 for r in records if r.ok]
    return DemoSummary(
        trace=trace,
        **request_fields(records, latencies),
        target_p95_ms=target_p95_ms,
        seconds_within_target_pct=seconds_within([s.p95_ms for s in samples], target_p95_ms),
        **fleet_fields(samples, price_per_replica_hour, budget_hourly),
    )
