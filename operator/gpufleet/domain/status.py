"""The ``ModelDeployment`` status: what the operator reports, as pydantic models.

The CRD's status schema is generated from these. The operator writes status
only through the status subresource and never writes ``spec``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gpufleet.domain.spec import WireModel


class StatusCondition(WireModel):
    """metav1.Condition."""

    type: Annotated[str, Field(min_length=1, max_length=316)]
    status: Literal["True", "False", "Unknown"]
    reason: Annotated[str, Field(min_length=1, max_length=1024)]
    message: Annotated[str, Field(max_length=32768)] = ""
    observed_generation: Annotated[int | None, Field(default=None, ge=0)] = None
    last_transition_time: Annotated[str, Field(json_schema_extra={"format": "date-time"})]


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
        float | None, Field(default=None, description="Requests per second.")
    ] = None
    p95_latency_ms: Annotated[float | None, Field(default=None, description="Measured p95.")] = None
    predicted_p95_latency_ms: Annotated[
        float | None, Field(default=None, description="p95 predicted at desiredReplicas.")
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
    conditions: Annotated[list[StatusCondition] | None, Field(default=None)] = None
