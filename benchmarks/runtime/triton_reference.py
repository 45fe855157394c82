"""Serve the benchmark's TorchScript model with Triton (the ``tritonserver`` bundled in
nvidia-pytriton, CPU, Python backend via ``Triton().bind``), with the same batching settings.

Run as a subprocess by bench_runtime.py; stops on SIGINT.
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--in-features", type=int, required=True)
    parser.add_argument("--out-features", type=int, required=True)
    parser.add_argument("--max-batch-size", type=int, required=True)
    parser.add_argument("--queue-delay-us", type=int, required=True)
    parser.add_argument("--ports", type=int, nargs=3, required=True)
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(args.weights).eval()  # type: ignore[no-untyped-call]

    @batch  # type: ignore[untyped-decorator]
    def infer(INPUT0: npt.NDArray[np.float32]) -> dict[str, Any]:
        with torch.inference_mode():
            return {"OUTPUT0": module(torch.from_numpy(INPUT0)).numpy()}

    http, grpc, metrics = args.ports
    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=http,
        grpc_address="127.0.0.1",
        grpc_port=grpc,
        metrics_address="127.0.0.1",
        metrics_port=metrics,
        exit_timeout_secs=5,
    )
    with Triton(config=config) as triton:
        triton.bind(
            model_name=args.model_name,
            infer_func=infer,
            inputs=[Tensor(name="INPUT0", dtype=np.float32, shape=(args.in_features,))],
            outputs=[Tensor(name="OUTPUT0", dtype=np.float32, shape=(args.out_features,))],
            config=ModelConfig(
                max_batch_size=args.max_batch_size,
                batcher=DynamicBatcher(max_queue_delay_microseconds=args.queue_delay_us),
            ),
        )
        triton.serve()  # returns on SIGINT


if __name__ == "__main__":
    main()
