"""``spec.slo`` and ``spec.cost``: the latency targets the fleet is sized for, and its budget."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from gpufleet.domain.spec.messages import NO_SLO_TARGET
from gpufleet.domain.wire import WireModel


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
                "two streamed tokens: every gap counts), milliseconds."
            ),
        ),
    ] = None
    tpot_p95_ms: Annotated[
        float | None,
        Field(
            default=None,
            gt=0,
            le=60_000,
            description=(
                "LLM fleets: target 95th-percentile time per output token (each request's "
                "mean gap between its tokens after the first: the pace of a stream, read "
                "from vLLM's vllm:request_time_per_output_token_seconds), milliseconds."
            ),
        ),
    ] = None

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
