"""``up``/``down``/``status``: the fleet as a background process, found through state.json."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

from gpufleet_devtools.local.fleet import FleetOptions
from gpufleet_devtools.local.paths import LocalPaths
from gpufleet_devtools.local.state import LocalFleetRecord, pid_alive

UP_TIMEOUT_S = 120.0
DOWN_TIMEOUT_S = 60.0


class FleetError(RuntimeError):
    pass


def start_background(paths: LocalPaths, options: FleetOptions) -> LocalFleetRecord:
    """Start the supervisor detached from this terminal; return once the fleet is up."""
    current = LocalFleetRecord.read(paths.state_file)
    if current is not None and pid_alive(current.supervisor_pid):
        raise FleetError(f"a fleet is already running (pid {current.supervisor_pid}); run down")
    paths.ensure()
    paths.state_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "gpufleet_devtools.local.supervise", str(paths.root)]
    argv += ["--start-delay", str(options.start_delay_s), "--tick", str(options.tick_seconds)]
    with (paths.logs / "supervisor.log").open("ab") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        state = LocalFleetRecord.read(paths.state_file)
        if state is not None and (state.ready or state.error):
            if state.error:
                raise FleetError(f"the fleet failed to start: {state.error}")
            return state
        if process.poll() is not None:
            raise FleetError(f"the fleet exited early; see {paths.logs / 'supervisor.log'}")
        time.sleep(0.2)
    raise FleetError(f"the fleet was not up within {UP_TIMEOUT_S:g} s")


def stop_background(paths: LocalPaths) -> list[str]:
    """Stop the supervisor (it stops the rest in order); kill whatever it left. Returns notes."""
    state = LocalFleetRecord.read(paths.state_file)
    if state is None:
        return ["no fleet is running"]
    notes: list[str] = []
    if pid_alive(state.supervisor_pid):
        os.kill(state.supervisor_pid, signal.SIGTERM)
        deadline = time.monotonic() + DOWN_TIMEOUT_S
        while pid_alive(state.supervisor_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    for role, pid in state.pids.items():
        if pid_alive(pid):  # the supervisor died before it could stop it
            _kill(pid)
            notes.append(f"killed leftover {role} (pid {pid})")
    paths.state_file.unlink(missing_ok=True)
    paths.kubeconfig.unlink(missing_ok=True)
    notes.append("fleet stopped")
    return notes


def _kill(pid: int) -> None:
    """The process and, when it leads one, its process group (a server's children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return dict(json.loads(response.read()))


def describe(paths: LocalPaths) -> list[str]:
    state = LocalFleetRecord.read(paths.state_file)
    if state is None or not pid_alive(state.supervisor_pid):
        return ["no fleet is running (gpufleet local up starts one)"]
    lines = [
        f"API server  {state.api_url}   kubeconfig {state.kubeconfig}",
        f"Prometheus  {state.prometheus_url}",
        f"processes   {', '.join(f'{role}={pid}' for role, pid in sorted(state.pids.items()))}",
    ]
    mds = _get(f"{state.api_url}/apis/gpufleet.io/v1alpha1/modeldeployments").get("items", [])
    for md in mds:
        status = md.get("status") or {}
        last = (status.get("decision") or {}).get("reason") or status.get("lastScaleReason", "-")
        lines.append(
            f"ModelDeployment {md['metadata']['namespace']}/{md['metadata']['name']}: "
            f"replicas {status.get('readyReplicas', 0)}/{status.get('desiredReplicas', '-')}, "
            f"p95 {status.get('p95LatencyMs', '-')} ms, {status.get('hourlyCost', '-')} $/h, "
            f"last: {last}"
        )
    for pod in _get(f"{state.api_url}/api/v1/pods").get("items", []):
        conditions = (pod.get("status") or {}).get("conditions") or []
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
        lines.append(
            f"  pod {pod['metadata']['name']}: {'ready' if ready else 'not ready'}, "
            f"http {ports.get('http')}, metrics {ports.get('metrics')}"
        )
    return lines
