"""``keda``: KEDA's Prometheus scaler feeding the HPA it creates.

KEDA polls ``sum(nv_inference_pending_request_count)`` every 30 s; the HPA syncs
every 15 s on the last polled value (as with ``useCachedMetrics: true``). With
``ignoreNullValues`` (the default, true) an empty result is reported as 0: during
a metrics outage the HPA sees an idle fleet and scales down (kedacore/keda#3065).
"""

from __future__ import annotations

from gpufleet.sim.policies.base import Policy, PolicyContext
from gpufleet.sim.policies.hpa_controller import HpaController

KEDA_POLLING_S = 30.0
PROMETHEUS_LOOKBACK_S = 300.0


class KedaPolicy(Policy):
    name = "keda"
    knob_name = "queue/pod"

    def __init__(
        self,
        threshold: float = 4.0,
        min_replicas: int = 1,
        max_replicas: int = 100,
        ignore_null_values: bool = True,
    ):
        self.controller = HpaController(threshold, min_replicas, max_replicas)
        self.tick_seconds = self.controller.behavior.sync_seconds
        self.ignore_null_values = ignore_null_values
        self.polled: float | None = None
        self._last_poll: float | None = None

    @property
    def knob(self) -> float:
        return self.controller.target

    def initial_replicas(self, ctx: PolicyContext, default: int) -> int:
        # The HPA has been running at this size: its scale-down window remembers it.
        self.controller.recommendations.append((0.0, default))
        return default

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        if self._last_poll is None or now - self._last_poll >= KEDA_POLLING_S - 1e-9:
            self._last_poll = now
            sample = ctx.metrics.latest(now, PROMETHEUS_LOOKBACK_S)
            if sample is not None:
                self.polled = float(sample.pending)
            else:
                self.polled = 0.0 if self.ignore_null_values else None
        return self.controller.sync(now, ctx.fleet.replicas, self.polled)
