"""The operator's own metrics (gpufleet.observability), as Prometheus would scrape them."""

from __future__ import annotations

import math
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpufleet import __version__
from gpufleet.observability.metrics import OperatorMetrics
from gpufleet_devtools.processes import free_port


def _samples(
    metrics: OperatorMetrics, text: bytes | None = None
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body = (text if text is not None else metrics.exposition()).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def _md(**extra: str) -> frozenset[tuple[str, str]]:
    return frozenset({"namespace": "models", "modeldeployment": "resnet50", **extra}.items())


def _publish(metrics: OperatorMetrics, **overrides: object) -> None:
    state: dict[str, object] = {
        "desired_replicas": 3, "ready_replicas": 2, "hourly_cost": 2.4, "max_hourly_cost": 8.0,
        "p95_latency_ms": 180.0, "slo_target_ms": 200.0, "slo_met": True,
        "metrics_available": True, "cost_capped": False,
    }  # fmt: skip
    state.update(overrides)
    metrics.set_state("models", "resnet50", **state)  # type: ignore[arg-type]


def test_modeldeployment_state_is_exported_in_base_units() -> None:
    metrics = OperatorMetrics()
    _publish(metrics)
    samples = _samples(metrics)
    assert samples[("gpufleet_modeldeployment_desired_replicas", _md())] == 3
    assert samples[("gpufleet_modeldeployment_ready_replicas", _md())] == 2
    assert samples[("gpufleet_modeldeployment_p95_latency_seconds", _md())] == pytest.approx(0.18)
    assert samples[("gpufleet_modeldeployment_slo_target_seconds", _md())] == pytest.approx(0.2)
    assert samples[("gpufleet_modeldeployment_hourly_cost_dollars", _md())] == pytest.approx(2.4)
    assert samples[("gpufleet_modeldeployment_budget_dollars_per_hour", _md())] == 8
    assert samples[("gpufleet_modeldeployment_slo_met", _md())] == 1
    assert samples[("gpufleet_modeldeployment_cost_capped", _md())] == 0
    assert samples[("gpufleet_build_info", frozenset({"version": __version__}.items()))] == 1


def test_unknown_latency_is_nan_not_zero() -> None:
    metrics = OperatorMetrics()
    _publish(metrics, p95_latency_ms=None, slo_met=None, metrics_available=False)
    samples = _samples(metrics)
    assert math.isnan(samples[("gpufleet_modeldeployment_p95_latency_seconds", _md())])
    assert math.isnan(samples[("gpufleet_modeldeployment_slo_met", _md())])
    assert samples[("gpufleet_modeldeployment_metrics_available", _md())] == 0


def test_failed_reconciles_are_counted_and_still_raise() -> None:
    metrics = OperatorMetrics()
    with metrics.time_reconcile("create"):
        pass
    with pytest.raises(RuntimeError), metrics.time_reconcile("update"):
        raise RuntimeError("API server said 409")
    samples = _samples(metrics)

    def kind(name: str) -> frozenset[tuple[str, str]]:
        return frozenset({"kind": name}.items())

    assert samples[("gpufleet_reconcile_total", kind("create"))] == 1
    assert samples[("gpufleet_reconcile_total", kind("update"))] == 1
    assert samples[("gpufleet_reconcile_errors_total", kind("update"))] == 1
    assert samples[("gpufleet_reconcile_errors_total", kind("create"))] == 0
    assert samples[("gpufleet_reconcile_duration_seconds_count", kind("update"))] == 1


def test_error_counters_exist_at_zero_before_the_first_error() -> None:
    # rate() only sees an increase from a sample it has seen: a series born at 1 never alerts.
    samples = _samples(OperatorMetrics())
    for kind in ("create", "update", "resume", "delete"):
        assert samples[("gpufleet_reconcile_errors_total", frozenset({"kind": kind}.items()))] == 0
    assert samples[("gpufleet_scaling_tick_errors_total", frozenset())] == 0


def test_ticks_and_decisions_are_counted() -> None:
    metrics = OperatorMetrics()
    for _ in range(3):
        with metrics.time_tick():
            metrics.record_decision("models", "resnet50", "ScaleUpQueue")
    with pytest.raises(TimeoutError), metrics.time_tick():
        raise TimeoutError
    metrics.prometheus_query_errors_total.inc()
    samples = _samples(metrics)
    assert samples[("gpufleet_scaling_ticks_total", frozenset())] == 4
    assert samples[("gpufleet_scaling_tick_errors_total", frozenset())] == 1
    assert samples[("gpufleet_scaling_tick_duration_seconds_count", frozenset())] == 4
    assert samples[("gpufleet_prometheus_query_errors_total", frozenset())] == 1
    decisions = ("gpufleet_scaling_decisions_total", _md(reason_code="ScaleUpQueue"))
    assert samples[decisions] == 3


def test_replicas_overridden_count_from_zero() -> None:
    metrics = OperatorMetrics()
    overridden = ("gpufleet_replicas_overridden_total", _md())
    # At 0 from the first tick, so that the first override is an increase to an alert.
    _publish(metrics)
    assert _samples(metrics)[overridden] == 0
    metrics.count_replicas_overridden("models", "resnet50")
    metrics.count_replicas_overridden("models", "resnet50")
    assert _samples(metrics)[overridden] == 2


def test_a_deleted_modeldeployment_disappears() -> None:
    metrics = OperatorMetrics()
    _publish(metrics)
    metrics.record_decision("models", "resnet50", "Steady")
    metrics.count_replicas_overridden("models", "resnet50")
    metrics.set_state(
        "models", "bert", desired_replicas=1, ready_replicas=1, hourly_cost=0.8,
        max_hourly_cost=2.0, p95_latency_ms=50.0, slo_target_ms=100.0, slo_met=True,
        metrics_available=True, cost_capped=False,
    )  # fmt: skip
    metrics.forget("models", "resnet50")
    metrics.forget("models", "never-published")
    text = metrics.exposition().decode()
    assert 'modeldeployment="resnet50"' not in text
    assert 'modeldeployment="bert"' in text


def test_instances_do_not_share_state() -> None:
    first, second = OperatorMetrics(), OperatorMetrics()
    first.scaling_ticks_total.inc()
    assert _samples(second)[("gpufleet_scaling_ticks_total", frozenset())] == 0


@pytest.mark.slow
def test_metrics_are_served_over_http() -> None:
    metrics = OperatorMetrics()
    _publish(metrics)
    port = free_port()
    server = metrics.serve(port, addr="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert response.status == 200
            body = response.read()
    finally:
        server.shutdown()
    samples = _samples(metrics, body)
    assert samples[("gpufleet_modeldeployment_desired_replicas", _md())] == 3
