"""What a Triton pod needs on this machine: the bundled ``tritonserver`` and its python backend.

nvidia-pytriton bundles ``tritonserver`` with only the python backend, whose stub
must match this interpreter: a backend directory of symlinks (made once per fleet)
supplies it. Each pod gets its own shared-memory prefix, removed when it exits, so
no ``/dev/shm`` segment outlives the fleet.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

SHM_DIR = Path("/dev/shm")


def _pytriton_root() -> Path:
    import pytriton

    return Path(pytriton.__file__).parent


def _libs_dir() -> Path:
    root = _pytriton_root()
    for candidate in (
        root.parent / "nvidia_pytriton.libs",
        root / "tritonserver" / "external_libs",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("nvidia_pytriton.libs not found next to pytriton")


def backends_dir(workdir: Path) -> Path:
    """``workdir/backends`` with the bundled python backend and this Python's stub."""
    bundled = _pytriton_root() / "tritonserver"
    python_dir = workdir / "backends" / "python"
    if (python_dir / "triton_python_backend_stub").exists():
        return workdir / "backends"
    python_dir.mkdir(parents=True, exist_ok=True)
    for item in (bundled / "backends" / "python").iterdir():
        if item.name != "__pycache__" and not (python_dir / item.name).exists():
            (python_dir / item.name).symlink_to(item)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = bundled / "python_backend_stubs" / version / "triton_python_backend_stub"
    (python_dir / "triton_python_backend_stub").symlink_to(stub)
    return workdir / "backends"


def shm_prefix(pod: str) -> str:
    return f"gpufleet-{pod}-"


def local_flags(workdir: Path, pod: str) -> list[str]:
    return [
        f"--backend-directory={backends_dir(workdir)}",
        f"--backend-config=python,shm-region-prefix-name={shm_prefix(pod)}",
        "--allow-gpu-metrics=false",
    ]


def local_env(env: dict[str, str]) -> dict[str, str]:
    """The bundle's libraries; the venv's packages for the stub's embedded Python."""

    def prepend(name: str, value: str) -> str:
        return f"{value}:{env[name]}" if env.get(name) else value

    return {
        **env,
        "LD_LIBRARY_PATH": prepend("LD_LIBRARY_PATH", str(_libs_dir())),
        "PYTHONPATH": prepend("PYTHONPATH", sysconfig.get_paths()["purelib"]),
        "PATH": prepend("PATH", str(Path(sys.executable).parent)),
    }


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
