"""``reactive``: the best a policy without foresight could do -- a reference, not a peer.

It sees every past arrival exactly, with no metrics pipeline between (each
completed 10 s bin, at once), but nothing of the future. At each 5 s tick it asks
for the replicas that the busiest completed bin of the last cold start needs at
``utilization`` x full-batch throughput each: sizing for the recent peak, and
keeping a replica one cold start after it was last needed (releasing it sooner
and ordering it again would cost more). The comparison sweeps the utilization
and keeps the cheapest that meets the SLO -- a setting chosen with hindsight.

The gap between it and the oracle is what foresight is worth on a trace; between
it and a real autoscaler, what the metrics' delay and noise and the lack of a
tuned setting cost. The issue's baselines are HPA, KEDA, Knative and static;
this one is reported beside them, never counted as one.
"""

from __future__ import annotations

import math

from gpufleet.sim.policies.base import PolicyContext
from gpufleet.sim.policies.binned import BIN_S, BinnedUtilizationPolicy


class ReactiveBoundPolicy(BinnedUtilizationPolicy):
    name = "reactive"

    def __init__(self, utilization: float = 0.8, min_replicas: int = 1, max_replicas: int = 100):
        super().__init__(utilization, min_replicas, max_replicas)
        self._starting = 0

    def initial_replicas(self, ctx: PolicyContext, default: int) -> int:
        # The fleet has been running at this size: like any autoscaler's memory, the
        # last cold start's worth of it counts as needed (as the HPA model does).
        self._starting = default
        return default

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        completed = math.floor(now / BIN_S + 1e-9)  # bins [0, completed) have ended
        if completed <= 0:
            return None  # nothing seen yet: keep the starting fleet
        memory = max(1, math.ceil(ctx.settings.cold_start.seconds / BIN_S))
        needed = self._plan(ctx)[max(0, completed - memory) : completed]
        peak = int(needed.max()) if len(needed) else 0
        if now < ctx.settings.cold_start.seconds:
            peak = max(peak, self._starting)
        return self._bounded(peak)
