"""From one tick's query results to per-ModelDeployment observations: unknown is never zero."""

from __future__ import annotations

import math
from dataclasses import replace

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
    """Two Triton pods each serving 5 req/s in batches of 2 that take 600 ms, 3 queued,
    p95 900 ms. Triton credits each request with its whole batch's compute time."""
    pods = pods if pods is not None else {"llm-a": NOW - 2, "llm-b": NOW - 2}
    per_pod = {
        Signal.FRESHNESS: 0.0,
        Signal.PENDING: 3.0,
        Signal.SUCCESS_RATE: 5.0,
        Signal.UNSERVED_RATE: 0.0,
        Signal.ERROR_RATE: 0.0,
        Signal.INFERENCE_RATE: 5.0,
        Signal.EXEC_RATE: 2.5,
        Signal.REQUEST_US_RATE: 5.0 * 800_000,
        Signal.QUEUE_US_RATE: 5.0 * 200_000,
        Signal.COMPUTE_US_RATE: 5.0 * 600_000,
        Signal.P95_US: 900_000.0,
    }
    signals = {}
    for signal, value in per_pod.items():
        values = {p: (ts if signal is Signal.FRESHNESS else value) for p, ts in pods.items()}
        signals[signal] = SignalResult(values={KEY: values})
    signals.update(overrides or {})
    return FleetSample(at=NOW, stale_after_seconds=stale_after, signals=signals, warm_up_seconds=10)


def test_fleet_signals_sum_over_pods() -> None:
    obs = fleet_sample().observations("prod", "llm", expected_pods=2)
    assert obs.request_rate == pytest.approx(10.0)
    assert obs.queue_depth == pytest.approx(6.0)
    assert obs.avg_latency_ms == pytest.approx(800.0)
    assert obs.avg_queue_ms == pytest.approx(200.0)
    assert obs.compute_ms_per_request == pytest.approx(600.0)
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
    assert obs.lower_bounds["request_rate"] == pytest.approx(5.0)
    assert obs.lower_bounds["queue_depth"] == 3.0


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
    assert obs.lower_bounds == {
        "request_rate": pytest.approx(10.0),
        "served_rate": pytest.approx(10.0),
    }
    assert obs.queue_depth == pytest.approx(9.0)  # every pod has a pending gauge
    assert obs.compute_ms_per_request is None  # a ratio needs both sides over the same pods


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


def test_a_failed_read_makes_everything_unknown_with_its_reason() -> None:
    sample = FleetSample(
        at=NOW,
        stale_after_seconds=30.0,
        signals={},
        read_error="Prometheus unreachable: ConnectionError: refused",
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
    assert obs.compute_ms_per_request is None
    assert obs.p95_latency_ms is None
    assert obs.unknown["compute_ms_per_request"] == "no requests in the rate window"


def per_pod(values: dict[str, float]) -> SignalResult:
    return SignalResult(values={KEY: values})


def triton_pods(requests_per_s: float, batch: float, batch_ms: float) -> dict[Signal, SignalResult]:
    """Triton's counters for one pod serving ``requests_per_s`` in batches of ``batch``
    requests that each take ``batch_ms``: every request is credited the batch's time,
    and each execution counts once."""
    rates = {
        Signal.SUCCESS_RATE: requests_per_s,
        Signal.INFERENCE_RATE: requests_per_s,
        Signal.EXEC_RATE: requests_per_s / batch,
        Signal.COMPUTE_US_RATE: requests_per_s * batch_ms * 1000.0,
    }
    return {signal: per_pod({"llm-a": value}) for signal, value in rates.items()}


@pytest.mark.parametrize(
    ("requests_per_s", "batch", "batch_ms"),
    [
        (10.0, 1.0, 20.0),
        (40.0, 4.0, 50.0),
        (160.0, 16.0, 80.0),
        (3.0, 2.5, 400.0),
    ],
)
def test_one_batch_time_from_per_request_credited_compute(
    requests_per_s: float, batch: float, batch_ms: float
) -> None:
    sample = fleet_sample(
        {"llm-a": NOW - 1}, overrides=triton_pods(requests_per_s, batch, batch_ms)
    )
    obs = sample.observations("prod", "llm", expected_pods=1)
    assert obs.compute_ms_per_request == pytest.approx(batch_ms)
    assert obs.inferences_per_exec == pytest.approx(batch)
    assert obs.served_rate == pytest.approx(requests_per_s)


def test_requests_unserved_for_want_of_capacity_are_demand_errors_are_not() -> None:
    sample = fleet_sample(
        overrides={
            Signal.UNSERVED_RATE: per_pod({"llm-a": 2.0, "llm-b": 1.0}),
            Signal.ERROR_RATE: per_pod({"llm-a": 4.0, "llm-b": 0.0}),
        }
    )
    obs = sample.observations("prod", "llm", expected_pods=2)
    assert obs.served_rate == pytest.approx(10.0)
    assert obs.unserved_rate == pytest.approx(3.0)
    assert obs.error_rate == pytest.approx(4.0)
    assert obs.request_rate == pytest.approx(13.0)


def scraped(counts: dict[str, float]) -> dict[Signal, SignalResult]:
    return {Signal.SCRAPES: per_pod(counts)}


def test_a_pod_scraped_once_is_warming_not_lost() -> None:
    # Scaled 2 -> 3: the new pod was scraped once, so rate() has nothing for it yet.
    sample = fleet_sample(
        {"llm-a": NOW - 2, "llm-b": NOW - 2, "llm-c": NOW - 1},
        overrides=scraped({"llm-a": 6, "llm-b": 6, "llm-c": 1}),
    )
    for signal in (Signal.SUCCESS_RATE, Signal.UNSERVED_RATE, Signal.ERROR_RATE, Signal.EXEC_RATE):
        del sample.signals[signal].values[KEY]["llm-c"]
    obs = sample.observations("prod", "llm", expected_pods=3)
    assert obs.unknown == {}
    assert obs.request_rate == pytest.approx(10.0)
    assert obs.queue_depth == pytest.approx(9.0)
    # Known, and flagged as what it is: the new pod's share is not in the sums.
    assert obs.lower_bounds["request_rate"] == pytest.approx(10.0)
    assert obs.lower_bounds["queue_depth"] == pytest.approx(9.0)


def test_a_pod_scraped_twice_without_rates_is_a_loss() -> None:
    sample = fleet_sample(
        {"llm-a": NOW - 2, "llm-b": NOW - 2}, overrides=scraped({"llm-a": 6, "llm-b": 2})
    )
    del sample.signals[Signal.SUCCESS_RATE].values[KEY]["llm-b"]
    obs = sample.observations("prod", "llm", expected_pods=2)
    assert obs.request_rate is None
    assert "llm-b" in obs.unknown["request_rate"]


@pytest.mark.parametrize(
    ("ready_for_s", "known"),
    [(3.0, True), (9.0, True), (11.0, False), (300.0, False)],
)
def test_a_ready_pod_not_yet_scraped_is_lost_only_after_the_warm_up(
    ready_for_s: float, known: bool
) -> None:
    # Two pods report; a third became ready ready_for_s ago (warm-up: 10 s).
    ready = {"llm-a": NOW - 600, "llm-b": NOW - 600, "llm-c": NOW - ready_for_s}
    obs = fleet_sample().observations("prod", "llm", expected_pods=3, ready_since=ready)
    assert (obs.request_rate is not None) is known
    if known:
        assert obs.unknown == {}
        assert obs.lower_bounds["request_rate"] == pytest.approx(10.0)
    else:
        assert obs.unknown["request_rate"] == "2 of 3 pods reporting"


def test_the_first_pod_of_a_fleet_warming_up_is_not_unknown() -> None:
    # Scale from zero: the only pod just became ready and Prometheus has not seen it.
    sample = fleet_sample({})
    obs = sample.observations("prod", "llm", 1, ready_since={"llm-a": NOW - 2})
    assert obs.request_rate == 0.0
    assert obs.lower_bounds["request_rate"] == 0.0
    assert "request_rate" not in obs.unknown


def vllm_fleet(**overrides: SignalResult) -> FleetSample:
    """Two vLLM pods: 4 and 6 req/s, 1 and 3 waiting, KV 0.5 and 0.9."""
    pods = {"v-a": NOW - 1, "v-b": NOW - 1}
    signals = {
        Signal.FRESHNESS: per_pod(pods),
        Signal.ENGINE: per_pod({"v-a": 2.0, "v-b": 2.0}),
        Signal.PENDING: per_pod({"v-a": 1.0, "v-b": 3.0}),
        Signal.RUNNING: per_pod({"v-a": 8.0, "v-b": 12.0}),
        Signal.RUNNING_MEAN: per_pod({"v-a": 6.5, "v-b": 10.0}),
        Signal.SUCCESS_RATE: per_pod({"v-a": 4.0, "v-b": 6.0}),
        Signal.UNSERVED_RATE: per_pod({"v-a": 0.0, "v-b": 0.5}),
        Signal.ERROR_RATE: per_pod({"v-a": 0.0, "v-b": 0.0}),
        Signal.REQUEST_US_RATE: per_pod({"v-a": 4.0 * 2e6, "v-b": 6.0 * 2e6}),
        Signal.QUEUE_US_RATE: per_pod({"v-a": 0.0, "v-b": 6.0 * 1e5}),
        Signal.KV_USAGE: per_pod({"v-a": 0.5, "v-b": 0.9}),
        Signal.PROMPT_TOKENS_RATE: per_pod({"v-a": 2000.0, "v-b": 3000.0}),
        Signal.GENERATION_TOKENS_RATE: per_pod({"v-a": 400.0, "v-b": 600.0}),
        Signal.PREEMPTION_RATE: per_pod({"v-a": 0.0, "v-b": 0.25}),
        Signal.E2E_P95_MS: SignalResult(values={KEY: {"": 3500.0}}),
        Signal.TTFT_P95_MS: SignalResult(values={KEY: {"": 420.0}}),
        Signal.ITL_P95_MS: SignalResult(values={KEY: {"": 35.0}}),
        Signal.TTFT_P99_MS: SignalResult(values={KEY: {"": 900.0}}),
        Signal.ITL_P99_MS: SignalResult(values={KEY: {"": 60.0}}),
        Signal.TPOT_P95_MS: SignalResult(values={KEY: {"": 30.0}}),
        Signal.TPOT_P99_MS: SignalResult(values={KEY: {"": 45.0}}),
        **{Signal(k): v for k, v in overrides.items()},
    }
    return FleetSample(at=NOW, stale_after_seconds=30.0, signals=signals)


def test_a_vllm_fleet_reads_its_llm_signals() -> None:
    obs = vllm_fleet().observations("prod", "llm", expected_pods=2)
    assert obs.unknown == {}
    assert obs.queue_depth == 4.0
    assert obs.running_requests == 20.0
    assert obs.mean_running_requests == 16.5
    assert obs.served_rate == pytest.approx(10.0)
    assert obs.request_rate == pytest.approx(10.5)
    assert obs.kv_cache_usage == pytest.approx(0.7)
    assert obs.kv_cache_usage_max == pytest.approx(0.9)
    assert obs.prompt_tokens_rate == 5000.0
    assert obs.generation_tokens_rate == 1000.0
    assert obs.preemption_rate == 0.25
    assert obs.ttft_p95_ms == 420.0
    assert obs.itl_p95_ms == 35.0
    assert (obs.ttft_p99_ms, obs.itl_p99_ms) == (900.0, 60.0)
    assert (obs.tpot_p95_ms, obs.tpot_p99_ms) == (30.0, 45.0)
    assert obs.p95_latency_ms == 3500.0
    assert obs.avg_latency_ms == pytest.approx(2000.0)
    # Batches are Triton's notion: vLLM does not export them, and that is not "unknown".
    assert obs.compute_ms_per_request is None
    assert obs.inferences_per_exec is None


def test_an_idle_vllm_fleet_has_unknown_token_latencies_with_a_reason() -> None:
    nan = SignalResult(values={KEY: {"": math.nan}})
    obs = vllm_fleet(ttft_p95_ms=nan, itl_p95_ms=nan, ttft_p99_ms=nan, itl_p99_ms=nan).observations(
        "prod", "llm", 2
    )
    assert obs.ttft_p95_ms is None
    assert obs.unknown["ttft_p95_ms"] == "no requests lately"
    assert obs.ttft_p99_ms is None
    assert obs.unknown["itl_p99_ms"] == "no requests lately"
    assert obs.queue_depth == 4.0


def test_a_vllm_release_without_the_tpot_histogram_leaves_only_tpot_unknown() -> None:
    signals = dict(vllm_fleet().signals)
    del signals[Signal.TPOT_P95_MS], signals[Signal.TPOT_P99_MS]
    obs = FleetSample(at=NOW, stale_after_seconds=30.0, signals=signals).observations(
        "prod", "llm", 2
    )
    assert obs.tpot_p95_ms is None
    assert obs.unknown == {
        "tpot_p95_ms": "no tpot_p95_ms sample",
        "tpot_p99_ms": "no tpot_p99_ms sample",
    }
    assert obs.itl_p95_ms == 35.0


def test_a_vllm_pod_without_a_kv_gauge_makes_kv_unknown() -> None:
    obs = vllm_fleet(kv_usage=per_pod({"v-a": 0.5})).observations("prod", "llm", 2)
    assert obs.kv_cache_usage is None
    assert obs.kv_cache_usage_max is None
    assert "v-b" in obs.unknown["kv_cache_usage"]


def test_a_classic_triton_fleet_has_no_llm_signals_and_does_not_miss_them() -> None:
    obs = fleet_sample().observations("prod", "llm", expected_pods=2)
    assert obs.ttft_p95_ms is None
    assert obs.kv_cache_usage is None
    assert obs.running_requests is None
    assert obs.mean_running_requests is None
    assert obs.unknown == {}


def test_a_pod_younger_than_the_rate_window_gives_lower_bounds() -> None:
    # rate() over a series younger than its window extrapolates from less time, so a
    # pod scraped 3 times of the window's 6 reports less than it serves.
    sample = replace(
        fleet_sample(overrides=scraped({"llm-a": 6, "llm-b": 3})),
        rate_window_seconds=30.0,
        scrape_interval_seconds=5.0,
    )
    obs = sample.observations("prod", "llm", expected_pods=2)
    assert obs.unknown == {}
    assert obs.request_rate == pytest.approx(10.0)
    assert obs.lower_bounds["request_rate"] == pytest.approx(10.0)
    settled = replace(sample, signals={**sample.signals, **scraped({"llm-a": 6, "llm-b": 6})})
    assert settled.observations("prod", "llm", expected_pods=2).lower_bounds == {}


@pytest.mark.parametrize(
    ("scrapes", "ready_for_s", "new_pod_rate"),
    [
        # Ready 8 s ago, scraped twice of the 30 s window's 6 intervals: rate() divided
        # what at most 2.6 intervals held by all 6, so the pod serves at least 6 / 2.6 of it.
        (2, 8.0, 5.0 * 6 / 2.6),
        (3, 14.0, 5.0 * 6 / 3.6),
        (5, 24.0, 5.0 * 6 / 5.6),
        # Ready for longer than the window, yet short of samples: it missed scrapes, and
        # its series spans the window: as read.
        (3, 45.0, 5.0),
        # Span the window: no rescaling.
        (6, 24.0, 5.0),
    ],
)
def test_a_new_pods_rates_are_rescaled_for_what_rate_understates_of_a_young_series(
    scrapes: int, ready_for_s: float, new_pod_rate: float
) -> None:
    sample = replace(
        fleet_sample(overrides=scraped({"llm-a": 6, "llm-b": scrapes})),
        rate_window_seconds=30.0,
        scrape_interval_seconds=5.0,
    )
    ready_since = {"llm-a": NOW - 600.0, "llm-b": NOW - ready_for_s}
    obs = sample.observations("prod", "llm", expected_pods=2, ready_since=ready_since)
    assert obs.served_rate == pytest.approx(5.0 + new_pod_rate)
    # Still a lower bound while the pod is short of samples; ratios of two rates unmoved.
    assert ("request_rate" in obs.lower_bounds) is (scrapes < 6)
    assert obs.compute_ms_per_request == pytest.approx(600.0)
    assert obs.inferences_per_exec == pytest.approx(2.0)


def test_without_the_pods_readiness_no_rate_is_rescaled() -> None:
    sample = replace(
        fleet_sample(overrides=scraped({"llm-a": 6, "llm-b": 2})),
        rate_window_seconds=30.0,
        scrape_interval_seconds=5.0,
    )
    assert sample.observations("prod", "llm", expected_pods=2).served_rate == pytest.approx(10.0)


def test_the_ready_pods_are_the_expected_ones_when_no_count_is_given() -> None:
    ready = {"llm-a": NOW - 600, "llm-b": NOW - 600, "llm-c": NOW - 600}
    obs = fleet_sample().observations("prod", "llm", expected_pods=None, ready_since=ready)
    assert obs.request_rate is None
    assert obs.unknown["request_rate"] == "2 of 3 pods reporting"


def test_an_unreadable_engine_code_reads_as_triton() -> None:
    sample = fleet_sample(overrides={Signal.ENGINE: per_pod({"llm-a": math.nan, "llm-b": 1.0})})
    obs = sample.observations("prod", "llm", expected_pods=2)
    assert obs.compute_ms_per_request == pytest.approx(600.0)


@pytest.mark.parametrize(
    ("last_scraped_ago_s", "scrapes", "warming"),
    [
        # 5 s scrapes, a 30 s window: samples 5.5 .. 25.5 s old, the one due 0.5 s ago
        # still being stored: the series spans the window, one sample short.
        (5.5, 5, False),
        # The same count ending 0.5 s ago: nothing in the window's first 9.5 s, a new pod.
        (0.5, 5, True),
        (0.5, 6, False),
        (0.5, 1, True),
    ],
)
def test_a_pod_is_warming_only_while_its_series_is_younger_than_the_window(
    last_scraped_ago_s: float, scrapes: int, warming: bool
) -> None:
    # A warming pod turns the fleet's load into lower bounds, on which it never scales
    # down: a scrape in flight at every tick must not do that to a fleet of many pods.
    sample = replace(
        fleet_sample(
            {"llm-a": NOW - 0.5, "llm-b": NOW - last_scraped_ago_s},
            overrides=scraped({"llm-a": 6, "llm-b": scrapes}),
        ),
        rate_window_seconds=30.0,
        scrape_interval_seconds=5.0,
    )
    obs = sample.observations("prod", "llm", expected_pods=2)
    assert ("served_rate" in obs.lower_bounds) is warming


def young_pod_sample(scrapes_a: float) -> FleetSample:
    """llm-b's series began within the window; its counters read 9 inferences per
    execution and 900 ms of compute per request, as rate() can skew a young series."""
    return replace(
        fleet_sample(
            overrides={
                **scraped({"llm-a": scrapes_a, "llm-b": 3}),
                Signal.EXEC_RATE: per_pod({"llm-a": 2.5, "llm-b": 5.0 / 9}),
                Signal.COMPUTE_US_RATE: per_pod({"llm-a": 5.0 * 600_000, "llm-b": 5.0 * 900_000}),
            }
        ),
        rate_window_seconds=30.0,
        scrape_interval_seconds=5.0,
    )


def test_ratios_of_two_rates_leave_a_young_series_out() -> None:
    obs = young_pod_sample(scrapes_a=6).observations("prod", "llm", expected_pods=2)
    assert obs.inferences_per_exec == pytest.approx(2.0)
    assert obs.compute_ms_per_request == pytest.approx(600.0)
    assert obs.served_rate == pytest.approx(10.0)  # its load counts, as a lower bound
    assert "served_rate" in obs.lower_bounds


def test_while_every_pod_is_young_ratios_are_read_from_them_all() -> None:
    # A new fleet's first rate window: a skewed batch size sizes it better than none.
    obs = young_pod_sample(scrapes_a=2).observations("prod", "llm", expected_pods=2)
    assert obs.inferences_per_exec == pytest.approx(10.0 / (2.5 + 5.0 / 9))
    assert obs.compute_ms_per_request == pytest.approx((600.0 + 900.0) / 2)
    assert obs.served_rate == pytest.approx(10.0)
