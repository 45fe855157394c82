"""The PromQL: a fixed set per tick, each grouped by the pod's identity labels."""

from __future__ import annotations

from gpufleet.metrics.queries import QUERY_TEMPLATES, Signal, build_queries
from gpufleet.settings import MetricLabels


def test_one_query_per_signal_grouped_by_pod() -> None:
    queries = build_queries(MetricLabels(), rate_window_seconds=30)
    assert set(queries) == set(Signal)
    assert len(queries) == len(QUERY_TEMPLATES)
    for promql in queries.values():
        assert "by (namespace, modeldeployment, pod)" in promql
        assert 'modeldeployment!=""' in promql


def test_rates_use_the_configured_window() -> None:
    queries = build_queries(MetricLabels(), rate_window_seconds=45)
    assert (
        'rate(nv_inference_request_success{modeldeployment!=""}[45s])'
        in queries[Signal.SUCCESS_RATE]
    )


def test_custom_label_names() -> None:
    labels = MetricLabels(namespace="kubernetes_namespace", modeldeployment="md", pod="pod_name")
    queries = build_queries(labels, rate_window_seconds=30)
    assert "by (kubernetes_namespace, md, pod_name)" in queries[Signal.PENDING]
    assert 'quantile="0.95",md!=""' in queries[Signal.P95_US]
