"""The PromQL: a fixed set per tick, each grouped by the pod's identity labels."""

from __future__ import annotations

import re

import pytest

from gpufleet.metrics.queries import (
    QUERIES,
    QUERY_BY_SIGNAL,
    Engine,
    Signal,
    Source,
    build_queries,
)
from gpufleet.settings import MetricLabels


def test_one_query_per_signal_grouped_by_pod_or_fleet() -> None:
    queries = build_queries(MetricLabels(), rate_window_seconds=30)
    assert set(queries) == set(Signal)
    assert len(queries) == len(QUERIES)
    for signal, promql in queries.items():
        # Triton's per-model metrics are grouped by model too (the reader keeps one's).
        grouping = (
            r"namespace, modeldeployment, pod(, model)?"
            if QUERY_BY_SIGNAL[signal].per_pod
            else r"namespace, modeldeployment(, model)?, le"
        )
        assert re.search(rf"by \({grouping}\)", promql), signal
        assert 'modeldeployment!=""' in promql


def test_rates_use_the_configured_window() -> None:
    queries = build_queries(MetricLabels(), rate_window_seconds=45)
    assert (
        'rate(nv_inference_request_success{modeldeployment!=""}[45s])'
        in queries[Signal.SUCCESS_RATE]
    )


def test_an_operator_of_some_namespaces_selects_only_their_pods() -> None:
    labels = MetricLabels(namespace="kubernetes_namespace")
    queries = build_queries(labels, rate_window_seconds=30, namespaces=("team-b", "team-a"))
    for signal, promql in queries.items():
        selectors = re.findall(r"\{[^{}]*\}", promql)
        assert selectors, signal
        for selector in selectors:
            assert 'kubernetes_namespace=~"team-a|team-b"' in selector, (signal, selector)


def test_custom_label_names() -> None:
    labels = MetricLabels(namespace="kubernetes_namespace", modeldeployment="md", pod="pod_name")
    queries = build_queries(labels, rate_window_seconds=30)
    assert "by (kubernetes_namespace, md, pod_name)" in queries[Signal.PENDING]
    assert 'quantile="0.95",md!=""' in queries[Signal.P95_US]
    assert "by (kubernetes_namespace, md, le)" in queries[Signal.TTFT_P95_MS]


@pytest.mark.parametrize(
    ("signal", "metric"),
    [
        (Signal.PENDING, "vllm:num_requests_waiting"),
        (Signal.PENDING, 'nv_trt_llm_request_metrics{request_type="waiting"'),
        (Signal.PENDING, "nv_inference_pending_request_count"),
        (Signal.RUNNING, "vllm:num_requests_running"),
        (Signal.RUNNING, 'nv_trt_llm_request_metrics{request_type="scheduled"'),
        (Signal.RUNNING_MEAN, "avg_over_time(vllm:num_requests_running"),
        (
            Signal.RUNNING_MEAN,
            'avg_over_time(nv_trt_llm_request_metrics{request_type="scheduled"',
        ),
        (Signal.KV_USAGE, "vllm:kv_cache_usage_perc"),
        (Signal.KV_USAGE, "vllm:gpu_cache_usage_perc"),
        (Signal.KV_USAGE, 'nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="used"'),
        (Signal.KV_USAGE, 'nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="max"'),
        (Signal.TTFT_P95_MS, "vllm:time_to_first_token_seconds_bucket"),
        (Signal.TTFT_P95_MS, "nv_inference_first_response_histogram_ms_bucket"),
        (Signal.ITL_P95_MS, "vllm:inter_token_latency_seconds_bucket"),
        (Signal.ITL_P95_MS, "vllm:time_per_output_token_seconds_bucket"),
        (Signal.TTFT_P99_MS, "histogram_quantile(0.99, "),
        (Signal.TTFT_P99_MS, "vllm:time_to_first_token_seconds_bucket"),
        (Signal.TTFT_P99_MS, "nv_inference_first_response_histogram_ms_bucket"),
        (Signal.ITL_P99_MS, "histogram_quantile(0.99, "),
        (Signal.ITL_P99_MS, "vllm:inter_token_latency_seconds_bucket"),
        (Signal.ITL_P99_MS, "vllm:time_per_output_token_seconds_bucket"),
        (Signal.TPOT_P95_MS, "vllm:request_time_per_output_token_seconds_bucket"),
        (Signal.TPOT_P99_MS, "histogram_quantile(0.99, "),
        (Signal.TPOT_P99_MS, "vllm:request_time_per_output_token_seconds_bucket"),
        (Signal.E2E_P95_MS, "vllm:e2e_request_latency_seconds_bucket"),
        (Signal.PROMPT_TOKENS_RATE, "vllm:prompt_tokens_total"),
        (Signal.PROMPT_TOKENS_RATE, "nv_llm_input_token_len_sum"),
        (Signal.GENERATION_TOKENS_RATE, "vllm:generation_tokens_total"),
        (Signal.GENERATION_TOKENS_RATE, "nv_llm_output_token_len_sum"),
        (Signal.PREEMPTION_RATE, "vllm:num_preemptions_total"),
        (Signal.SUCCESS_RATE, "nv_inference_request_success"),
        (Signal.SUCCESS_RATE, 'vllm:request_success_total{finished_reason!~"abort|error"'),
        (Signal.UNSERVED_RATE, 'vllm:request_success_total{finished_reason="abort"'),
        (Signal.UNSERVED_RATE, 'nv_inference_request_failure{reason!~"BACKEND|OTHER"'),
        (Signal.ERROR_RATE, 'vllm:request_success_total{finished_reason="error"'),
        (Signal.ERROR_RATE, 'nv_inference_request_failure{reason=~"BACKEND|OTHER"'),
    ],
)
def test_every_documented_metric_name_is_read(signal: Signal, metric: str) -> None:
    assert metric in build_queries(MetricLabels(), rate_window_seconds=30)[signal]


def test_classic_triton_exports_no_llm_signal() -> None:
    llm = (
        Signal.RUNNING,
        Signal.RUNNING_MEAN,
        Signal.KV_USAGE,
        Signal.TTFT_P95_MS,
        Signal.ITL_P95_MS,
        Signal.TTFT_P99_MS,
        Signal.ITL_P99_MS,
        Signal.TPOT_P95_MS,
        Signal.TPOT_P99_MS,
    )
    assert all(Engine.TRITON not in QUERY_BY_SIGNAL[s].engines for s in llm)
    assert all(Engine.VLLM in QUERY_BY_SIGNAL[s].engines for s in llm)


TRITON_PER_MODEL = "nv_inference_"
"""Triton core's metrics, exported once per model of the server (an ensemble and each of
its composing models): summed over a pod's models, an ensemble's request counts 4x."""


def _sources() -> list[tuple[Signal, Source]]:
    return [(q.signal, s) for q in QUERIES for s in q.sources]


def test_triton_per_model_metrics_are_kept_per_model() -> None:
    """Every source over Triton's per-model series keeps the model label (the reader picks
    the entry model's); only a pod's scrape time, scrape count and engine take any."""
    whole_pod = {Signal.FRESHNESS, Signal.SCRAPES, Signal.ENGINE}
    for signal, source in _sources():
        if signal in whole_pod:
            assert not source.per_model, signal
        elif TRITON_PER_MODEL in source.promql:
            assert source.per_model, (signal, source.promql)
            assert "by ($by, $model)" in source.promql or "by ($fleet, $model, le)" in (
                source.promql
            ), (signal, source.promql)
        else:  # vLLM's, and the TensorRT-LLM backend's own (one model's, summed as before)
            assert not source.per_model, (signal, source.promql)


@pytest.mark.parametrize(
    ("signal", "text"),
    [
        # The backend's waiting requests first; Triton's pending, per model, for pods
        # without them: matched on the pod, as the model label is Triton's only.
        (
            Signal.PENDING,
            "or on (namespace, modeldeployment, pod) (sum by (namespace, modeldeployment, "
            "pod, model) (nv_inference_pending_request_count",
        ),
        # Triton's served first (a Triton vLLM-backend pod exports both); vLLM's for pods
        # without Triton's, its idle 0 among them, not beside Triton's models.
        (
            Signal.SUCCESS_RATE,
            "or on (namespace, modeldeployment, pod) ((sum by (namespace, modeldeployment, "
            'pod) (rate(vllm:request_success_total{finished_reason!~"abort|error"',
        ),
        # A Triton model without failure series is idle: each model falls back on its own.
        (
            Signal.UNSERVED_RATE,
            "((sum by (namespace, modeldeployment, pod, model) (rate(nv_inference_request_"
            'failure{reason!~"BACKEND|OTHER",modeldeployment!=""}[30s]))) or (0 * sum by '
            "(namespace, modeldeployment, pod, model) (rate(nv_inference_request_success",
        ),
        (
            Signal.TTFT_P95_MS,
            "or on (namespace, modeldeployment) (histogram_quantile(0.95, sum by (namespace, "
            "modeldeployment, model, le) (rate(nv_inference_first_response_histogram_ms_bucket",
        ),
    ],
)
def test_precedence_across_per_model_and_per_pod_sources_matches_on_the_pod(
    signal: Signal, text: str
) -> None:
    assert text in build_queries(MetricLabels(), rate_window_seconds=30)[signal]


def test_custom_label_names_in_per_model_precedence() -> None:
    labels = MetricLabels(namespace="kubernetes_namespace", modeldeployment="md", pod="pod_name")
    queries = build_queries(labels, rate_window_seconds=30)
    assert "or on (kubernetes_namespace, md, pod_name) (" in queries[Signal.PENDING]
    assert "by (kubernetes_namespace, md, pod_name, model)" in queries[Signal.PENDING]
    assert "or on (kubernetes_namespace, md) (" in queries[Signal.TTFT_P95_MS]
