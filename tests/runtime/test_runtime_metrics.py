"""Concurrent requests are really batched, and /metrics moves like Triton's, under its names."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import pytest
import tritonclient.http as httpclient

from gpufleet_devtools.runtime.example_models import IN_FEATURES
from gpufleet_devtools.runtime.process import ServerProcess

pytestmark = pytest.mark.slow

# The per-model metrics of tritonserver 2.51 (bundled with nvidia-pytriton), as it exports
# them with --metrics-config summary_latencies=true.
TRITON_COUNTERS = (
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
)
TRITON_SUMMARIES = (
    "nv_inference_request_summary_us",
    "nv_inference_queue_summary_us",
    "nv_inference_compute_input_summary_us",
    "nv_inference_compute_infer_summary_us",
    "nv_inference_compute_output_summary_us",
)


def send(server: ServerProcess, rows: int) -> npt.NDArray[np.float32]:
    client = httpclient.InferenceServerClient(server.http_url)
    tensor = httpclient.InferInput("INPUT0", [rows, IN_FEATURES], "FP32")
    tensor.set_data_from_numpy(np.ones((rows, IN_FEATURES), dtype=np.float32))
    return np.asarray(client.infer("mlp", [tensor]).as_numpy("OUTPUT0"), dtype=np.float32)


def mlp_metric(server: ServerProcess, name: str) -> float:
    return server.metric(name, model="mlp", version="2")


def test_metric_names_and_types_are_tritons(server: ServerProcess) -> None:
    send(server, 1)
    text = server.metrics_text()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))
    assert types["nv_inference_pending_request_count"] == "gauge"
    for name in TRITON_COUNTERS:
        assert types[name] == "counter"
    for name in TRITON_SUMMARIES:
        assert types[name] == "summary"
        for quantile in ("0.5", "0.9", "0.95", "0.99", "0.999"):
            assert server.metric(name, model="mlp", version="2", quantile=quantile) >= 0
    assert "_total" not in text
    for reason in ("OTHER", "BACKEND", "CANCELED", "REJECTED"):
        server.metric("nv_inference_request_failure", model="mlp", reason=reason)


def test_concurrent_requests_are_batched(server: ServerProcess) -> None:
    requests, rows = 24, 2
    before = {
        name: mlp_metric(server, name)
        for name in (
            "nv_inference_request_success",
            "nv_inference_count",
            "nv_inference_exec_count",
            "nv_inference_request_summary_us_count",
            "nv_inference_queue_duration_us",
        )
    }
    with ThreadPoolExecutor(max_workers=requests) as pool:
        results = list(pool.map(lambda _: send(server, rows), range(requests)))
    assert all(r.shape == (rows, 4) for r in results)
    executions = mlp_metric(server, "nv_inference_exec_count") - before["nv_inference_exec_count"]
    assert 1 <= executions < requests  # several requests shared each forward pass
    assert mlp_metric(server, "nv_inference_request_success") - before[
        "nv_inference_request_success"
    ] == pytest.approx(requests)
    assert mlp_metric(server, "nv_inference_count") - before["nv_inference_count"] == pytest.approx(
        requests * rows
    )
    assert mlp_metric(server, "nv_inference_request_summary_us_count") - before[
        "nv_inference_request_summary_us_count"
    ] == pytest.approx(requests)
    assert (
        mlp_metric(server, "nv_inference_queue_duration_us")
        > before["nv_inference_queue_duration_us"]
    )
    assert mlp_metric(server, "nv_inference_pending_request_count") == 0


def test_durations_accumulate_per_request(server: ServerProcess) -> None:
    before = mlp_metric(server, "nv_inference_request_duration_us")
    compute_before = mlp_metric(server, "nv_inference_compute_infer_duration_us")
    send(server, 3)
    request_us = mlp_metric(server, "nv_inference_request_duration_us") - before
    infer_us = mlp_metric(server, "nv_inference_compute_infer_duration_us") - compute_before
    assert request_us > 0
    assert 0 < infer_us <= request_us
    # The lone request waited for the batch to fill until the 20 ms queue delay expired.
    assert request_us >= 20_000
