"""SIGTERM: readiness turns false at once, new requests are refused, in-flight ones finish,
and the process exits 0."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from gpufleet_devtools.runtime.example_models import IN_FEATURES
from gpufleet_devtools.runtime.process import start_server
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def infer_held(url: str) -> npt.NDArray[np.float32]:
    client = httpclient.InferenceServerClient(url, network_timeout=30)
    tensor = httpclient.InferInput("INPUT0", [1, IN_FEATURES], "FP32")
    tensor.set_data_from_numpy(np.ones((1, IN_FEATURES), dtype=np.float32))
    return np.asarray(client.infer("held", [tensor]).as_numpy("OUTPUT0"), dtype=np.float32)


def test_sigterm_drains_in_flight_and_refuses_new(model_repository: Path, tmp_path: Path) -> None:
    server = start_server(model_repository, tmp_path / "server.log", ["--exit-timeout-secs", "20"])
    http = httpclient.InferenceServerClient(server.http_url)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # "held" waits 1.5 s for a batch to fill: the request stays in flight, in the queue.
        in_flight = pool.submit(infer_held, server.http_url)
        wait_for(
            lambda: server.metric("nv_inference_pending_request_count", model="held") == 1,
            timeout=10,
            what="the request to be queued",
        )
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: not server.ready(), timeout=5, what="readiness to turn false")
        assert http.is_server_live()

        with pytest.raises(InferenceServerException) as refused:
            infer_held(server.http_url)
        assert refused.value.status() == "503"
        assert "shutting down" in refused.value.message()
        grpc_client = grpcclient.InferenceServerClient(server.grpc_url)
        tensor = grpcclient.InferInput("INPUT0", [1, IN_FEATURES], "FP32")
        tensor.set_data_from_numpy(np.ones((1, IN_FEATURES), dtype=np.float32))
        with pytest.raises(InferenceServerException) as refused_grpc:
            grpc_client.infer("held", [tensor])
        assert refused_grpc.value.status() == "StatusCode.UNAVAILABLE"

        assert in_flight.result(timeout=20).shape == (1, 4)
    assert server.process.wait(timeout=20) == 0
