"""``oracle``: a clairvoyant lower bound that knows every future arrival.

It counts arrivals (weighted by their sizes) in 10 s bins, and at each 5 s tick
asks for the replicas that the busiest bin until one cold start (plus a tick)
ahead needs at ``utilization`` x full-batch throughput each: a replica ordered now
is ready when that load arrives, and keeping one costs no more than re-ordering
it. The comparison sweeps the utilization and keeps the cheapest that meets the
SLO.
"""

from __future__ import annotations

from gpufleet.sim.policies.base import PolicyContext
from gpufleet.sim.policies.binned import BIN_S, BinnedUtilizationPolicy


class OraclePolicy(BinnedUtilizationPolicy):
    name = "oracle"

    def _needed_between(self, ctx: PolicyContext, start: float, end: float) -> int:
        needed = self._plan(ctx)
        lo = int(start // BIN_S)
        hi = min(len(needed), int(end // BIN_S) + 1)
        peak = int(needed[lo:hi].max()) if hi > lo else 0
        return self._bounded(peak)

    def _horizon(self, ctx: PolicyContext) -> float:
        cold = ctx.settings.cold_start
        spread = cold.spread if cold.distribution == "uniform" else 0.0
        return cold.seconds + spread + self.tick_seconds

    def initial_replicas(self, ctx: PolicyContext, default: int) -> int:
        return self._needed_between(ctx, 0.0, self._horizon(ctx))

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        return self._needed_between(ctx, now, now + self._horizon(ctx))
