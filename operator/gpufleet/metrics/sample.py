"""One tick's query results for the whole fleet, turned into per-ModelDeployment observations.

Unknown is never zero: a signal is ``None`` with a reason in
``Observations.unknown`` when Prometheus could not be asked, its query failed,
the ModelDeployment has no fresh samples, an expected pod is missing or stale,
or a value is NaN/Inf. Pods whose last scrape is older than ``stale_after``
are left out of every signal (their rates describe the past).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gpufleet.domain.scaling.types import Observations
from gpufleet.metrics.queries import Signal

PodKey = tuple[str, str, str]
"""(namespace, modeldeployment, pod)."""
FleetKey = tuple[str, str]
"""(namespace, modeldeployment)."""
PerPod = dict[str, float]


@dataclass(frozen=True, slots=True)
class SignalResult:
    """One signal's values by ModelDeployment and pod, or why the query failed."""

    values: dict[FleetKey, PerPod] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FleetSample:
    at: float
    """Evaluation time of every query of this tick (Unix seconds)."""
    stale_after_seconds: float
    signals: Mapping[Signal, SignalResult]
    unreachable: str | None = None
    """Why Prometheus could not be queried at all; then every signal is unknown."""

    def fresh_pods(self, namespace: str, name: str) -> tuple[list[str], list[str]]:
        """Pods scraped within ``stale_after``, and pods seen but stale."""
        stamps = self.signals[Signal.FRESHNESS].values.get((namespace, name), {})
        fresh = sorted(p for p, ts in stamps.items() if self.at - ts <= self.stale_after_seconds)
        stale = sorted(p for p, ts in stamps.items() if self.at - ts > self.stale_after_seconds)
        return fresh, stale

    def observations(self, namespace: str, name: str, expected_pods: int | None) -> Observations:
        """The ModelDeployment's fleet-wide signals.

        ``expected_pods`` is how many pods should be reporting (the ready replicas);
        fewer fresh ones make every signal unknown: a sum over some pods would
        read as a drop in load. The load signals' sums over the pods that do report
        are kept as ``lower_bounds``: enough to scale up on, never to scale down.
        """
        if self.unreachable is not None:
            return _all_unknown(self.at, f"Prometheus unreachable: {self.unreachable}")
        freshness = self.signals[Signal.FRESHNESS]
        if freshness.error is not None:
            return _all_unknown(self.at, f"freshness query failed: {freshness.error}")
        fresh, stale = self.fresh_pods(namespace, name)
        problem = _pods_problem(fresh, stale, self.stale_after_seconds)
        if problem is not None:
            return _all_unknown(self.at, problem, pods_reporting=len(fresh))
        aggregator = _Aggregator(self, (namespace, name), fresh)
        short = _pods_short(fresh, stale, expected_pods)
        if short is not None:
            return replace(
                _all_unknown(self.at, short, pods_reporting=len(fresh)),
                lower_bounds=aggregator.lower_bounds(),
            )
        return aggregator.observations()


_ALL = (
    "request_rate",
    "queue_depth",
    "p95_latency_ms",
    "avg_latency_ms",
    "avg_queue_ms",
    "compute_ms_per_exec",
    "inferences_per_exec",
    "failure_rate",
)


_LOAD_SIGNALS = {"request_rate": Signal.SUCCESS_RATE, "queue_depth": Signal.PENDING}
"""Load signals whose sum over some pods is a lower bound of the fleet's."""


def _all_unknown(at: float, reason: str, pods_reporting: int = 0) -> Observations:
    return Observations(at=at, pods_reporting=pods_reporting, unknown=dict.fromkeys(_ALL, reason))


def _pods_problem(fresh: list[str], stale: list[str], stale_after: float) -> str | None:
    """Why nothing at all can be said about the fleet's load, or ``None``."""
    if not fresh and not stale:
        return "no samples for this ModelDeployment"
    if not fresh:
        return f"all pods stale (no scrape for > {stale_after:g} s: {', '.join(stale)})"
    return None


def _pods_short(fresh: list[str], stale: list[str], expected: int | None) -> str | None:
    """Why the fresh pods are fewer than the ready ones, or ``None``."""
    if expected is not None and len(fresh) < expected:
        detail = f"; stale: {', '.join(stale)}" if stale else ""
        return f"{len(fresh)} of {expected} pods reporting{detail}"
    return None


class _Aggregator:
    """Sums one ModelDeployment's fresh pods per signal, recording what is unknown."""

    def __init__(self, sample: FleetSample, key: FleetKey, pods: list[str]) -> None:
        self._sample = sample
        self._key = key
        self._pods = pods
        self.unknown: dict[str, str] = {}

    def per_pod(self, signal: Signal) -> PerPod | str:
        """Values of every fresh pod, or why they are not all usable."""
        result = self._sample.signals[signal]
        if result.error is not None:
            return f"query failed: {result.error}"
        values = result.values.get(self._key, {})
        missing = [p for p in self._pods if p not in values]
        if missing:
            return f"no {signal.value} sample from pods {', '.join(missing)}"
        bad = [p for p in self._pods if not math.isfinite(values[p])]
        if bad:
            return f"NaN/Inf {signal.value} from pods {', '.join(bad)}"
        return {p: values[p] for p in self._pods}

    def total(self, signal: Signal, name: str) -> float | None:
        values = self.per_pod(signal)
        if isinstance(values, str):
            self.unknown[name] = values
            return None
        return sum(values.values())

    def lower_bound(self, signal: Signal) -> float | None:
        """Sum over the fresh pods that have a finite value: at most the fleet's total."""
        result = self._sample.signals[signal]
        if result.error is not None:
            return None
        values = result.values.get(self._key, {})
        present = [values[p] for p in self._pods if p in values and math.isfinite(values[p])]
        return sum(present) if present else None

    def lower_bounds(self) -> dict[str, float]:
        bounds = {name: self.lower_bound(signal) for name, signal in _LOAD_SIGNALS.items()}
        return {name: value for name, value in bounds.items() if value is not None}

    def ratio(
        self, num: float | None, den: float | None, name: str, scale: float, idle_reason: str
    ) -> float | None:
        if num is None or den is None:
            self.unknown.setdefault(name, "an input signal is unknown")
            return None
        if den <= 0.0:
            self.unknown[name] = idle_reason
            return None
        return num / den * scale

    def p95_ms(self, success: PerPod | str) -> float | None:
        """Traffic-weighted mean of the pods' p95 (quantiles do not add; this is close
        when the load is balanced, and a pod without traffic does not skew it)."""
        result = self._sample.signals[Signal.P95_US]
        if result.error is not None:
            self.unknown["p95_latency_ms"] = f"query failed: {result.error}"
            return None
        values = result.values.get(self._key, {})
        usable = {p: v for p, v in values.items() if p in self._pods and math.isfinite(v)}
        if not usable:
            self.unknown["p95_latency_ms"] = (
                "no p95 summary (no recent requests, or Triton runs without "
                "--metrics-config summary_latencies=true)"
            )
            return None
        weights = success if isinstance(success, dict) else {}
        total_weight = sum(weights.get(p, 0.0) for p in usable)
        if total_weight <= 0.0:
            return max(usable.values()) / 1000.0
        return sum(v * weights.get(p, 0.0) for p, v in usable.items()) / total_weight / 1000.0

    def observations(self) -> Observations:
        idle = "no requests in the rate window"
        rate = self.total(Signal.SUCCESS_RATE, "request_rate")
        queue = self.total(Signal.PENDING, "queue_depth")
        failures = self.total(Signal.FAILURE_RATE, "failure_rate")
        inferences = self.total(Signal.INFERENCE_RATE, "inferences_per_exec")
        execs = self.total(Signal.EXEC_RATE, "compute_ms_per_exec")
        request_us = self.total(Signal.REQUEST_US_RATE, "avg_latency_ms")
        queue_us = self.total(Signal.QUEUE_US_RATE, "avg_queue_ms")
        compute_us = self.total(Signal.COMPUTE_US_RATE, "compute_ms_per_exec")
        return Observations(
            at=self._sample.at,
            request_rate=rate,
            queue_depth=queue,
            p95_latency_ms=self.p95_ms(self.per_pod(Signal.SUCCESS_RATE)),
            avg_latency_ms=self.ratio(request_us, rate, "avg_latency_ms", 1e-3, idle),
            avg_queue_ms=self.ratio(queue_us, rate, "avg_queue_ms", 1e-3, idle),
            compute_ms_per_exec=self.ratio(compute_us, execs, "compute_ms_per_exec", 1e-3, idle),
            inferences_per_exec=self.ratio(inferences, execs, "inferences_per_exec", 1.0, idle),
            failure_rate=failures,
            pods_reporting=len(self._pods),
            unknown=self.unknown,
            lower_bounds={n: v for n, v in self.lower_bounds().items() if n in self.unknown},
        )
