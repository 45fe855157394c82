"""tritonclient (HTTP and gRPC, unchanged) gets the same answers as running the model in torch."""

from __future__ import annotations

import grpc
import numpy as np
import numpy.typing as npt
import pytest
import torch
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from torch import nn
from tritonclient.grpc import service_pb2, service_pb2_grpc

from gpufleet_devtools.runtime.example_models import IN_FEATURES, OUT_FEATURES
from gpufleet_devtools.runtime.process import ServerProcess

pytestmark = pytest.mark.slow
Models = dict[str, nn.Module]


def run_in_torch(module: nn.Module, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    with torch.inference_mode():
        return np.asarray(module(torch.from_numpy(x)).numpy(), dtype=np.float32)


def batch(rows: int, seed: int = 0) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).standard_normal((rows, IN_FEATURES)).astype(np.float32)


def assert_close(got: npt.NDArray[np.float32], want: npt.NDArray[np.float32]) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_http_infer_equals_torch(
    server: ServerProcess, reference_models: Models, binary: bool
) -> None:
    x = batch(5)
    client = httpclient.InferenceServerClient(server.http_url)
    tensor = httpclient.InferInput("INPUT0", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    wanted = httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary)
    result = client.infer("mlp", [tensor], outputs=[wanted], request_id="req-7")
    assert_close(result.as_numpy("OUTPUT0"), run_in_torch(reference_models["mlp"], x))
    assert result.get_response()["id"] == "req-7"
    assert result.get_response()["model_version"] == "2"


def test_grpc_infer_equals_torch(server: ServerProcess, reference_models: Models) -> None:
    x = batch(3, seed=1)
    client = grpcclient.InferenceServerClient(server.grpc_url)
    tensor = grpcclient.InferInput("INPUT0", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    result = client.infer("mlp", [tensor])
    assert_close(result.as_numpy("OUTPUT0"), run_in_torch(reference_models["mlp"], x))


def test_grpc_typed_contents_equal_torch(server: ServerProcess, reference_models: Models) -> None:
    """Clients other than tritonclient may send typed ``contents`` instead of raw bytes."""
    x = batch(2, seed=2)
    request = service_pb2.ModelInferRequest(model_name="mlp")
    tensor = request.inputs.add(name="INPUT0", datatype="FP32", shape=list(x.shape))
    tensor.contents.fp32_contents.extend(x.reshape(-1).tolist())
    with grpc.insecure_channel(server.grpc_url) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    output = np.frombuffer(response.raw_output_contents[0], dtype=np.float32)
    assert list(response.outputs[0].shape) == [2, OUT_FEATURES]
    assert_close(output.reshape(2, OUT_FEATURES), run_in_torch(reference_models["mlp"], x))


def test_torch_export_model_is_served(server: ServerProcess, reference_models: Models) -> None:
    x = batch(4, seed=3)
    client = httpclient.InferenceServerClient(server.http_url)
    tensor = httpclient.InferInput("INPUT0", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    result = client.infer("mlp_export", [tensor])
    assert_close(result.as_numpy("OUTPUT0"), run_in_torch(reference_models["mlp_export"], x))


def test_only_highest_version_is_served(server: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(server.http_url)
    assert client.get_model_metadata("mlp")["versions"] == ["2"]
    assert client.is_model_ready("mlp", "2")
    assert not client.is_model_ready("mlp", "1")


def test_health_and_metadata_over_both_protocols(server: ServerProcess) -> None:
    http = httpclient.InferenceServerClient(server.http_url)
    grpc_client = grpcclient.InferenceServerClient(server.grpc_url)
    assert http.is_server_live()
    assert http.is_server_ready()
    assert grpc_client.is_server_live()
    assert grpc_client.is_server_ready()
    assert grpc_client.is_model_ready("mlp")
    assert "binary_tensor_data" in http.get_server_metadata()["extensions"]
    meta = grpc_client.get_model_metadata("mlp", as_json=True)
    assert meta["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "shape": ["-1", "16"]}]


def test_model_config_matches_config_pbtxt(server: ServerProcess) -> None:
    http_config = httpclient.InferenceServerClient(server.http_url).get_model_config("mlp")
    assert http_config["max_batch_size"] == 8
    assert http_config["input"][0]["dims"] == [IN_FEATURES]
    assert http_config["dynamic_batching"]["max_queue_delay_microseconds"] == 20_000
    grpc_config = grpcclient.InferenceServerClient(server.grpc_url).get_model_config("mlp")
    assert grpc_config.config.max_batch_size == 8
    assert list(grpc_config.config.output[0].dims) == [OUT_FEATURES]
