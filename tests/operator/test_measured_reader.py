"""The operator times each read of the fleet's metrics and counts the reads that fail, in
its own metrics: a read nearing the query timeout shows before the ticks go blind."""

from __future__ import annotations

import shutil

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpufleet.handlers.lifecycle import MeasuredReader
from gpufleet.metrics.reader import FleetMetricsReader
from gpufleet.observability.metrics import OperatorMetrics
from gpufleet.settings import OperatorSettings
from gpufleet_devtools.processes import free_port


def _value(metrics: OperatorMetrics, name: str) -> float:
    body = metrics.exposition().decode()
    return next(
        s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == name
    )


def _measured(url: str, metrics: OperatorMetrics) -> MeasuredReader:
    settings = OperatorSettings(prometheus_url=url, query_timeout_seconds=2.0)
    return MeasuredReader(FleetMetricsReader(settings), metrics)


async def test_every_read_is_timed_and_a_failed_one_counted() -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("the Debian prometheus binary is not installed")
    from gpufleet_devtools.prometheus import PrometheusServer

    metrics = OperatorMetrics()
    with PrometheusServer(scrape_interval_s=1.0) as prometheus:
        sample = await _measured(prometheus.url, metrics).sample()
    assert sample.read_error is None
    assert _value(metrics, "gpufleet_prometheus_read_duration_seconds_count") == 1
    assert _value(metrics, "gpufleet_prometheus_query_errors_total") == 0

    nobody = f"http://127.0.0.1:{free_port()}"
    sample = await _measured(nobody, metrics).sample()
    assert sample.read_error is not None
    assert _value(metrics, "gpufleet_prometheus_read_duration_seconds_count") == 2
    assert _value(metrics, "gpufleet_prometheus_query_errors_total") == 1
