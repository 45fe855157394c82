"""``spec.scaling``: the replica range, the autoscaler's settings and scaling to zero."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from gpufleet.domain.wire import WireModel


class MetricsLossBehavior(StrEnum):
    """What the autoscaler does when the metrics it needs are unknown."""

    HOLD = "Hold"
    FALLBACK = "Fallback"


class ActivationSpec(WireModel):
    """How a fleet at zero replicas learns that requests are waiting.

    Zero pods export no metrics, so the signal must come from in front of them:
    a request-holding gateway's queue or request count for this model.
    """

    query: Annotated[
        str,
        Field(
            min_length=1,
            description=(
                "PromQL returning one number that exists while no pod runs, e.g. a "
                "gateway's queued or incoming requests for this model."
            ),
        ),
    ]
    threshold: Annotated[
        float,
        Field(ge=0, description="Scale from zero when the query's value exceeds this."),
    ] = 0.0
    scale_to_zero_after_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=86_400,
            description=(
                "Go to zero replicas once the query has stayed at or below the threshold, "
                "and the pods served nothing, for this long."
            ),
        ),
    ] = 300


MIN_AUTO_SCALE_DOWN_WINDOW_S = 60
"""Below this, a window would chase the noise of a 30 s rate window."""


class ScalingSpec(WireModel):
    min_replicas: Annotated[int, Field(ge=0, le=1000)] = 1
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 10
    target_queue_depth: Annotated[
        float,
        Field(gt=0, description="Pending requests per replica the fleet aims to stay below."),
    ] = 4.0
    latency_headroom: Annotated[
        float,
        Field(
            ge=0,
            le=0.5,
            description=(
                "Share of the latency target kept free when sizing the fleet: it is sized "
                "for a predicted p95 of (1 - latencyHeadroom) x latencyP95Ms. More headroom "
                "costs GPUs and misses the target less often when load rises faster than "
                "pods start."
            ),
        ),
    ] = 0.05
    scale_up_stabilization_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    scale_down_stabilization_seconds: Annotated[
        int | None,
        Field(
            default=None,
            ge=0,
            le=3600,
            description=(
                "How long the load must stay low before replicas are removed. Unset: "
                "coldStartSeconds (at least 60 s) -- the rent-or-buy break-even: an idle pod "
                "held that long costs what bringing it back would (a cold start billed)."
            ),
        ),
    ] = None
    cold_start_seconds: Annotated[
        int,
        Field(
            ge=1,
            le=3600,
            description="Expected time from pod creation to ready (image pull, model load).",
        ),
    ] = 120
    on_metrics_loss: Annotated[
        MetricsLossBehavior,
        Field(description="Hold the current replicas, or go to fallbackReplicas."),
    ] = MetricsLossBehavior.HOLD
    fallback_replicas: Annotated[int | None, Field(default=None, ge=0, le=1000)] = None
    provisioning_timeout_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=86_400,
            description=(
                "How long an unschedulable pod counts as capacity on its way (a node "
                "autoscaler such as Karpenter may be adding a GPU node). After that the "
                "cluster is the limit and the autoscaler stops adding pods it cannot place."
            ),
        ),
    ] = 600
    activation: Annotated[
        ActivationSpec | None,
        Field(
            default=None,
            description="Scale to and from zero replicas; required when minReplicas is 0.",
        ),
    ] = None

    @property
    def scale_down_window_seconds(self) -> int:
        """The scale-down stabilization window in effect (explicit, or from the cold start)."""
        if self.scale_down_stabilization_seconds is not None:
            return self.scale_down_stabilization_seconds
        return max(MIN_AUTO_SCALE_DOWN_WINDOW_S, self.cold_start_seconds)
