"""Knative's KPA decider: concurrency averaged over a stable (60 s) and panic (6 s) window.

``desired = ceil(average / (containerConcurrency target * 0.7))``; panic starts
when the panic-window demand is >= 200 % of the ready pods, and while in panic the
count never goes down; panic ends after a stable window below the threshold. Per
2 s tick the count may rise to 1000x the ready pods and fall to half of them.
No samples in the stable window: no decision.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class KpaConfig:
    target_utilization: float = 0.7
    stable_window: float = 60.0
    panic_window: float = 6.0
    panic_threshold: float = 2.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    tick_seconds: float = 2.0


class KpaController:
    def __init__(
        self,
        concurrency_target: float,
        min_replicas: int,
        max_replicas: int,
        config: KpaConfig | None = None,
    ) -> None:
        if concurrency_target <= 0:
            raise ValueError("concurrency target must be > 0")
        self.concurrency_target = concurrency_target
        self.config = config or KpaConfig()
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self.samples: deque[tuple[float, float]] = deque()
        self.panic_since: float | None = None
        self.max_panic_pods = 0

    @property
    def in_panic(self) -> bool:
        return self.panic_since is not None

    @property
    def target_per_pod(self) -> float:
        return self.concurrency_target * self.config.target_utilization

    def observe(self, now: float, concurrency: float) -> None:
        self.samples.append((now, concurrency))
        while self.samples and self.samples[0][0] <= now - self.config.stable_window:
            self.samples.popleft()

    def _average(self, now: float, window: float) -> float | None:
        values = [v for t, v in self.samples if t > now - window]
        return sum(values) / len(values) if values else None

    def decide(self, now: float, ready_pods: int) -> int | None:
        cfg = self.config
        stable = self._average(now, cfg.stable_window)
        panic = self._average(now, cfg.panic_window)
        if stable is None or panic is None:
            return None
        ready = max(1.0, float(ready_pods))
        max_up = math.ceil(cfg.max_scale_up_rate * ready)
        max_down = math.floor(ready / cfg.max_scale_down_rate)
        target = self.target_per_pod
        stable_pods = min(max(math.ceil(stable / target), max_down), max_up)
        panic_pods = min(max(math.ceil(panic / target), max_down), max_up)
        over_threshold = (panic / target) / ready >= cfg.panic_threshold
        if over_threshold:
            self.panic_since = now  # start, or extend
        elif self.panic_since is not None and self.panic_since + cfg.stable_window < now:
            self.panic_since = None
            self.max_panic_pods = 0
        desired = stable_pods
        if self.panic_since is not None:
            desired = max(panic_pods, stable_pods)
            if desired > self.max_panic_pods:
                self.max_panic_pods = desired
            else:
                desired = self.max_panic_pods  # never scale down in panic
        return min(max(desired, self.min_replicas), self.max_replicas)
