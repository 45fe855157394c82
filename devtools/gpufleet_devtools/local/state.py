"""``.gpufleet/state.json``: what ``up`` started, for ``status`` and ``down``."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class LocalFleetRecord(BaseModel):
    """The processes and addresses of a running local fleet, as ``up`` records them."""

    model_config = ConfigDict(frozen=True)

    supervisor_pid: int
    ready: bool = False
    error: str | None = None
    api_url: str = ""
    prometheus_url: str = ""
    kubeconfig: str = ""
    pids: dict[str, int] = {}
    """Every process the fleet started, by role (``apiserver``, ``operator``, pod names)."""

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        os.replace(tmp, path)  # readers never see half a file

    @classmethod
    def read(cls, path: Path) -> LocalFleetRecord | None:
        if not path.exists():
            return None
        return cls.model_validate_json(path.read_text())


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (exited, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust the signal
    return stat.rpartition(")")[2].split()[0] != "Z"
