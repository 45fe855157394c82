"""The ``ModelDeployment`` status: what the operator reports, as pydantic models.

The CRD's status schema is generated from these. The operator writes status
only through the status subresource and never writes ``spec``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gpufleet.domain.wire import WireModel


class StatusCondition(WireModel):
    """metav1.Condition."""

    type: Annotated[str, Field(min_length=1, max_length=316)]
    status: Literal["True", "False", "Unknown"]
    reason: Annotated[str, Field(min_length=1, max_length=1024)]
    message: Annotated[str, Field(max_length=32768)] = ""
    observed_generation: Annotated[int | None, Field(default=None, ge=0)] = None
    last_transition_time: Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class DecisionStatus(WireModel):
    """Why the autoscaler asked for ``desiredReplicas``."""

    decided_at: Annotated[
        str | None,
        Field(
            default=None,
            description="When this decision was taken (written with the other numbers).",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None

    rule: Annotated[
        str | None, Field(default=None, description="The policy rule whose proposal decided.")
    ] = None
    reason_code: Annotated[
        str | None, Field(default=None, description="Machine-readable reason of the decision.")
    ] = None
    reason: Annotated[
        str | None,
        Field(
            default=None,
            description="The deciding rule's sentence, with its numbers (hold or scale).",
        ),
    ] = None
    capacity_per_replica: Annotated[
        float | None,
        Field(
            default=None,
            description="Requests/s one ready replica serves within the target, as believed.",
        ),
    ] = None
    limited_by: Annotated[
        Literal["replicas", "budget", "cluster", "pods"] | None,
        Field(
            default=None,
            description=(
                "The limit holding the fleet below what the load needs: maxReplicas, "
                "maxHourlyCost, pods the cluster cannot place or create, or pods that "
                "cannot start."
            ),
        ),
    ] = None


class LearnedStatus(WireModel):
    """What the autoscaler learned about the model; restored when the operator restarts."""

    cold_start_seconds: Annotated[
        float | None, Field(default=None, description="From asking for a pod to it serving.")
    ] = None
    capacity_per_replica: Annotated[
        float | None, Field(default=None, description="Requests/s per replica within target.")
    ] = None
    tail_factor: Annotated[
        float | None, Field(default=None, description="Measured p95 in batch times.")
    ] = None
    batch_fixed_ms: Annotated[
        float | None, Field(default=None, description="Fixed time of one batch execution.")
    ] = None
    batch_per_request_ms: Annotated[
        float | None, Field(default=None, description="Time each request adds to a batch.")
    ] = None
    max_batch_seen: Annotated[
        float | None, Field(default=None, description="Largest mean batch measured.")
    ] = None
    iteration_fixed_ms: Annotated[
        float | None, Field(default=None, description="LLM: fixed time of one engine iteration.")
    ] = None
    iteration_ms_per_sequence: Annotated[
        float | None,
        Field(default=None, description="LLM: time each running sequence adds to an iteration."),
    ] = None
    kv_per_sequence: Annotated[
        float | None,
        Field(default=None, description="LLM: share of a replica's KV cache one sequence holds."),
    ] = None
    itl_tail: Annotated[
        float | None,
        Field(default=None, description="LLM: ITL p95 over the p95-busy replica's iteration."),
    ] = None
    tpot_tail: Annotated[
        float | None,
        Field(default=None, description="LLM: TPOT p95 over the p95-busy replica's iteration."),
    ] = None
    prefill_stall_ms: Annotated[
        float | None,
        Field(
            default=None,
            description="LLM: how long a prompt's prefill stalls the streams, where over the "
            "ITL target (ms).",
        ),
    ] = None
    stalls_per_prompt: Annotated[
        float | None,
        Field(
            default=None,
            description="LLM: iterations a prompt's prefill stalls over the ITL target.",
        ),
    ] = None


class ActivationStatus(WireModel):
    """The scale-from-zero signal (``spec.scaling.activation.query``) as last measured."""

    value: Annotated[
        float | None, Field(default=None, description="Absent when the query had no value.")
    ] = None
    measured_at: Annotated[
        str | None, Field(default=None, json_schema_extra={"format": "date-time"})
    ] = None


class ModelDeploymentStatus(WireModel):
    observed_generation: Annotated[
        int | None, Field(default=None, description="Generation of the spec last reconciled.")
    ] = None
    replicas: Annotated[int | None, Field(default=None, description="Pods asked for.")] = None
    ready_replicas: Annotated[int | None, Field(default=None, description="Pods serving.")] = None
    desired_replicas: Annotated[
        int | None, Field(default=None, description="Replicas the autoscaler last decided.")
    ] = None
    queue_depth: Annotated[
        float | None, Field(default=None, description="Pending requests, fleet-wide.")
    ] = None
    request_rate: Annotated[
        float | None,
        Field(
            default=None,
            description="Requests per second: served, and unserved for want of capacity "
            "(timed out in the queue, cancelled by the client).",
        ),
    ] = None
    error_rate: Annotated[
        float | None,
        Field(
            default=None,
            description="Requests per second the model or server failed (Triton's BACKEND and "
            "OTHER failures, vLLM's error): not in requestRate, no pods added for them.",
        ),
    ] = None
    p95_latency_ms: Annotated[float | None, Field(default=None, description="Measured p95.")] = None
    ttft_p95_ms: Annotated[
        float | None, Field(default=None, description="Measured p95 time to first token (LLM).")
    ] = None
    itl_p95_ms: Annotated[
        float | None, Field(default=None, description="Measured p95 inter-token latency (LLM).")
    ] = None
    tpot_p95_ms: Annotated[
        float | None,
        Field(
            default=None,
            description="Measured p95 time per output token (LLM: each request's mean gap).",
        ),
    ] = None
    kv_cache_usage: Annotated[
        float | None,
        Field(
            default=None, description="Share of the KV cache in use, mean over pods, 0..1 (LLM)."
        ),
    ] = None
    preemption_rate: Annotated[
        float | None,
        Field(
            default=None,
            description="Sequences preempted per second, all pods (vLLM): above 0, some pod's KV "
            "cache ran out.",
        ),
    ] = None
    configured_max_batch: Annotated[
        int | None,
        Field(
            default=None,
            description="The most requests one execution serves, as the model server's "
            "configuration says (Triton's max_batch_size with dynamic batching, 1 without), "
            "read from a ready pod: the capacity model's batch bound. Absent until read; "
            "model.maxBatchSize stands in.",
        ),
    ] = None
    predicted_p95_latency_ms: Annotated[
        float | None, Field(default=None, description="p95 predicted at desiredReplicas.")
    ] = None
    predicted_itl_p95_ms: Annotated[
        float | None,
        Field(default=None, description="ITL p95 predicted at desiredReplicas (LLM)."),
    ] = None
    predicted_tpot_p95_ms: Annotated[
        float | None,
        Field(default=None, description="TPOT p95 predicted at desiredReplicas (LLM)."),
    ] = None
    predicted_ttft_p95_ms: Annotated[
        float | None,
        Field(
            default=None,
            description="TTFT p95 predicted at desiredReplicas (LLM; from the TTFT p95 "
            "measured on a settled fleet, as a line in the sequences per replica).",
        ),
    ] = None
    hourly_cost: Annotated[
        float | None, Field(default=None, description="USD per hour at the current replicas.")
    ] = None
    gpu_hourly_price: Annotated[
        float | None, Field(default=None, description="USD per GPU-hour in effect.")
    ] = None
    last_scale_time: Annotated[
        str | None, Field(default=None, json_schema_extra={"format": "date-time"})
    ] = None
    last_scale_reason: str | None = None
    metrics_unknown: Annotated[
        dict[str, str] | None,
        Field(default=None, description="Signals currently unknown, with why."),
    ] = None
    unschedulable_replicas: Annotated[
        int | None, Field(default=None, description="Pods the scheduler cannot place now.")
    ] = None
    decision: Annotated[DecisionStatus | None, Field(default=None)] = None
    learned: Annotated[LearnedStatus | None, Field(default=None)] = None
    activation: Annotated[ActivationStatus | None, Field(default=None)] = None
    conditions: Annotated[list[StatusCondition] | None, Field(default=None)] = None
