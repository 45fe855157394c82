"""``wva``: llm-d's workload-variant autoscaler in saturation mode, feeding an HPA.

A replica is saturated when its KV cache is at least ``kv_threshold`` (0.8) full or
5 requests wait on it. Every 30 s the autoscaler adds a replica when the spare room
of the non-saturated replicas runs out (mean spare KV < 0.1 or mean spare queue
< 3) and none is still starting (pending replicas count), and removes one only if
the load, spread over one replica fewer, would leave that much room. The HPA it
feeds holds scale-down for the recommended 120 s stabilization window.
"""

from __future__ import annotations

from gpufleet.sim.policies.base import Policy, PolicyContext
from gpufleet.sim.policies.hpa_controller import HpaBehavior, HpaController

QUEUE_THRESHOLD = 5.0
SPARE_KV = 0.1
SPARE_QUEUE = 3.0
PROMETHEUS_LOOKBACK_S = 300.0


class WvaPolicy(Policy):
    name = "wva"
    knob_name = "kv"
    tick_seconds = 30.0

    def __init__(self, kv_threshold: float = 0.8, min_replicas: int = 1, max_replicas: int = 100):
        if not 0 < kv_threshold <= 1:
            raise ValueError("kv threshold must be in (0, 1]")
        self.kv_threshold = kv_threshold
        behavior = HpaBehavior(sync_seconds=30.0, scale_down_window=120.0, tolerance=0.0)
        self.hpa = HpaController(1.0, min_replicas, max_replicas, behavior)

    @property
    def knob(self) -> float:
        return self.kv_threshold

    def initial_replicas(self, ctx: PolicyContext, default: int) -> int:
        self.hpa.recommendations.append((0.0, default))
        return default

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        scrape = ctx.metrics.latest(now, PROMETHEUS_LOOKBACK_S)
        if scrape is None:
            return None  # no metrics: no recommendation
        ready = [s for p, s in scrape.pods.items() if ctx.fleet.pods[p] in ctx.fleet.routable]
        current = ctx.fleet.replicas
        if not ready:
            return None
        kv = [s.kv_usage for s in ready]
        queue = [float(s.pending) for s in ready]
        open_ = [
            (k, q)
            for k, q in zip(kv, queue, strict=True)
            if k < self.kv_threshold and q < QUEUE_THRESHOLD
        ]
        spare_kv = sum(self.kv_threshold - k for k, _ in open_) / len(ready)
        spare_queue = sum(QUEUE_THRESHOLD - q for _, q in open_) / len(ready)
        starting = current - ctx.fleet.ready_replicas
        target = current
        if spare_kv < SPARE_KV or spare_queue < SPARE_QUEUE:
            if starting == 0:
                target = current + 1
        elif len(ready) > 1:
            fewer = len(ready) - 1
            if (
                sum(kv) / fewer <= self.kv_threshold - SPARE_KV
                and sum(queue) / fewer <= QUEUE_THRESHOLD - SPARE_QUEUE
            ):
                target = current - 1
        # The HPA on the recommended replica count (AverageValue 1 over a total = target).
        return self.hpa.sync(now, current, float(target))
