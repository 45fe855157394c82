"""Triton's statistics extension, read with tritonclient as users and perf_analyzer read it.

A server of its own runs one model, so every count below is absolute: a known set of
requests goes in (a dynamic batch of several requests, a lone request, a failing one) and the
counts a user checks come out, through HTTP and gRPC alike. The last test sends the same
requests to the real ``tritonserver`` (nvidia-pytriton's) and compares the answers' shapes
and the error answers.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from gpufleet_devtools.runtime.example_models import IN_FEATURES, mlp_config, write_model
from gpufleet_devtools.runtime.process import ServerProcess, start_server
from tests.runtime.conftest import Fragile

pytestmark = pytest.mark.slow

MODEL = "counted"
MAX_BATCH = 8
# Long enough that a batch is only cut early for a request sent alone: the concurrent group
# below fills a whole batch (8 rows) and runs at once, however slowly its requests arrive.
QUEUE_DELAY_US = 2_000_000
FAILING_VALUE = 1000.0  # Fragile fails on any input above 100


def _statistics_server(tmp: Path, name: str) -> ServerProcess:
    repo = tmp / "repository"
    config = mlp_config(name, MAX_BATCH, QUEUE_DELAY_US, out_features=IN_FEATURES)
    write_model(repo, name, Fragile(), config)
    return start_server(repo, tmp / "server.log")


@pytest.fixture(scope="module")
def stats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = _statistics_server(tmp_path_factory.mktemp("statistics"), MODEL)
    yield running
    running.stop()


def _infer(url: str, model: str, input_name: str, rows: int, value: float = 1.0) -> bool:
    """One HTTP inference; False when the server answered it with an error."""
    client = httpclient.InferenceServerClient(url)
    tensor = httpclient.InferInput(input_name, [rows, IN_FEATURES], "FP32")
    tensor.set_data_from_numpy(np.full((rows, IN_FEATURES), value, dtype=np.float32))
    try:
        client.infer(model, [tensor])
    except InferenceServerException:
        return False
    finally:
        client.close()
    return True


def _concurrently(url: str, model: str, input_name: str, requests: int, rows: int) -> list[bool]:
    with ThreadPoolExecutor(max_workers=requests) as pool:
        return list(pool.map(lambda _: _infer(url, model, input_name, rows), range(requests)))


@pytest.fixture(scope="module")
def traffic(stats_server: ServerProcess) -> tuple[int, int]:
    """Four 2-row requests that share one batch of 8, a lone 3-row request (cut by the queue
    delay), a 1-row request that fails in the model; the wall clock (ms) around them."""
    url = stats_server.http_url
    started_ms = time.time_ns() // 1_000_000
    assert _concurrently(url, MODEL, "INPUT0", requests=4, rows=2) == [True] * 4
    assert _infer(url, MODEL, "INPUT0", rows=3)
    assert not _infer(url, MODEL, "INPUT0", rows=1, value=FAILING_VALUE)
    return started_ms, time.time_ns() // 1_000_000


def _http_stats(server: ServerProcess, model: str = "", version: str = "") -> dict[str, Any]:
    client = httpclient.InferenceServerClient(server.http_url)
    try:
        return dict(client.get_inference_statistics(model, version))
    finally:
        client.close()


def _grpc_stats(server: ServerProcess, model: str = "", version: str = "") -> dict[str, Any]:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        answer = client.get_inference_statistics(model, version, as_json=True)
    finally:
        client.close()
    return dict(answer)


def test_counts_after_known_requests_over_http(
    stats_server: ServerProcess, traffic: tuple[int, int]
) -> None:
    (entry,) = _http_stats(stats_server, MODEL)["model_stats"]
    assert (entry["name"], entry["version"]) == (MODEL, "1")
    assert entry["inference_count"] == 4 * 2 + 3  # rows of the successful requests
    assert entry["execution_count"] == 2  # the shared batch and the lone request
    stats = entry["inference_stats"]
    assert stats["success"]["count"] == 5
    assert stats["fail"]["count"] == 1
    assert stats["fail"]["ns"] > 0
    for phase in ("success", "queue", "compute_input", "compute_infer", "compute_output"):
        assert stats[phase]["count"] == 5, phase
        assert stats[phase]["ns"] > 0, phase
    # The lone request waited out the whole queue delay (2 s) before its batch was cut.
    assert stats["queue"]["ns"] >= QUEUE_DELAY_US * 1000
    assert stats["success"]["ns"] > stats["queue"]["ns"]
    assert stats["cache_hit"] == {"count": 0, "ns": 0}
    assert stats["cache_miss"] == {"count": 0, "ns": 0}
    started_ms, finished_ms = traffic
    assert started_ms <= entry["last_inference"] <= finished_ms


def test_batch_stats_have_one_entry_per_batch_size(
    stats_server: ServerProcess, traffic: tuple[int, int]
) -> None:
    (entry,) = _http_stats(stats_server, MODEL)["model_stats"]
    batches = entry["batch_stats"]
    assert [b["batch_size"] for b in batches] == [3, 8]
    for batch in batches:
        for phase in ("compute_input", "compute_infer", "compute_output"):
            assert batch[phase]["count"] == 1
            assert batch[phase]["ns"] > 0
    assert sum(b["compute_infer"]["count"] for b in batches) == entry["execution_count"]


def test_grpc_answers_what_http_answers(
    stats_server: ServerProcess, traffic: tuple[int, int]
) -> None:
    (over_http,) = _http_stats(stats_server, MODEL)["model_stats"]
    (over_grpc,) = _grpc_stats(stats_server, MODEL)["model_stats"]
    # protobuf's JSON writes 64-bit integers as strings and leaves out zeros and empty fields.
    assert over_grpc["version"] == "1"
    assert int(over_grpc["last_inference"]) == over_http["last_inference"]
    assert int(over_grpc["inference_count"]) == 11
    assert int(over_grpc["execution_count"]) == 2
    assert over_grpc["inference_stats"]["success"]["count"] == "5"
    assert over_grpc["inference_stats"]["fail"]["count"] == "1"
    assert over_grpc["inference_stats"]["fail"]["ns"] == str(
        over_http["inference_stats"]["fail"]["ns"]
    )
    assert [b["batch_size"] for b in over_grpc["batch_stats"]] == ["3", "8"]


def test_every_model_and_every_version_select_the_model(
    stats_server: ServerProcess, traffic: tuple[int, int]
) -> None:
    everything = _http_stats(stats_server)["model_stats"]
    assert [(e["name"], e["version"]) for e in everything] == [(MODEL, "1")]
    assert _http_stats(stats_server, MODEL, "1") == _http_stats(stats_server, MODEL)
    assert _grpc_stats(stats_server)["model_stats"][0]["name"] == MODEL
    assert _grpc_stats(stats_server, MODEL, "1")["model_stats"][0]["version"] == "1"


def _http_error(server: ServerProcess, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://{server.http_url}{path}", timeout=5) as answer:
            raise AssertionError(f"{path} answered {answer.status}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_unknown_model_or_version_is_an_invalid_argument(stats_server: ServerProcess) -> None:
    # Triton's answers (tritonserver 2.51, compared in the last test).
    assert _http_error(stats_server, "/v2/models/nope/stats") == (
        400,
        {"error": "requested model 'nope' is not available"},
    )
    assert _http_error(stats_server, f"/v2/models/{MODEL}/versions/7/stats") == (
        400,
        {"error": f"requested model version is not available for model '{MODEL}'"},
    )
    with pytest.raises(InferenceServerException) as over_http:
        _http_stats(stats_server, "nope")
    assert over_http.value.status() == "400"
    with pytest.raises(InferenceServerException) as over_grpc:
        _grpc_stats(stats_server, "nope")
    assert over_grpc.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert over_grpc.value.message() == "requested model 'nope' is not available"


def test_server_metadata_lists_the_statistics_extension(stats_server: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(stats_server.http_url)
    assert "statistics" in client.get_server_metadata()["extensions"]
    client.close()
    grpc = grpcclient.InferenceServerClient(stats_server.grpc_url)
    assert "statistics" in grpc.get_server_metadata().extensions
    grpc.close()


# ---- the real tritonserver ---------------------------------------------------------------


def _shape(value: Any) -> Any:
    """The structure of a JSON value: keys (recursively) and leaf types, list items merged."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes = [_shape(item) for item in value]
        return [shapes[0]] if shapes and all(s == shapes[0] for s in shapes) else shapes
    return type(value).__name__


def _raw_stats(url: str, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://{url}{path}", timeout=5) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())


def _send_the_same_requests(url: str, model: str, input_name: str) -> None:
    assert _concurrently(url, model, input_name, requests=4, rows=2) == [True] * 4
    assert _infer(url, model, input_name, rows=3)


def test_answers_have_the_real_tritonservers_shape(tmp_path: Path) -> None:
    """Same model name, same requests (a shared batch, a lone one, a failure), then the
    answers compared: the whole shape of a model's entry, leaf types included, and the error
    answers word for word. Values are not compared: timings differ, and the bundled Triton
    serves the model through its python backend, which (unlike the libtorch backend this
    server stands in for) also counts a failed execution in execution_count and batch_stats.
    """
    try:
        from gpufleet_devtools.triton import TritonServer, bundled_tritonserver, write_torch_model

        bundled_tritonserver()
    except (ImportError, FileNotFoundError) as exc:
        pytest.skip(f"no tritonserver from nvidia-pytriton: {exc}")
    name = "mlp"
    ours = _statistics_server(tmp_path / "ours", name)
    triton = TritonServer(write_torch_model(tmp_path / "triton", name)).start()
    try:
        # Their test models fail differently: Triton's on a negative input, ours above 100.
        _send_the_same_requests(triton.http_url, name, "INPUT")
        assert not _infer(triton.http_url, name, "INPUT", rows=1, value=-1.0)
        _send_the_same_requests(ours.http_url, name, "INPUT0")
        assert not _infer(ours.http_url, name, "INPUT0", rows=1, value=FAILING_VALUE)
        paths = (
            "/v2/models/stats",
            f"/v2/models/{name}/stats",
            f"/v2/models/{name}/versions/1/stats",
            "/v2/models/nope/stats",
            "/v2/models/nope/versions/1/stats",
            f"/v2/models/{name}/versions/7/stats",
            f"/v2/models/{name}/versions/abc/stats",
        )
        for path in paths:
            theirs_status, theirs = _raw_stats(triton.http_url, path)
            our_status, answer = _raw_stats(ours.http_url, path)
            assert our_status == theirs_status, path
            if theirs_status == 200:
                assert _shape(answer) == _shape(theirs), path
            else:
                assert answer == theirs, path
        their_grpc = grpcclient.InferenceServerClient(triton.grpc_url)
        our_grpc = grpcclient.InferenceServerClient(ours.grpc_url)
        assert _shape(our_grpc.get_inference_statistics(name, as_json=True)) == _shape(
            their_grpc.get_inference_statistics(name, as_json=True)
        )
        for model, version in (("nope", ""), (name, "7"), (name, "abc")):
            with pytest.raises(InferenceServerException) as theirs_error:
                their_grpc.get_inference_statistics(model, version)
            with pytest.raises(InferenceServerException) as our_error:
                our_grpc.get_inference_statistics(model, version)
            assert our_error.value.status() == theirs_error.value.status()
            assert our_error.value.message() == theirs_error.value.message()
        their_grpc.close()
        our_grpc.close()
    finally:
        triton.stop()
        ours.stop()
