"""One loaded model version: moves a batch to the device, runs one forward pass, brings the
outputs back. Called from the batcher's worker thread, never from the event loop."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gpufleet_server.datatypes import Array
from gpufleet_server.model_config import ModelSpec

COMPUTE_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class BatchTimings:
    """Nanoseconds spent in each phase of one forward pass (Triton's compute_* metrics)."""

    input_ns: int
    infer_ns: int
    output_ns: int


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but CUDA is not available")
    return torch.device(requested)


def _load_module(path: Path, device: torch.device) -> Any:
    if path.suffix == ".pt2":
        # An exported program is already traced in inference form: it has no train/eval mode.
        return torch.export.load(str(path)).module().to(device)
    module = torch.jit.load(str(path), map_location=device)  # type: ignore[no-untyped-call]
    return module.eval()


class TorchModel:
    def __init__(
        self, spec: ModelSpec, weights: Path, device: torch.device, compute_dtype: torch.dtype
    ) -> None:
        self.spec = spec
        self.device = device
        self.compute_dtype = compute_dtype
        self._on_cuda = device.type == "cuda"
        self._module = _load_module(weights, device)
        if compute_dtype != torch.float32:
            self._module = self._module.to(compute_dtype)

    def _to_device(self, array: Array) -> torch.Tensor:
        if not array.flags.writeable:
            # Views of the request body are read-only; a model writing into its input in place
            # must not scribble over (immutable) request bytes.
            array = array.copy()
        tensor = torch.from_numpy(array)
        if self._on_cuda:
            # Pinned host memory lets the copy run asynchronously with respect to the host.
            tensor = tensor.pin_memory().to(self.device, non_blocking=True)
        if tensor.is_floating_point() and tensor.dtype != self.compute_dtype:
            tensor = tensor.to(self.compute_dtype)
        return tensor

    def _outputs_by_position(self, result: Any) -> list[torch.Tensor]:
        if isinstance(result, torch.Tensor):
            result = [result]
        if isinstance(result, dict):
            result = [result[t.name] for t in self.spec.outputs]
        tensors = list(result)
        if len(tensors) < len(self.spec.outputs):
            raise RuntimeError(
                f"model returned {len(tensors)} outputs, config declares {len(self.spec.outputs)}"
            )
        return tensors[: len(self.spec.outputs)]

    def run(self, inputs: list[Array]) -> tuple[list[Array], BatchTimings]:
        """Forward pass on already-batched inputs, in the config's input order."""
        start = time.perf_counter_ns()
        with torch.inference_mode():
            device_inputs = [self._to_device(a) for a in inputs]
            if self._on_cuda:
                torch.cuda.synchronize(self.device)
            infer_start = time.perf_counter_ns()
            result = self._module(*device_inputs)
            if self._on_cuda:
                torch.cuda.synchronize(self.device)
            output_start = time.perf_counter_ns()
            outputs = [
                t.detach().to("cpu").to(spec.datatype.torch_dtype).numpy()
                for t, spec in zip(
                    self._outputs_by_position(result), self.spec.outputs, strict=True
                )
            ]
        end = time.perf_counter_ns()
        return outputs, BatchTimings(
            infer_start - start, output_start - infer_start, end - output_start
        )

    def warm_up(self) -> None:
        """One forward pass on zeros before the model is reported ready (loads kernels,
        allocates, and fails fast on a model that does not match its config)."""
        batch = (1,) if self.spec.max_batch_size > 0 else ()
        inputs = [
            np.zeros(batch + tuple(max(d, 1) for d in t.dims), dtype=t.datatype.numpy_dtype)
            for t in self.spec.inputs
        ]
        self.run(inputs)
