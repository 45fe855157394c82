"""``spec.slo`` and ``spec.cost``: the latency targets the fleet is sized for, and its budget."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from gpufleet.domain.spec.messages import NO_SLO_TARGET
from gpufleet.domain.wire import WireModel


def _target_ms(most: float, description: str) -> Any:
    """An optional latency target in milliseconds, above 0 and at most ``most``."""
    return Field(default=None, gt=0, le=most, description=description)


class SLOSpec(WireModel):
    """Latency targets; at least one is set, and the fleet is sized for every one set."""

    latency_p95_ms: float | None = _target_ms(
        600_000, "Target 95th-percentile request latency (whole request), milliseconds."
    )
    ttft_p95_ms: float | None = _target_ms(
        600_000,
        "LLM fleets: target 95th-percentile time to first token (queueing plus prefill), "
        "milliseconds.",
    )
    itl_p95_ms: float | None = _target_ms(
        60_000,
        "LLM fleets: target 95th-percentile inter-token latency (the time between two "
        "streamed tokens: every gap counts), milliseconds.",
    )
    tpot_p95_ms: float | None = _target_ms(
        60_000,
        "LLM fleets: target 95th-percentile time per output token (each request's mean gap "
        "between its tokens after the first: the pace of a stream, read from vLLM's "
        "vllm:request_time_per_output_token_seconds), milliseconds.",
    )

    @model_validator(mode="after")
    def _at_least_one_target(self) -> SLOSpec:
        targets = (self.latency_p95_ms, self.ttft_p95_ms, self.itl_p95_ms, self.tpot_p95_ms)
        if all(target is None for target in targets):
            raise ValueError(NO_SLO_TARGET)
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
