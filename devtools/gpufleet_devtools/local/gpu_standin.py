"""A GPU stand-in for the local fleet: a torch operator that holds a batch as a GPU kernel would.

On a GPU node a forward pass launches kernels and the host thread waits for them: the
CPU is free meanwhile, so N replicas on N GPUs serve N times as much. This machine has
two cores and no GPU, so the demo's model calls ``gpufleet_demo::device_wait`` instead:
its CPU kernel sleeps ``fixed_ms + per_item_ms * batch`` milliseconds (``time.sleep``
releases the GIL, as a CUDA synchronize does) and returns its input.

TorchScript cannot call Python functions, so the operator is registered with
``torch.library`` and the scripted model calls it by name. A GPU node provides its
driver's libraries to every container; the local node provides this operator library
to every ``gpufleet-server`` process the same way, before any model loads: a
``sitecustomize.py`` on the pod's ``PYTHONPATH`` (see :func:`pod_env`), so the
server's code is unchanged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

import torch

NAMESPACE = "gpufleet_demo"
OPERATOR = "device_wait"
SCHEMA = f"{OPERATOR}(Tensor x, float fixed_ms, float per_item_ms) -> Tensor"
SITE_DIR_NAME = "gpu-standin-site"
SITECUSTOMIZE = """\
# Written by gpufleet's local fleet: every gpufleet-server pod loads the GPU stand-in's
# operator library before its model, as a GPU node provides its driver's libraries.
from gpufleet_devtools.local.gpu_standin import register

register()
"""

_library: torch.library.Library | None = None


def batch_wait_s(rows: int, fixed_ms: float, per_item_ms: float) -> float:
    """How long a batch of ``rows`` holds the device (seconds)."""
    return (fixed_ms + per_item_ms * rows) / 1000.0


def _device_wait(x: torch.Tensor, fixed_ms: float, per_item_ms: float) -> torch.Tensor:
    rows = int(x.shape[0]) if x.dim() > 0 else 1
    time.sleep(batch_wait_s(rows, fixed_ms, per_item_ms))
    # A fresh tensor: the schema promises an output that aliases no input.
    return x.clone()


def register() -> None:
    """Define ``torch.ops.gpufleet_demo.device_wait`` here (once; later calls do nothing)."""
    global _library
    if _library is not None:
        return
    library = torch.library.Library(NAMESPACE, "DEF")  # type: ignore[no-untyped-call]
    library.define(SCHEMA)  # type: ignore[no-untyped-call]
    # Any device and no autograd: the demo only runs inference.
    library.impl(OPERATOR, _device_wait, "CompositeExplicitAutograd")  # type: ignore[no-untyped-call]
    _library = library


def site_dir(runtime_dir: Path) -> Path:
    """The folder holding the stand-in's ``sitecustomize.py`` (written once per fleet)."""
    folder = runtime_dir / SITE_DIR_NAME
    script = folder / "sitecustomize.py"
    if not script.exists() or script.read_text() != SITECUSTOMIZE:
        folder.mkdir(parents=True, exist_ok=True)
        script.write_text(SITECUSTOMIZE)
    return folder


def pod_env(env: Mapping[str, str], runtime_dir: Path) -> dict[str, str]:
    """``env`` with the stand-in's site folder first on ``PYTHONPATH``."""
    folder = str(site_dir(runtime_dir))
    path = [folder, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return {**env, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path))}
