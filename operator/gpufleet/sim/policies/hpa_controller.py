"""The Kubernetes HPA v2 algorithm for one External metric with an AverageValue target.

Faithful to the controller's defaults: ``desired = ceil(total / targetPerPod)`` unless
``|total / (target * current) - 1| <= tolerance``; scale-up without stabilization,
limited to max(+100 %, +4 pods) per 15 s; scale-down to the highest recommendation
of the last 300 s, up to 100 % per 15 s; a missing metric means no scaling.

Not-ready pods: the HPA's readiness rule treats starting pods as having no usage
and no capacity. With a fleet-wide queue-depth metric that is what happens anyway:
the queue a starting pod cannot drain yet keeps counting, so during a cold start
the HPA keeps recommending ``ceil(total / target)`` against all asked-for replicas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class HpaBehavior:
    sync_seconds: float = 15.0
    tolerance: float = 0.1
    scale_up_pods: int = 4
    scale_up_percent: float = 100.0
    scale_up_period: float = 15.0
    scale_up_window: float = 0.0
    scale_down_percent: float = 100.0
    scale_down_period: float = 15.0
    scale_down_window: float = 300.0


class HpaController:
    def __init__(
        self,
        target_per_pod: float,
        min_replicas: int,
        max_replicas: int,
        behavior: HpaBehavior | None = None,
    ) -> None:
        if target_per_pod <= 0:
            raise ValueError("target per pod must be > 0")
        self.target = target_per_pod
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self.behavior = behavior or HpaBehavior()
        self.recommendations: list[tuple[float, int]] = []
        self.scale_events: list[tuple[float, int]] = []
        """(time, replicas added (>0) or removed (<0)) for the rate limits."""

    def sync(self, now: float, current: int, total: float | None) -> int:
        """Replicas after one sync; ``current`` when the metric is missing."""
        if total is None:
            return current
        raw = self._raw_recommendation(current, total)
        stabilized = self._stabilize(now, current, raw)
        limited = self._rate_limit(now, current, stabilized)
        desired = min(max(limited, self.min_replicas), self.max_replicas)
        if desired != current:
            self.scale_events.append((now, desired - current))
        return desired

    def _raw_recommendation(self, current: int, total: float) -> int:
        if current > 0:
            ratio = total / (self.target * current)
            if abs(ratio - 1.0) <= self.behavior.tolerance:
                return current
        return math.ceil(total / self.target)

    def _stabilize(self, now: float, current: int, raw: int) -> int:
        b = self.behavior
        up_cutoff, down_cutoff = now - b.scale_up_window, now - b.scale_down_window
        up, down = raw, raw
        for at, rec in self.recommendations:
            if at > up_cutoff:
                up = min(up, rec)
            if at > down_cutoff:
                down = max(down, rec)
        keep_after = now - max(b.scale_up_window, b.scale_down_window)
        self.recommendations = [(t, r) for t, r in self.recommendations if t > keep_after]
        self.recommendations.append((now, raw))
        result = current
        if result < up:
            result = up
        if result > down:
            result = down
        return result

    def _rate_limit(self, now: float, current: int, desired: int) -> int:
        b = self.behavior
        if desired > current:
            added = sum(d for t, d in self.scale_events if d > 0 and t > now - b.scale_up_period)
            start = current - added
            limit = max(start + b.scale_up_pods, math.ceil(start * (1 + b.scale_up_percent / 100)))
            return min(desired, max(limit, current))
        if desired < current:
            removed = -sum(
                d for t, d in self.scale_events if d < 0 and t > now - b.scale_down_period
            )
            start = current + removed
            limit = math.floor(start * (1 - b.scale_down_percent / 100))
            return max(desired, min(limit, current))
        return desired
