"""``oracle``: a clairvoyant lower bound that knows every future arrival.

It counts arrivals (weighted by their sizes) in 10 s bins, and at each 5 s tick
asks for the replicas that the busiest bin until one cold start (plus a tick)
ahead needs at ``utilization`` x full-batch throughput each: a replica ordered now
is ready when that load arrives, and keeping one costs no more than re-ordering
it. The comparison sweeps the utilization and keeps the cheapest that meets the
SLO.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gpufleet.sim.policies.base import Policy, PolicyContext

BIN_S = 10.0


class OraclePolicy(Policy):
    name = "oracle"
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
        if self._needed is None:
            rates = ctx.trace.rate_per_window(BIN_S, work=True)
            per_replica = self.utilization * ctx.profile.max_throughput_rps
            self._needed = np.ceil(rates / per_replica).astype(np.int64)
        return self._needed

    def _needed_between(self, ctx: PolicyContext, start: float, end: float) -> int:
        needed = self._plan(ctx)
        lo = int(start // BIN_S)
        hi = min(len(needed), int(end // BIN_S) + 1)
        peak = int(needed[lo:hi].max()) if hi > lo else 0
        return min(max(peak, self.min_replicas), self.max_replicas)

    def _horizon(self, ctx: PolicyContext) -> float:
        cold = ctx.settings.cold_start
        spread = cold.spread if cold.distribution == "uniform" else 0.0
        return cold.seconds + spread + self.tick_seconds

    def initial_replicas(self, ctx: PolicyContext, default: int) -> int:
        return self._needed_between(ctx, 0.0, self._horizon(ctx))

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        return self._needed_between(ctx, now, now + self._horizon(ctx))
