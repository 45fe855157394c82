"""What a Triton pod needs on this machine: the bundled ``tritonserver`` and its python backend.

nvidia-pytriton bundles ``tritonserver`` with only the python backend, whose stub
must match this interpreter: a backend directory of symlinks (made once per fleet)
supplies it. Each pod gets its own shared-memory prefix, removed when it exits, so
no ``/dev/shm`` segment outlives the fleet.
"""

from __future__ import annotations

import os
from pathlib import Path

from gpufleet_devtools.triton import backends_dir

SHM_DIR = Path("/dev/shm")


def shm_prefix(pod: str) -> str:
    return f"gpufleet-{pod}-"


def local_flags(workdir: Path, pod: str) -> list[str]:
    return [
        f"--backend-directory={backends_dir(workdir)}",
        f"--backend-config=python,shm-region-prefix-name={shm_prefix(pod)}",
        "--allow-gpu-metrics=false",
    ]


def remove_shm(prefix: str) -> list[str]:
    """Remove what a stopped server left in /dev/shm under ``prefix``."""
    removed = []
    for leftover in SHM_DIR.glob(f"{prefix}*"):
        try:
            os.unlink(leftover)
            removed.append(leftover.name)
        except OSError:
            pass
    return removed
