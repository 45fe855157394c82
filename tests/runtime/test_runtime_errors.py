"""Bad input gets a clear Triton-style error with the right status, and never kills the server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import numpy.typing as npt
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from gpufleet_devtools.runtime.example_models import IN_FEATURES
from gpufleet_devtools.runtime.process import ServerProcess
from gpufleet_server.errors import InferenceError
from gpufleet_server.tensors import from_values

pytestmark = pytest.mark.slow


def http_infer(
    server: ServerProcess, model: str, x: npt.NDArray[np.float32], datatype: str = "FP32"
) -> None:
    client = httpclient.InferenceServerClient(server.http_url)
    tensor = httpclient.InferInput("INPUT0", list(x.shape), datatype)
    tensor.set_data_from_numpy(x)
    client.infer(model, [tensor])


def grpc_infer(server: ServerProcess, model: str, x: npt.NDArray[np.float32]) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    tensor = grpcclient.InferInput("INPUT0", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    client.infer(model, [tensor])


def raw_post(server: ServerProcess, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://{server.http_url}/v2/models/mlp/infer", data=body, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), ""
    except urllib.error.HTTPError as error:
        return int(error.code), str(json.loads(error.read())["error"])


def ones(*shape: int, dtype: type[np.generic] = np.float32) -> npt.NDArray[np.float32]:
    return np.ones(shape, dtype=dtype)


@pytest.mark.parametrize(
    ("model", "x", "datatype", "status", "says"),
    [
        ("missing", ones(1, IN_FEATURES), "FP32", 404, "unknown model: 'missing'"),
        ("mlp", ones(2, 5), "FP32", 400, "Expected [-1,16], got [2,5]"),
        ("mlp", ones(2, IN_FEATURES, dtype=np.float64), "FP64", 400, "expects 'FP32'"),
        ("mlp", ones(9, IN_FEATURES), "FP32", 400, "batch-size must be <= 8"),
        ("mlp", ones(IN_FEATURES), "FP32", 400, "Expected [-1,16], got [16]"),
    ],
    ids=["unknown-model", "wrong-shape", "wrong-dtype", "batch-too-large", "no-batch-dim"],
)
def test_http_bad_request_statuses(
    server: ServerProcess,
    model: str,
    x: npt.NDArray[np.float32],
    datatype: str,
    status: int,
    says: str,
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        http_infer(server, model, x, datatype)
    assert caught.value.status() == str(status)
    assert says in caught.value.message()


@pytest.mark.parametrize(
    ("model", "x", "code", "says"),
    [
        ("missing", ones(1, IN_FEATURES), "StatusCode.NOT_FOUND", "unknown model"),
        ("mlp", ones(2, 5), "StatusCode.INVALID_ARGUMENT", "unexpected shape"),
        ("mlp", ones(9, IN_FEATURES), "StatusCode.INVALID_ARGUMENT", "batch-size"),
    ],
    ids=["unknown-model", "wrong-shape", "batch-too-large"],
)
def test_grpc_bad_request_codes(
    server: ServerProcess, model: str, x: npt.NDArray[np.float32], code: str, says: str
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        grpc_infer(server, model, x)
    assert caught.value.status() == code
    assert says in caught.value.message()


def test_grpc_model_metadata_of_unknown_model_is_not_found(server: ServerProcess) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    with pytest.raises(InferenceServerException) as caught:
        client.get_model_metadata("missing")
    assert caught.value.status() == "StatusCode.NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "headers", "says"),
    [
        (b'{"inputs": [', {}, "malformed JSON"),
        (b'{"inputs": "x"}', {}, "inputs"),
        (b'{"inputs": []}\0\0', {"Inference-Header-Content-Length": "abc"}, "not an integer"),
        (b'{"inputs": []}', {"Inference-Header-Content-Length": "999"}, "does not fit"),
        # Nesting deeper than Python's recursion limit, in the body and in one input's data:
        # the parser and the flattening recurse per level (these were 500s).
        (b"[" * 100_000, {}, "nested too deeply"),
        (
            b'{"inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "FP32", "data": '
            + b"[" * 900
            + b"0.0"
            + b"]" * 900
            + b"}]}",
            {},
            "nested too deeply",
        ),
    ],
    ids=[
        "truncated-json",
        "inputs-not-a-list",
        "header-length-nan",
        "header-too-long",
        "deep-body",
        "deep-data",
    ],
)
def test_http_malformed_bodies_are_400(
    server: ServerProcess, body: bytes, headers: dict[str, str], says: str
) -> None:
    status, message = raw_post(server, body, headers)
    assert status == 400
    assert says in message


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "not a list of FP32 values"),  # numpy would read NaN
        ("1.5", "not a list of FP32 values"),  # numpy would parse the string
        (True, "not a list of FP32 values"),  # numpy would read 1.0
        (1e39, "overflows FP32"),  # numpy would read inf
    ],
    ids=["null", "string", "bool", "overflow"],
)
def test_json_data_of_the_wrong_kind_is_400_not_converted(
    server: ServerProcess, value: object, says: str
) -> None:
    data = [0.0] * (IN_FEATURES - 1) + [value]
    tensor = {"name": "INPUT0", "shape": [1, IN_FEATURES], "datatype": "FP32", "data": data}
    status, message = raw_post(server, json.dumps({"inputs": [tensor]}).encode(), {})
    assert status == 400
    assert says in message
    assert "'INPUT0'" in message


@pytest.mark.parametrize(
    ("datatype", "values", "says"),
    [
        ("INT8", [1, 300], "value 300 is out of the range of INT8"),
        ("UINT8", [-1], "value -1 is out of the range of UINT8"),
        ("INT64", [2**64], "out of the range of INT64"),
        ("INT32", [1.7], "not a list of INT32 values"),
        ("BOOL", [2], "not a list of BOOL values"),
        ("FP16", [1e6], "overflows FP16"),
    ],
)
def test_values_that_do_not_fit_the_datatype_are_refused(
    datatype: str, values: list[object], says: str
) -> None:
    """JSON data and gRPC typed contents both: never wrapped, truncated or rounded to inf."""
    with pytest.raises(InferenceError) as caught:
        from_values("INPUT0", datatype, [len(values)], values)
    assert says in caught.value.message


def test_binary_bytes_claimed_by_no_input_are_400(server: ServerProcess) -> None:
    tensor = {"name": "INPUT0", "shape": [1, IN_FEATURES], "datatype": "FP32"}
    header = json.dumps({"inputs": [{**tensor, "data": [0.0] * IN_FEATURES}]}).encode()
    body = header + b"\0" * 8
    status, message = raw_post(server, body, {"Inference-Header-Content-Length": str(len(header))})
    assert status == 400
    assert "not claimed by any input" in message


def test_binary_data_shorter_than_declared_is_400(server: ServerProcess) -> None:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "INPUT0",
                    "shape": [1, IN_FEATURES],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 4 * IN_FEATURES},
                }
            ]
        }
    ).encode()
    body = header + b"\0" * 8  # 8 bytes instead of 64
    status, message = raw_post(server, body, {"Inference-Header-Content-Length": str(len(header))})
    assert status == 400
    assert "binary data is shorter" in message


def test_model_exception_fails_only_that_request(server: ServerProcess) -> None:
    failures_before = server.metric(
        "nv_inference_request_failure", model="fragile", reason="BACKEND"
    )
    with pytest.raises(InferenceServerException) as caught:
        http_infer(server, "fragile", np.full((1, IN_FEATURES), 1000, dtype=np.float32))
    assert caught.value.status() == "500"
    assert "input value above 100" in caught.value.message()
    assert (
        server.metric("nv_inference_request_failure", model="fragile", reason="BACKEND")
        == failures_before + 1
    )
    http_infer(server, "fragile", ones(1, IN_FEATURES))  # the same model still serves
    assert server.process.poll() is None
