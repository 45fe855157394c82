"""What the load needs this tick, with the numbers that explain it."""

from __future__ import annotations

from dataclasses import dataclass

from gpufleet.domain.scaling.backlog import Backlog
from gpufleet.domain.scaling.batching import ReplicaModel
from gpufleet.domain.scaling.types import ReasonCode


@dataclass(frozen=True, slots=True)
class Need:
    replicas: int
    code: ReasonCode
    """Which signal set ``replicas``: load, queue backlog or measured latency."""
    arrival_rate: float | None
    """Requests/s arriving (completions + queue growth); ``None`` when unknown."""
    rate_per_replica: float | None
    """Requests/s one replica may carry within the target; ``None`` before any was measured."""
    model: ReplicaModel | None
    """The replica model the need was sized with."""
    lower_bound: bool = False
    """``replicas`` is only a lower bound: the search stopped there (far past the limits)."""
    sustained: int | None = None
    """Replicas the measured arrival rate alone needs (no forecast, no backlog to drain),
    with ``policy.RELEASE_MARGIN``; ``None``: same as ``replicas``. What the scale-down
    window remembers, at most ``replicas``: a forecast that did not come true or a
    drained backlog is no reason to keep pods."""
    backlog: Backlog | None = None
    """The queued backlog, projected to when new pods could be ready; ``None``: none."""
    missed_load: float | None = None
    """Requests/s per replica at which the target was measured missed, when that (not
    the model) sets ``rate_per_replica``; ``None``: the model does."""

    @property
    def remembered(self) -> int:
        return self.replicas if self.sustained is None else min(self.replicas, self.sustained)
