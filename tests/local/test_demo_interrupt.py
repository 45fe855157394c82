"""Ctrl-C during ``gpufleet local demo``, ``gpufleet local down``, or the demo killed
outright: no process of the fleet outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

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


def _start_demo(cwd: Path, runtime: str = "torch") -> subprocess.Popen[bytes]:
    argv = [GPUFLEET, "local", "demo", "--runtime", runtime, "--duration", "120", "--no-live"]
    return subprocess.Popen(
        [*argv, "--start-delay", "0"],
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


class Process(NamedTuple):
    name: str
    start_time: str
    """Clock ticks after boot: tells a process from a later one that got its pid."""


def _stat(pid: int | str) -> tuple[str, list[str]] | None:
    """(name, the fields after it) of ``/proc/<pid>/stat``; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, _, rest = stat.partition("(")[2].rpartition(")")
    return name, rest.split()


def _descendants(root: int) -> dict[int, Process]:
    """Every process under ``root`` now, by pid."""
    children: dict[int, list[int]] = {}
    found: dict[int, Process] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        stat = _stat(entry)
        if stat is not None:
            name, fields = stat
            children.setdefault(int(fields[1]), []).append(int(entry))
            found[int(entry)] = Process(name, fields[19])
    under: dict[int, Process] = {}
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            under[child] = found[child]
            pending.append(child)
    return under


def _still_running(processes: dict[int, Process]) -> list[str]:
    """Those of ``processes`` still running (neither gone, nor a zombie, nor a new process)."""
    left = []
    for pid, process in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[1][0] != "Z" and stat[1][19] == process.start_time:
            left.append(f"{pid} {process.name}")
    return left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree in /proc")
@pytest.mark.parametrize(
    ("runtime", "last_to_start"),
    # Triton's python backend runs each model in a stub process: a server's own children.
    [("torch", "gpufleet-server"), ("triton", "triton_python_b")],
)
def test_a_killed_demo_takes_every_process_it_started_with_it(
    tmp_path: Path, runtime: str, last_to_start: str
) -> None:
    """SIGKILL gives the demo no chance to stop anything: its children must go by themselves."""
    needs_prometheus()
    if runtime == "triton":
        pytest.importorskip("pytriton", reason="nvidia-pytriton bundles the tritonserver binary")
    demo = _start_demo(tmp_path, runtime)

    def everything_started() -> dict[int, Process] | None:
        assert demo.poll() is None, demo.communicate()[0]
        started = _descendants(demo.pid)
        return started if last_to_start in {p.name for p in started.values()} else None

    try:
        started = wait_for(everything_started, timeout=POD_START_TIMEOUT_S, what=last_to_start)
        prometheus = next(pid for pid, p in started.items() if p.name == "prometheus")
        prometheus_args = Path(f"/proc/{prometheus}/cmdline").read_text().split("\0")
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
    # What it could not clean up stays in its own folder (the next fleet there clears it).
    storage = next(a for a in prometheus_args if a.startswith("--storage.tsdb.path="))
    assert Path(storage.partition("=")[2]).is_relative_to(tmp_path / ".gpufleet")
