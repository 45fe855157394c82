"""``kpa``: Knative's autoscaler on in-flight requests (queue-proxy concurrency).

Each second the queue proxies report in-flight requests (queued or executing) of
the ready pods; the decider runs every 2 s. Scale-to-zero and the activator are
not modelled: like every policy here, the fleet keeps at least one replica.
"""

from __future__ import annotations

from gpufleet.sim.policies.base import Policy, PolicyContext
from gpufleet.sim.policies.kpa_controller import KpaController

SCRAPE_SECONDS = 1.0


class KpaPolicy(Policy):
    name = "kpa"
    knob_name = "concurrency"
    tick_seconds = SCRAPE_SECONDS

    def __init__(
        self, concurrency_target: float = 4.0, min_replicas: int = 1, max_replicas: int = 100
    ):
        self.controller = KpaController(concurrency_target, min_replicas, max_replicas)
        self._next_decision = 0.0

    @property
    def knob(self) -> float:
        return self.controller.concurrency_target

    def initial_replicas(self, ctx: PolicyContext, default: int) -> int:
        # Knative has been running at this size: its stable window holds a load
        # that needs exactly these pods.
        window = self.controller.config.stable_window
        steady = default * self.controller.target_per_pod
        for second in range(int(window), 0, -1):
            self.controller.observe(-float(second), steady)
        return default

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        in_flight = sum(p.outstanding for p in ctx.fleet.routable)
        self.controller.observe(now, float(in_flight))
        if now + 1e-9 < self._next_decision:
            return None
        self._next_decision = now + self.controller.config.tick_seconds
        return self.controller.decide(now, ctx.fleet.ready_replicas)
