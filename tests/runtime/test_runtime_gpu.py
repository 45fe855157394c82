"""CUDA serving (fp32 and fp16) gives torch's answers; runs only where CUDA is available."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import tritonclient.grpc as grpcclient
from torch import nn

from gpufleet_devtools.runtime.example_models import IN_FEATURES
from gpufleet_devtools.runtime.process import start_server

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (no GPU here)"),
]


@pytest.mark.parametrize(("dtype", "tolerance"), [("fp32", 1e-4), ("fp16", 2e-2)])
def test_cuda_results_equal_torch(
    model_repository: Path,
    reference_models: dict[str, nn.Module],
    tmp_path: Path,
    dtype: str,
    tolerance: float,
) -> None:
    server = start_server(
        model_repository, tmp_path / "server.log", ["--device", "cuda", "--dtype", dtype]
    )
    try:
        x = np.random.default_rng(5).standard_normal((6, IN_FEATURES)).astype(np.float32)
        client = grpcclient.InferenceServerClient(server.grpc_url)
        tensor = grpcclient.InferInput("INPUT0", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        got = client.infer("mlp", [tensor]).as_numpy("OUTPUT0")
        with torch.inference_mode():
            want = reference_models["mlp"](torch.from_numpy(x)).numpy()
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
    finally:
        assert server.stop() == 0
