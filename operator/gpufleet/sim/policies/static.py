"""``static``: a fixed number of replicas, what a team sizes by hand for the peak."""

from __future__ import annotations

import math

from gpufleet.sim.policies.base import Policy, PolicyContext

PEAK_WINDOW_S = 60.0
PEAK_UTILIZATION = 0.8


def replicas_for_peak(ctx: PolicyContext) -> int:
    """Enough replicas to run the busiest minute at 80 % of full-batch throughput."""
    peak = ctx.trace.peak_rate(PEAK_WINDOW_S, work=True)
    return max(1, math.ceil(peak / (PEAK_UTILIZATION * ctx.profile.max_throughput_rps)))


class StaticPolicy(Policy):
    name = "static"
    knob_name = "replicas"
    tick_seconds = 3600.0

    def __init__(self, replicas: int | None = None, min_replicas: int = 1, max_replicas: int = 100):
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self.replicas = None if replicas is None else self._bounded(replicas)

    def _bounded(self, replicas: int) -> int:
        return min(max(replicas, self.min_replicas), self.max_replicas)

    @property
    def knob(self) -> float | None:
        return None if self.replicas is None else float(self.replicas)

    def initial_replicas(self, ctx: PolicyContext, default: int) -> int:
        if self.replicas is None:
            self.replicas = self._bounded(replicas_for_peak(ctx))
        return self.replicas

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        return self.replicas
