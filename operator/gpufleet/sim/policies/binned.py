"""What the oracle and the reactive reference share: the trace's arrivals in 10 s bins,
and the replicas each bin needs at ``utilization`` x full-batch throughput."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gpufleet.sim.policies.base import Policy, PolicyContext

BIN_S = 10.0


class BinnedUtilizationPolicy(Policy):
    """A reference policy that reads arrivals from the trace itself, not from metrics;
    subclasses choose which bins they may see."""

    knob_name = "utilization"
    tick_seconds = 5.0

    def __init__(self, utilization: float = 0.8, min_replicas: int = 1, max_replicas: int = 100):
        if not 0 < utilization <= 1.5:
            raise ValueError("utilization must be in (0, 1.5]")
        self.utilization = utilization
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self._needed: npt.NDArray[np.int64] | None = None

    @property
    def knob(self) -> float:
        return self.utilization

    def _plan(self, ctx: PolicyContext) -> npt.NDArray[np.int64]:
        """Replicas each bin needs (arrivals weighted by their sizes)."""
        if self._needed is None:
            rates = ctx.trace.rate_per_window(BIN_S, work=True)
            per_replica = self.utilization * ctx.profile.max_throughput_rps
            self._needed = np.ceil(rates / per_replica).astype(np.int64)
        return self._needed

    def _bounded(self, replicas: int) -> int:
        return min(max(replicas, self.min_replicas), self.max_replicas)
