"""Small MLPs written as a Triton-layout model repository (TorchScript or torch.export)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

IN_FEATURES = 16
HIDDEN = 32
OUT_FEATURES = 4
INPUT_NAME = "INPUT0"
OUTPUT_NAME = "OUTPUT0"


class Mlp(nn.Module):
    """Two linear layers with seeded weights: the same seed gives the same model anywhere."""

    def __init__(
        self,
        seed: int,
        in_features: int = IN_FEATURES,
        hidden: int = HIDDEN,
        out_features: int = OUT_FEATURES,
    ) -> None:
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out_features)
        )
        torch.random.set_rng_state(generator_state)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # type: ignore[no-any-return]


def mlp_config(
    name: str,
    max_batch_size: int,
    queue_delay_us: int | None,
    in_features: int = IN_FEATURES,
    out_features: int = OUT_FEATURES,
) -> str:
    """config.pbtxt for a one-input one-output FP32 model; no dynamic batching when the
    queue delay is None."""
    batching = (
        f"dynamic_batching {{ max_queue_delay_microseconds: {queue_delay_us} }}"
        if queue_delay_us is not None
        else ""
    )
    return f"""
name: "{name}"
platform: "pytorch_libtorch"
max_batch_size: {max_batch_size}
input [ {{ name: "{INPUT_NAME}" data_type: TYPE_FP32 dims: [ {in_features} ] }} ]
output [ {{ name: "{OUTPUT_NAME}" data_type: TYPE_FP32 dims: [ {out_features} ] }} ]
{batching}
"""


def write_model(
    repo: Path,
    name: str,
    module: nn.Module,
    config: str,
    *,
    version: int = 1,
    export_example: torch.Tensor | None = None,
) -> Path:
    """Writes ``<repo>/<name>/config.pbtxt`` and the weights of one version: TorchScript
    ``model.pt``, or with ``export_example`` a ``torch.export`` ``model.pt2`` whose first
    dimension is dynamic."""
    version_dir = repo / name / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    (repo / name / "config.pbtxt").write_text(config)
    module.eval()
    if export_example is not None:
        batch = torch.export.Dim("batch", min=1, max=4096)
        exported = torch.export.export(module, (export_example,), dynamic_shapes={"x": {0: batch}})
        weights = version_dir / "model.pt2"
        torch.export.save(exported, str(weights))
        return weights
    weights = version_dir / "model.pt"
    with warnings.catch_warnings():  # TorchScript is deprecated, yet it is what Triton serves
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(module).save(str(weights))  # type: ignore[no-untyped-call]
    return weights
