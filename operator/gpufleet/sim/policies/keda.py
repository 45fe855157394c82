"""``keda``: KEDA's Prometheus scaler feeding the HPA it creates, at KEDA's defaults.

Between 1 and N replicas the HPA does the scaling: at each 15 s sync it asks
KEDA's metrics adapter for the External metric, and the adapter runs the scaler's
query, ``sum(nv_inference_pending_request_count)``, then and there
(``useCachedMetrics`` is off by default). KEDA's own 30 s ``pollingInterval`` only
drives activation (0 <-> 1 replicas), which is not modelled: every policy here
keeps at least one replica. With ``ignoreNullValues`` (the default, true) an
empty result is reported as 0: during a metrics outage the HPA sees an idle
fleet and scales down (kedacore/keda#3065).
"""

from __future__ import annotations

from gpufleet.sim.policies.base import Policy, PolicyContext
from gpufleet.sim.policies.hpa_controller import HpaController

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

    @property
    def knob(self) -> float:
        return self.controller.target

    def initial_replicas(self, ctx: PolicyContext, default: int) -> int:
        # The HPA has been running at this size: its scale-down window remembers it.
        self.controller.recommendations.append((0.0, default))
        return default

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        sample = ctx.metrics.latest(now, PROMETHEUS_LOOKBACK_S)
        value: float | None
        if sample is not None:
            value = float(sample.pending)
        else:
            value = 0.0 if self.ignore_null_values else None
        return self.controller.sync(now, ctx.fleet.replicas, value)
