"""What an LLM demo run amounts to: streams, token latencies against the targets, tokens/s,
KV usage, replicas and cost."""

from __future__ import annotations

from collections.abc import Sequence

from gpufleet_devtools.local.clientwindow import percentile
from gpufleet_devtools.local.llm_loadgen import StreamRecord
from gpufleet_devtools.local.summary import (
    DemoSummary,
    StreamSummary,
    fleet_fields,
    request_fields,
    seconds_within,
)
from gpufleet_devtools.local.timeline import Sample


def _ms(values: Sequence[float], q: float) -> float | None:
    value = percentile(values, q)
    return None if value is None else round(1000 * value, 1)


def summarize_streams(
    trace: str,
    streams: Sequence[StreamRecord],
    samples: Sequence[Sample],
    targets: tuple[float | None, float | None],
    clipped_prompts: int,
    price_per_replica_hour: float,
    budget_hourly: float | None,
) -> DemoSummary:
    """``targets``: the spec's (ttftP95Ms, itlP95Ms)."""
    ttft_target, itl_target = targets
    ok = [s for s in streams if s.ok]
    ttfts = [s.ttft_s for s in ok if s.ttft_s is not None]
    gaps = [gap for s in ok for gap in s.gaps_between(0.0, float("inf"))]
    # Rounded before the percentile, which picks one of them: the same as rounding it after.
    e2e_ms = [round(1000 * (s.token_s[-1] - s.sent_s), 1) for s in ok if s.token_s]
    rates = [s.tokens_per_s for s in samples if s.tokens_per_s is not None]
    kv = [s.kv_cache_usage for s in samples if s.kv_cache_usage is not None]
    tokens = sum(len(s.token_s) for s in streams)
    duration = samples[-1].t if samples else 0.0
    llm = StreamSummary(
        target_ttft_p95_ms=ttft_target,
        target_itl_p95_ms=itl_target,
        ttft_p50_ms=_ms(ttfts, 0.50),
        ttft_p95_ms=_ms(ttfts, 0.95),
        ttft_p99_ms=_ms(ttfts, 0.99),
        itl_p50_ms=_ms(gaps, 0.50),
        itl_p95_ms=_ms(gaps, 0.95),
        itl_p99_ms=_ms(gaps, 0.99),
        seconds_within_ttft_pct=seconds_within([s.ttft_p95_ms for s in samples], ttft_target),
        seconds_within_itl_pct=seconds_within([s.itl_p95_ms for s in samples], itl_target),
        tokens=tokens,
        tokens_per_s_mean=round(tokens / duration, 1) if duration > 0 else 0.0,
        tokens_per_s_max=max(rates, default=0.0),
        prompt_tokens=sum(s.prompt_tokens for s in streams),
        clipped_prompts=clipped_prompts,
        kv_cache_usage_mean=round(sum(kv) / len(kv), 3) if kv else None,
        kv_cache_usage_max=max(kv, default=None),
    )
    return DemoSummary(
        trace=trace,
        **request_fields(streams, e2e_ms),
        target_p95_ms=None,
        seconds_within_target_pct=None,
        llm=llm,
        **fleet_fields(samples, price_per_replica_hour, budget_hourly),
    )
