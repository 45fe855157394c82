"""Ctrl-C during ``gpufleet local demo``, or ``gpufleet local down``, tears the whole fleet down."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpufleet_devtools.local.state import LocalFleetRecord, pid_alive
from tests.local.conftest import needs_prometheus, serving

pytestmark = pytest.mark.slow
GPUFLEET = str(Path(sys.executable).parent / "gpufleet")


def _ctrl_c_as_in_a_terminal() -> None:
    """A terminal's foreground job takes Ctrl-C; a test run started in the background
    (``cmd &``, nohup) ignores SIGINT, and the demo would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(("stop", "exit_code"), [("ctrl-c", 130), ("down", 143)])
def test_stopping_a_demo_leaves_no_process_behind(
    tmp_path: Path, stop: str, exit_code: int
) -> None:
    needs_prometheus()
    demo = subprocess.Popen(
        [GPUFLEET, "local", "demo", "--duration", "120", "--no-live", "--start-delay", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    state_file = tmp_path / ".gpufleet" / "state.json"
    deadline = time.monotonic() + 90
    pids: dict[str, int] = {}
    urls: list[str] = []
    try:
        # Wait until a pod's server runs: the moment with the most to clean up.
        while not any(role.startswith("tiny-mlp-") for role in pids):
            assert demo.poll() is None, demo.communicate()[0]
            assert time.monotonic() < deadline, "no pod started"
            state = LocalFleetRecord.read(state_file) if state_file.exists() else None
            pids = dict(state.pids) if state else {}
            urls = [state.api_url, state.prometheus_url] if state else []
            time.sleep(0.2)
        if stop == "ctrl-c":
            demo.send_signal(signal.SIGINT)
        else:
            subprocess.run([GPUFLEET, "local", "down"], cwd=tmp_path, check=True, timeout=90)
        output = demo.communicate(timeout=90)[0].decode()
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == exit_code, output
    assert "prometheus" in pids
    assert "torn down" in output
    assert [role for role, pid in pids.items() if pid_alive(pid)] == []
    assert [url for url in urls if serving(url)] == []  # API emulator and Prometheus gone
    assert not state_file.exists()
    assert not (tmp_path / ".gpufleet" / "kubeconfig").exists()
