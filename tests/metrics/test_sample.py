"""From one tick's query results to per-ModelDeployment observations: unknown is never zero."""

from __future__ import annotations

import math

import pytest

from gpufleet.metrics.queries import Signal
from gpufleet.metrics.sample import FleetSample, SignalResult

NOW = 1_000_000.0
KEY = ("prod", "llm")


def fleet_sample(
    pods: dict[str, float] | None = None,
    *,
    overrides: dict[Signal, SignalResult] | None = None,
    stale_after: float = 30.0,
) -> FleetSample:
    """Two pods each serving 5 req/s in batches of 2 (600 ms), 3 queued, p95 900 ms."""
    pods = pods if pods is not None else {"llm-a": NOW - 2, "llm-b": NOW - 2}
    per_pod = {
        Signal.FRESHNESS: 0.0,
        Signal.PENDING: 3.0,
        Signal.SUCCESS_RATE: 5.0,
        Signal.FAILURE_RATE: 0.0,
        Signal.INFERENCE_RATE: 5.0,
        Signal.EXEC_RATE: 2.5,
        Signal.REQUEST_US_RATE: 5.0 * 800_000,
        Signal.QUEUE_US_RATE: 5.0 * 200_000,
        Signal.COMPUTE_US_RATE: 2.5 * 600_000,
        Signal.P95_US: 900_000.0,
    }
    signals = {}
    for signal, value in per_pod.items():
        values = {p: (ts if signal is Signal.FRESHNESS else value) for p, ts in pods.items()}
        signals[signal] = SignalResult(values={KEY: values})
    signals.update(overrides or {})
    return FleetSample(at=NOW, stale_after_seconds=stale_after, signals=signals)


def test_fleet_signals_sum_over_pods() -> None:
    obs = fleet_sample().observations("prod", "llm", expected_pods=2)
    assert obs.request_rate == pytest.approx(10.0)
    assert obs.queue_depth == pytest.approx(6.0)
    assert obs.avg_latency_ms == pytest.approx(800.0)
    assert obs.avg_queue_ms == pytest.approx(200.0)
    assert obs.compute_ms_per_exec == pytest.approx(600.0)
    assert obs.inferences_per_exec == pytest.approx(2.0)
    assert obs.p95_latency_ms == pytest.approx(900.0)
    assert obs.pods_reporting == 2
    assert obs.unknown == {}


def test_a_stale_pod_makes_the_fleet_unknown_not_smaller() -> None:
    sample = fleet_sample({"llm-a": NOW - 2, "llm-b": NOW - 120})
    obs = sample.observations("prod", "llm", expected_pods=2)
    assert obs.request_rate is None
    assert obs.queue_depth is None
    assert "1 of 2 pods reporting" in obs.unknown["request_rate"]
    assert "llm-b" in obs.unknown["request_rate"]
    # What the fresh pod serves is known: a lower bound of the load, never a drop.
    assert obs.lower_bounds == {"request_rate": pytest.approx(5.0), "queue_depth": 3.0}


def test_a_missing_pod_makes_the_fleet_unknown() -> None:
    obs = fleet_sample({"llm-a": NOW - 2}).observations("prod", "llm", expected_pods=2)
    assert obs.request_rate is None
    assert obs.unknown["queue_depth"] == "1 of 2 pods reporting"
    assert obs.lower_bounds["queue_depth"] == pytest.approx(3.0)


def test_a_new_pod_without_a_rate_yet_leaves_a_lower_bound_of_the_rate() -> None:
    # A pod just became ready: scraped once, so rate() has no value for it yet.
    sample = fleet_sample({"llm-a": NOW - 2, "llm-b": NOW - 2, "llm-c": NOW - 2})
    for signal in (Signal.SUCCESS_RATE, Signal.EXEC_RATE, Signal.COMPUTE_US_RATE):
        del sample.signals[signal].values[KEY]["llm-c"]
    obs = sample.observations("prod", "llm", expected_pods=3)
    assert obs.request_rate is None
    assert "llm-c" in obs.unknown["request_rate"]
    assert obs.lower_bounds == {"request_rate": pytest.approx(10.0)}
    assert obs.queue_depth == pytest.approx(9.0)  # every pod has a pending gauge
    assert obs.compute_ms_per_exec is None  # a ratio needs both sides over the same pods


def test_a_complete_fleet_has_no_lower_bounds() -> None:
    assert fleet_sample().observations("prod", "llm", expected_pods=2).lower_bounds == {}


def test_all_pods_stale_leaves_no_lower_bound() -> None:
    sample = fleet_sample({"llm-a": NOW - 120, "llm-b": NOW - 120})
    obs = sample.observations("prod", "llm", expected_pods=2)
    assert obs.all_unknown
    assert obs.lower_bounds == {}
    assert "all pods stale" in obs.unknown["request_rate"]


def test_without_expectation_the_fresh_pods_count() -> None:
    sample = fleet_sample({"llm-a": NOW - 2, "llm-b": NOW - 120})
    obs = sample.observations("prod", "llm", expected_pods=None)
    assert obs.request_rate == pytest.approx(5.0)
    assert obs.pods_reporting == 1


def test_no_samples_at_all_is_unknown() -> None:
    obs = fleet_sample().observations("prod", "other", expected_pods=1)
    assert obs.all_unknown
    assert obs.unknown["request_rate"] == "no samples for this ModelDeployment"


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_or_inf_is_unknown(bad: float) -> None:
    broken = SignalResult(values={KEY: {"llm-a": bad, "llm-b": 1.0}})
    obs = fleet_sample(overrides={Signal.PENDING: broken}).observations("prod", "llm", 2)
    assert obs.queue_depth is None
    assert "NaN/Inf" in obs.unknown["queue_depth"]
    assert obs.request_rate == pytest.approx(10.0)


def test_a_failed_query_makes_its_signal_unknown() -> None:
    failed = SignalResult(error="HTTP Status Code 503")
    obs = fleet_sample(overrides={Signal.SUCCESS_RATE: failed}).observations("prod", "llm", 2)
    assert obs.request_rate is None
    assert obs.unknown["request_rate"] == "query failed: HTTP Status Code 503"
    assert obs.queue_depth == pytest.approx(6.0)


def test_prometheus_unreachable_makes_everything_unknown() -> None:
    sample = FleetSample(
        at=NOW, stale_after_seconds=30.0, signals={}, unreachable="ConnectionError: refused"
    )
    obs = sample.observations("prod", "llm", expected_pods=2)
    assert obs.all_unknown
    assert obs.unknown["queue_depth"] == "Prometheus unreachable: ConnectionError: refused"


def test_an_idle_fleet_has_zero_load_and_unknown_latency() -> None:
    idle = {
        s: SignalResult(values={KEY: {"llm-a": 0.0}})
        for s in (
            Signal.SUCCESS_RATE,
            Signal.EXEC_RATE,
            Signal.REQUEST_US_RATE,
            Signal.INFERENCE_RATE,
            Signal.QUEUE_US_RATE,
            Signal.COMPUTE_US_RATE,
            Signal.PENDING,
        )
    }
    nan_p95 = SignalResult(values={KEY: {"llm-a": math.nan}})
    sample = fleet_sample({"llm-a": NOW - 1}, overrides={**idle, Signal.P95_US: nan_p95})
    obs = sample.observations("prod", "llm", expected_pods=1)
    assert obs.request_rate == 0.0
    assert obs.queue_depth == 0.0
    assert obs.compute_ms_per_exec is None
    assert obs.p95_latency_ms is None
    assert obs.unknown["compute_ms_per_exec"] == "no requests in the rate window"
