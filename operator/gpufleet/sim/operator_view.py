"""What the operator's Prometheus reader gets back, built from the simulated scrapes.

The reader's queries (``gpufleet.metrics.queries``) return per-pod values; this
module answers each of them from the simulated Prometheus as a
``gpufleet.metrics.sample.FleetSample``, and the operator's own aggregation turns
that into ``Observations`` -- the same code path as in a cluster, including its
rules for stale or missing pods. Token-level (LLM) replicas answer as vLLM pods:
their engine code says vLLM, and TTFT, TPOT, ITL and end-to-end p95s (and TTFT, TPOT
and ITL p99s) are fleet-wide quantiles over the rate window: of the first tokens that
came within it for TTFT, of the gaps that ended within it for ITL (every gap, as
vLLM's ``inter_token_latency_seconds`` observes them), of the requests finished within it
for the rest (TPOT: each request's mean gap, as ``request_time_per_output_token_seconds``).
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from gpufleet.metrics.queries import ENGINE_CODES, Engine, Signal
from gpufleet.metrics.reader import fleet_sample as reader_sample
from gpufleet.metrics.sample import FLEET_WIDE, FleetKey, FleetSample, PerPod, SignalResult
from gpufleet.settings import OperatorSettings
from gpufleet.sim.fleet import Fleet
from gpufleet.sim.llm import LlmProfile, LlmReplica, gap_quantile_s
from gpufleet.sim.metrics import MetricsPipeline, PodRates

SIM_FLEET: FleetKey = ("sim", "sim")
SUMMARY_MAX_AGE_S = 60.0
"""Triton's latency summaries report quantiles over the last minute."""
INSTANT_LOOKBACK_S = 300.0

_RATE_SIGNALS: dict[Signal, tuple[str, float]] = {
    Signal.SUCCESS_RATE: ("success", 1.0),
    Signal.UNSERVED_RATE: ("failure", 1.0),
    Signal.ERROR_RATE: ("errors", 1.0),
    Signal.INFERENCE_RATE: ("inferences", 1.0),
    Signal.EXEC_RATE: ("executions", 1.0),
    Signal.REQUEST_US_RATE: ("request_s", 1e6),
    Signal.QUEUE_US_RATE: ("queue_s", 1e6),
    Signal.COMPUTE_US_RATE: ("compute_s", 1e6),
}
_LLM_RATE_SIGNALS: dict[Signal, tuple[str, float]] = {
    Signal.SUCCESS_RATE: ("success", 1.0),
    Signal.UNSERVED_RATE: ("failure", 1.0),
    Signal.ERROR_RATE: ("errors", 1.0),
    Signal.PROMPT_TOKENS_RATE: ("prompt_tokens", 1.0),
    Signal.GENERATION_TOKENS_RATE: ("generation_tokens", 1.0),
    Signal.PREEMPTION_RATE: ("preemptions", 1.0),
}
VLLM_CODE = next(code for code, engine in ENGINE_CODES.items() if engine is Engine.VLLM)


def fleet_sample(
    metrics: MetricsPipeline, fleet: Fleet, now: float, operator: OperatorSettings
) -> FleetSample:
    """The reader's query results at ``now`` for the simulated ModelDeployment."""
    scrape = metrics.latest(now, INSTANT_LOOKBACK_S)
    pods = {} if scrape is None else scrape.pods
    freshness: PerPod = {str(p): s.at for p, s in pods.items()}
    pending: PerPod = {str(p): float(s.pending) for p, s in pods.items()}
    window_s = operator.rate_window_seconds
    rates: dict[str, PodRates] = {}
    for pod in pods:
        pod_rates = metrics.rates(pod, now, window_s)
        if pod_rates is not None:
            rates[str(pod)] = pod_rates
    scrapes: PerPod = {str(p): float(metrics.scrapes_within(p, now, window_s)) for p in pods}
    signals: dict[Signal, SignalResult] = {
        Signal.FRESHNESS: _result(freshness),
        Signal.SCRAPES: _result(scrapes),
        Signal.PENDING: _result(pending),
    }
    if isinstance(fleet.profile, LlmProfile):
        signals[Signal.ENGINE] = _result({str(p): float(VLLM_CODE) for p in pods})
        signals[Signal.RUNNING] = _result({str(p): float(s.running) for p, s in pods.items()})
        means = {p: metrics.mean_running(p, now, window_s) for p in pods}
        signals[Signal.RUNNING_MEAN] = _result(
            {str(p): m for p, m in means.items() if m is not None}
        )
        signals[Signal.KV_USAGE] = _result({str(p): s.kv_usage for p, s in pods.items()})
        window = (now - window_s, now)
        for signal, values in _llm_quantiles(fleet, window).items():
            signals[signal] = _result({FLEET_WIDE: values})
        rate_signals = _LLM_RATE_SIGNALS
    else:
        at = None if scrape is None else scrape.at
        signals[Signal.P95_US] = _result(_p95_us(fleet, list(pods), at))
        rate_signals = _RATE_SIGNALS
    for signal, (field, scale) in rate_signals.items():
        signals[signal] = _result({p: getattr(r, field) * scale for p, r in rates.items()})
    return reader_sample(operator, now, signals)


def _llm_quantiles(fleet: Fleet, window: tuple[float, float]) -> dict[Signal, float]:
    """Fleet-wide p95 TTFT, ITL, TPOT and end-to-end latency, and their p99s (ms), over
    the window: TTFTs of the first tokens that came in it (vLLM observes them then),
    the rest of the requests that finished in it; NaN when there were none
    (Prometheus's histogram_quantile of no data)."""
    ttft: list[float] = []
    tpot: list[float] = []
    e2e: list[float] = []
    gaps: list[float] = []
    counts: list[int] = []
    for pod in fleet.pods:
        if not isinstance(pod, LlmReplica):
            continue
        lo = bisect.bisect_right(pod.done_at, window[0])
        hi = bisect.bisect_right(pod.done_at, window[1])
        tpot += pod.done_tpot[lo:hi]
        lo = bisect.bisect_right(pod.gap_at, window[0])
        hi = bisect.bisect_right(pod.gap_at, window[1])
        gaps += pod.gap_s[lo:hi]
        counts += pod.gap_count[lo:hi]
        e2e += pod.done_latency[lo:hi]
        lo = bisect.bisect_right(pod.first_token_times, window[0])
        hi = bisect.bisect_right(pod.first_token_times, window[1])
        ttft += pod.first_token_ttft[lo:hi]

    def ms(values: list[float], quantile: float = 0.95) -> float:
        return float(np.quantile(values, quantile)) * 1000.0 if values else math.nan

    return {
        Signal.TTFT_P95_MS: ms(ttft),
        Signal.TPOT_P95_MS: ms(tpot),
        Signal.ITL_P95_MS: gap_quantile_s(gaps, counts, 0.95) * 1000.0,
        Signal.E2E_P95_MS: ms(e2e),
        Signal.TTFT_P99_MS: ms(ttft, 0.99),
        Signal.TPOT_P99_MS: ms(tpot, 0.99),
        Signal.ITL_P99_MS: gap_quantile_s(gaps, counts, 0.99) * 1000.0,
    }


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
