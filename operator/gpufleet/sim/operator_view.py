"""What the operator's Prometheus reader gets back, built from the simulated scrapes.

The reader's queries (``gpufleet.metrics.queries``) return per-pod values; this
module answers each of them from the simulated Prometheus as a
``gpufleet.metrics.sample.FleetSample``, and the operator's own aggregation turns
that into ``Observations`` -- the same code path as in a cluster, including its
rules for stale or missing pods.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from gpufleet.metrics.queries import Signal
from gpufleet.metrics.sample import FleetKey, FleetSample, PerPod, SignalResult
from gpufleet.settings import OperatorSettings
from gpufleet.sim.fleet import Fleet
from gpufleet.sim.metrics import MetricsPipeline, PodRates

SIM_FLEET: FleetKey = ("sim", "sim")
SUMMARY_MAX_AGE_S = 60.0
"""Triton's latency summaries report quantiles over the last minute."""
INSTANT_LOOKBACK_S = 300.0

_RATE_SIGNALS: dict[Signal, tuple[str, float]] = {
    Signal.SUCCESS_RATE: ("success", 1.0),
    Signal.FAILURE_RATE: ("failure", 1.0),
    Signal.INFERENCE_RATE: ("inferences", 1.0),
    Signal.EXEC_RATE: ("executions", 1.0),
    Signal.REQUEST_US_RATE: ("request_s", 1e6),
    Signal.QUEUE_US_RATE: ("queue_s", 1e6),
    Signal.COMPUTE_US_RATE: ("compute_s", 1e6),
}


def fleet_sample(
    metrics: MetricsPipeline, fleet: Fleet, now: float, operator: OperatorSettings
) -> FleetSample:
    """The reader's query results at ``now`` for the simulated ModelDeployment."""
    scrape = metrics.latest(now, INSTANT_LOOKBACK_S)
    pods = {} if scrape is None else scrape.pods
    freshness: PerPod = {str(p): s.at for p, s in pods.items()}
    pending: PerPod = {str(p): float(s.pending) for p, s in pods.items()}
    rates: dict[str, PodRates] = {}
    for pod in pods:
        pod_rates = metrics.rates(pod, now, operator.rate_window_seconds)
        if pod_rates is not None:
            rates[str(pod)] = pod_rates
    signals: dict[Signal, SignalResult] = {
        Signal.FRESHNESS: _result(freshness),
        Signal.PENDING: _result(pending),
        Signal.P95_US: _result(_p95_us(fleet, list(pods), None if scrape is None else scrape.at)),
    }
    for signal, (field, scale) in _RATE_SIGNALS.items():
        signals[signal] = _result({p: getattr(r, field) * scale for p, r in rates.items()})
    return FleetSample(at=now, stale_after_seconds=operator.stale_after_seconds, signals=signals)


def _result(values: PerPod) -> SignalResult:
    return SignalResult(values={SIM_FLEET: values} if values else {})


def _p95_us(fleet: Fleet, pods: list[int], at: float | None) -> PerPod:
    """Each pod's p95 latency summary (NaN without requests in the last minute)."""
    if at is None:
        return {}
    out: PerPod = {}
    for name in pods:
        pod = fleet.pods[name]
        lo = bisect.bisect_right(pod.done_at, at - SUMMARY_MAX_AGE_S)
        hi = bisect.bisect_right(pod.done_at, at)
        window = pod.done_latency[lo:hi]
        out[str(name)] = float(np.quantile(window, 0.95)) * 1e6 if window else math.nan
    return out
