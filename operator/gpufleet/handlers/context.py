"""What handlers share at run time, kept in kopf's ``memo``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import kopf

from gpufleet.domain.replica_writes import ReplicaWrites
from gpufleet.domain.scaling.tuning import PolicyTuning, tuning_for
from gpufleet.domain.scaling.types import ScalerHistory
from gpufleet.k8s.client import KubernetesApi
from gpufleet.observability.metrics import OperatorMetrics
from gpufleet.services.configured_batch import ConfiguredBatches
from gpufleet.services.sampling import TickSampler
from gpufleet.settings import OperatorSettings

PodProblems = tuple[str | None, str | None, str | None, bool, bool]
"""A pod's (unschedulable, crash loop, cannot start, readiness lost, node lost): what
status says about it."""


@dataclass(slots=True)
class OperatorContext:
    settings: OperatorSettings
    api: KubernetesApi
    tuning: PolicyTuning = field(init=False)
    """The scaling policy's tuning, for the rate window the operator's queries use."""
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    """The operator's own Prometheus metrics (served by ``gpufleet run --metrics-port``)."""
    sampler: TickSampler | None = None
    """Fleet-wide metrics, one sample per tick; ``None`` when autoscaling is off."""
    configured_batches: ConfiguredBatches = field(default_factory=ConfiguredBatches)
    """The largest batch each ModelDeployment's server is configured for, read from a pod."""
    histories: dict[str, ScalerHistory] = field(default_factory=dict)
    """Scaling memory per ModelDeployment uid; on restart only its learned values come
    back (from ``status.learned``), the windows start afresh."""
    status_written: dict[str, float] = field(default_factory=dict)
    """When each ModelDeployment's scaling numbers were last written to status."""
    last_reason_codes: dict[str, str] = field(default_factory=dict)
    """Per ModelDeployment uid: the last decision's state (a reason code, or "holding"
    for the routine holds), to log when it changes."""
    pod_problems: dict[tuple[str, str], PodProblems] = field(default_factory=dict)
    """Per pod (namespace, name): what status says about it as last reported; other pod
    events write nothing."""
    replica_writes: ReplicaWrites = field(default_factory=ReplicaWrites)
    """The replicas the autoscaler set on each Deployment, to tell another writer's (an
    HPA's) from its own in the Deployment's events."""
    deleted: dict[str, asyncio.Event] = field(default_factory=dict)
    """Per ModelDeployment uid: set when the watch sees it deleted (ends its scaling loop)."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the operator shuts down: a scaling loop kopf spawns during shutdown (an
    event still in flight) ends at once instead of waiting to be cancelled."""

    def __post_init__(self) -> None:
        self.tuning = tuning_for(self.settings.rate_window_seconds)

    def forget(self, uid: str, namespace: str, name: str) -> None:
        """Drop what the operator holds about a deleted ModelDeployment."""
        self.histories.pop(uid, None)
        self.configured_batches.forget(uid)
        self.status_written.pop(uid, None)
        self.last_reason_codes.pop(uid, None)
        self.replica_writes.forget(uid)
        self.deleted.pop(uid, None)
        self.metrics.forget(namespace, name)


def context_of(memo: kopf.Memo) -> OperatorContext:
    ctx = memo.get("gpufleet")
    if not isinstance(ctx, OperatorContext):
        raise kopf.TemporaryError("operator is still starting", delay=1)
    return ctx
