"""The demo's models: small TorchScript networks whose cost per batch is known.

- :class:`GpuLikeMlp` (the demo's default) holds each batch ``fixed_ms + per_item_ms * batch``
  milliseconds on the GPU stand-in (:mod:`gpufleet_devtools.local.gpu_standin`): the CPU is
  free meanwhile, so on two cores N replicas serve N times what one does, as on N GPUs.
- :class:`BusyMlp` (``cpu``) computes on one CPU thread for about ``TARGET_COMPUTE_MS`` per
  request: real CPU work, so on two cores replicas past the second add no capacity.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gpufleet_devtools.local import gpu_standin

IN_FEATURES = 16
TORCH_INPUT = "INPUT0"
TRITON_INPUT = "INPUT"
"""The python-backend model of ``gpufleet_devtools.triton`` names its input so."""
TRITON_WORK_MS = 40.0
OUT_FEATURES = 4
HIDDEN = 256
TARGET_COMPUTE_MS = 20.0
CALIBRATION_STEPS = 10


class BusyMlp(nn.Module):
    def __init__(self, work_steps: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.work_steps = work_steps
        self.expand = nn.Linear(IN_FEATURES, HIDDEN)
        self.mix = nn.Parameter(torch.randn(HIDDEN, HIDDEN) / HIDDEN**0.5)
        self.head = nn.Linear(HIDDEN, OUT_FEATURES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.expand(x))  # (batch, hidden)
        # An outer product gives each request a (hidden, hidden) state, so the cost
        # per request is work_steps dense products, independent of the batch size.
        state = h.unsqueeze(2) * h.unsqueeze(1)
        for _ in range(self.work_steps):
            state = torch.tanh(torch.matmul(state, self.mix))
        out: torch.Tensor = self.head(state.mean(dim=1))
        return out


@dataclass(frozen=True, slots=True)
class GpuCost:
    """What one batch of the GPU-like model costs: ``fixed_ms + per_item_ms * batch``."""

    fixed_ms: float = 20.0
    """Per execution, whatever the batch: kernel launches and reading the weights once."""
    per_item_ms: float = 2.5
    """Per request in the batch: the arithmetic that grows with it."""
    max_batch_size: int = 8
    """The largest batch the server forms (Triton's dynamic batcher, no queue delay)."""

    def describe(self) -> str:
        return (
            f"gpu-like: {self.fixed_ms:g} ms + {self.per_item_ms:g} ms x batch, "
            f"batches up to {self.max_batch_size}"
        )


class GpuLikeMlp(nn.Module):
    def __init__(self, fixed_ms: float, per_item_ms: float) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fixed_ms = float(fixed_ms)  # TorchScript types the attribute by its value
        self.per_item_ms = float(per_item_ms)
        self.head = nn.Linear(IN_FEATURES, OUT_FEATURES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        held = torch.ops.gpufleet_demo.device_wait(x, self.fixed_ms, self.per_item_ms)
        out: torch.Tensor = self.head(torch.tanh(held))
        return out


def model_config(name: str, max_batch_size: int = 8, dynamic_batching: bool = False) -> str:
    # Without dynamic batching each request is one forward pass (the CPU model: its
    # cost is per request anyway). With it, requests that queue while a batch runs
    # form the next one, as Triton's dynamic batcher does with no queue delay.
    batching = "dynamic_batching { max_queue_delay_microseconds: 0 }\n" if dynamic_batching else ""
    return f"""name: "{name}"
platform: "pytorch_libtorch"
max_batch_size: {max_batch_size}
input [ {{ name: "{TORCH_INPUT}" data_type: TYPE_FP32 dims: [ {IN_FEATURES} ] }} ]
output [ {{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [ {OUT_FEATURES} ] }} ]
{batching}"""


def calibrate_work_steps(target_ms: float = TARGET_COMPUTE_MS) -> int:
    """Steps that take ``target_ms`` on one thread here (the fastest of a few timings,
    which is the least disturbed by whatever else the machine runs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        probe = BusyMlp(CALIBRATION_STEPS).eval()
        x = torch.zeros(1, IN_FEATURES)
        best = float("inf")
        with torch.no_grad():
            for _ in range(12):
                start = time.perf_counter()
                probe(x)
                best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    per_step_ms = 1000 * best / CALIBRATION_STEPS
    return max(5, min(400, round(target_ms / per_step_ms)))


def write_demo_model(repository: Path, name: str, work_steps: int | None = None) -> Path:
    """Write ``<repository>/<name>/{config.pbtxt,1/model.pt}`` once; later calls reuse it."""
    model_dir = repository / name
    weights = model_dir / "1" / "model.pt"
    stamp = model_dir / ".work-steps"
    if weights.exists() and stamp.exists() and work_steps in (None, int(stamp.read_text())):
        return model_dir
    (model_dir / ".gpu-cost").unlink(missing_ok=True)
    steps = work_steps or calibrate_work_steps()
    weights.parent.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.pbtxt").write_text(model_config(name))
    with warnings.catch_warnings():
        # TorchScript is what the torch runtime (and Triton's libtorch backend) loads.
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(BusyMlp(steps).eval())
    scripted.save(str(weights))  # type: ignore[no-untyped-call]
    stamp.write_text(str(steps))
    return model_dir


def write_gpu_like_model(repository: Path, name: str, cost: GpuCost | None = None) -> Path:
    """Write the GPU-like model as ``<repository>/<name>/{config.pbtxt,1/model.pt}``.

    Rewritten when ``cost`` differs from what the folder holds (another demo model included).
    """
    cost = cost or GpuCost()
    model_dir = repository / name
    weights = model_dir / "1" / "model.pt"
    stamp = model_dir / ".gpu-cost"
    if weights.exists() and stamp.exists() and stamp.read_text() == cost.describe():
        return model_dir
    (model_dir / ".work-steps").unlink(missing_ok=True)
    gpu_standin.register()  # scripting resolves the operator by name
    weights.parent.mkdir(parents=True, exist_ok=True)
    config = model_config(name, cost.max_batch_size, dynamic_batching=True)
    (model_dir / "config.pbtxt").write_text(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(GpuLikeMlp(cost.fixed_ms, cost.per_item_ms).eval())
    scripted.save(str(weights))  # type: ignore[no-untyped-call]
    stamp.write_text(cost.describe())
    return model_dir


def write_triton_demo_model(repository: Path, name: str) -> Path:
    """The Triton variant: a python-backend MLP that holds each request ``TRITON_WORK_MS``
    (sleeping, as a GPU-bound server waits), one request per execution."""
    from gpufleet_devtools.triton import write_torch_model

    model_dir = repository / name
    if not (model_dir / "config.pbtxt").exists():
        write_torch_model(repository, name, work_ms=TRITON_WORK_MS, max_batch_size=1)
    return model_dir
