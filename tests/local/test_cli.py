"""``gpufleet local up / status / down`` as a newcomer runs them, with kubectl."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from gpufleet_devtools.local.paths import EXAMPLE_MANIFEST
from gpufleet_devtools.local.state import LocalFleetRecord, pid_alive
from tests.local.conftest import needs_prometheus, serving
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow
GPUFLEET = str(Path(sys.executable).parent / "gpufleet")


def _run(cwd: Path, *args: str, timeout: float = 120) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _ready_pods(api_url: str) -> int:
    with urllib.request.urlopen(f"{api_url}/api/v1/namespaces/default/pods", timeout=5) as r:
        pods = json.loads(r.read())["items"]
    return sum(
        any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
        for p in pods
        if p.get("status", {}).get("conditions")
    )


def test_up_apply_status_down_leaves_nothing_running(tmp_path: Path) -> None:
    needs_prometheus()
    kubectl = shutil.which("kubectl")
    _run(tmp_path, GPUFLEET, "local", "up")
    state = LocalFleetRecord.read(tmp_path / ".gpufleet" / "state.json")
    assert state is not None
    assert state.ready
    try:
        kubeconfig = str(tmp_path / ".gpufleet" / "kubeconfig")
        if kubectl:
            # kubectl's default validation: fieldValidation=Strict against the real CRD.
            applied = _run(tmp_path, kubectl, "--kubeconfig", kubeconfig, "apply",
                           "-f", str(EXAMPLE_MANIFEST))  # fmt: skip
            assert "tiny-mlp" in applied
        else:  # the same request kubectl makes
            pytest.skip("kubectl not installed")
        wait_for(lambda: _ready_pods(state.api_url) >= 1, timeout=90, what="a ready pod")
        table = _run(tmp_path, kubectl, "--kubeconfig", kubeconfig, "get", "modeldeployments")
        header = table.splitlines()[0].split()
        assert header[:4] == ["NAME", "RUNTIME", "READY", "DESIRED"]
        assert "tiny-mlp" in table
        status = _run(tmp_path, GPUFLEET, "local", "status")
        assert "ModelDeployment default/tiny-mlp" in status
        assert ": ready, http" in status
        running = LocalFleetRecord.read(tmp_path / ".gpufleet" / "state.json")
        assert running is not None
        pids = {**running.pids, "supervisor": running.supervisor_pid}
        assert any(role.startswith("tiny-mlp-") for role in pids)  # the pod's server process
    finally:
        down = _run(tmp_path, GPUFLEET, "local", "down")
    assert "fleet stopped" in down
    assert "leftover" not in down  # the supervisor stopped everything itself
    assert [role for role, pid in pids.items() if pid_alive(pid)] == []
    assert [url for url in (state.api_url, state.prometheus_url) if serving(url)] == []
    assert "no fleet is running" in _run(tmp_path, GPUFLEET, "local", "status")
