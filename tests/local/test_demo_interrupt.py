"""Ctrl-C during ``gpufleet local demo``, ``gpufleet local down``, or the demo killed
outright: no process of the fleet outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gpufleet_devtools.local.state import LocalFleetRecord, pid_alive
from tests.local.conftest import needs_prometheus, serving
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow
GPUFLEET = str(Path(sys.executable).parent / "gpufleet")
POD_START_TIMEOUT_S = 90.0


def _ctrl_c_as_in_a_terminal() -> None:
    """A terminal's foreground job takes Ctrl-C; a test run started in the background
    (``cmd &``, nohup) ignores SIGINT, and the demo would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_demo(cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [GPUFLEET, "local", "demo", "--duration", "120", "--no-live", "--start-delay", "0"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )


def _fleet_with_a_pod(demo: subprocess.Popen[bytes], state_file: Path) -> LocalFleetRecord:
    """The demo's state once a pod's server runs: the moment with the most to clean up."""

    def state_with_a_pod() -> LocalFleetRecord | None:
        assert demo.poll() is None, demo.communicate()[0]
        state = LocalFleetRecord.read(state_file) if state_file.exists() else None
        if state is None or not any(role.startswith("tiny-mlp-") for role in state.pids):
            return None
        return state

    return wait_for(state_with_a_pod, timeout=POD_START_TIMEOUT_S, interval=0.2, what="a pod")


@pytest.mark.parametrize(("stop", "exit_code"), [("ctrl-c", 130), ("down", 143)])
def test_stopping_a_demo_leaves_no_process_behind(
    tmp_path: Path, stop: str, exit_code: int
) -> None:
    needs_prometheus()
    demo = _start_demo(tmp_path)
    state_file = tmp_path / ".gpufleet" / "state.json"
    try:
        state = _fleet_with_a_pod(demo, state_file)
        if stop == "ctrl-c":
            demo.send_signal(signal.SIGINT)
        else:
            subprocess.run([GPUFLEET, "local", "down"], cwd=tmp_path, check=True, timeout=90)
        output = demo.communicate(timeout=90)[0].decode()
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == exit_code, output
    assert "prometheus" in state.pids
    assert "torn down" in output
    assert [role for role, pid in state.pids.items() if pid_alive(pid)] == []
    urls = [state.api_url, state.prometheus_url]
    assert [url for url in urls if serving(url)] == []  # API emulator and Prometheus gone
    assert not state_file.exists()
    assert not (tmp_path / ".gpufleet" / "kubeconfig").exists()


def _descendants(root: int) -> dict[int, str]:
    """Every process under ``root`` now, by pid, with its start time (pids get reused)."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        children.setdefault(int(fields[1]), []).append(int(entry))
        started[int(entry)] = fields[19]
    found: dict[int, str] = {}
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found[child] = started[child]
            pending.append(child)
    return found


def _still_running(processes: dict[int, str]) -> list[str]:
    """Those of ``processes`` still running (neither gone, nor a zombie, nor a new process)."""
    left = []
    for pid, start_time in processes.items():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, _, rest = stat.partition("(")[2].rpartition(")")
        fields = rest.split()
        if fields[0] != "Z" and fields[19] == start_time:
            left.append(f"{pid} {name}")
    return left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree in /proc")
def test_a_killed_demo_takes_every_process_it_started_with_it(tmp_path: Path) -> None:
    """SIGKILL gives the demo no chance to stop anything: its children must go by themselves."""
    needs_prometheus()
    demo = _start_demo(tmp_path)
    try:
        state = _fleet_with_a_pod(demo, tmp_path / ".gpufleet" / "state.json")
        started = _descendants(demo.pid)
        assert set(state.pids.values()) <= set(started)  # Prometheus, the emulator, pod, ...
        demo.kill()
        demo.wait(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
    wait_for(
        lambda: _still_running(started),
        until=lambda left: left == [],
        timeout=30,
        what="every process the killed demo started to exit",
    )
    urls = [state.api_url, state.prometheus_url]
    assert [url for url in urls if serving(url)] == []
