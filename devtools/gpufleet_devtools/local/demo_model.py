"""The demo's model: a small TorchScript network whose cost per request is tunable.

A replica must saturate at a few tens of requests/s on one CPU thread, so the
model repeats a fixed-size matrix product ``work_steps`` times per request. The
number of steps is calibrated on this machine so that one request computes for
about ``TARGET_COMPUTE_MS``: what the autoscaler measures as a replica's capacity.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch
from torch import nn

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


def model_config(name: str, max_batch_size: int = 8) -> str:
    # No dynamic batching: each request is one forward pass, as a latency-bound
    # LLM-style request would be; capacity then scales only with replicas.
    return f"""name: "{name}"
platform: "pytorch_libtorch"
max_batch_size: {max_batch_size}
input [ {{ name: "{TORCH_INPUT}" data_type: TYPE_FP32 dims: [ {IN_FEATURES} ] }} ]
output [ {{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [ {OUT_FEATURES} ] }} ]
"""


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


def write_triton_demo_model(repository: Path, name: str) -> Path:
    """The Triton variant: a python-backend MLP that holds each request ``TRITON_WORK_MS``
    (sleeping, as a GPU-bound server waits), one request per execution."""
    from gpufleet_devtools.triton import write_torch_model

    model_dir = repository / name
    if not (model_dir / "config.pbtxt").exists():
        write_torch_model(repository, name, work_ms=TRITON_WORK_MS, max_batch_size=1)
    return model_dir
