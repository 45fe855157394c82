"""``hpa``: an HPA fed by the Prometheus adapter with the fleet's total queue depth.

The adapter answers each 15 s sync with an instant query of
``sum(nv_inference_pending_request_count)``: the last scrape within Prometheus's
5-minute lookback; an empty result is an error, and the HPA then does not scale.
"""

from __future__ import annotations

from gpufleet.sim.policies.base import Policy, PolicyContext
from gpufleet.sim.policies.hpa_controller import HpaController

PROMETHEUS_LOOKBACK_S = 300.0


class HpaPolicy(Policy):
    name = "hpa"
    knob_name = "queue/pod"

    def __init__(self, target_per_pod: float = 4.0, min_replicas: int = 1, max_replicas: int = 100):
        self.controller = HpaController(target_per_pod, min_replicas, max_replicas)
        self.tick_seconds = self.controller.behavior.sync_seconds

    @property
    def knob(self) -> float:
        return self.controller.target

    def initial_replicas(self, ctx: PolicyContext, default: int) -> int:
        # The HPA has been running at this size: its scale-down window remembers it.
        self.controller.recommendations.append((0.0, default))
        return default

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        sample = ctx.metrics.latest(now, PROMETHEUS_LOOKBACK_S)
        total = None if sample is None else float(sample.pending)
        return self.controller.sync(now, ctx.fleet.replicas, total)
