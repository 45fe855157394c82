"""The whole local fleet in one object: API emulator, Prometheus, operator, node agent.

    async with LocalFleet(LocalPaths.under().ensure(), FleetOptions()) as fleet:
        fleet.kubeconfig, fleet.prometheus.url

Everything binds to 127.0.0.1. The emulator and the operator are subprocesses
(their own sessions, so a terminal's Ctrl-C reaches only us and we stop them in
order); the agent runs in this event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from gpufleet.k8s.client import KubernetesApi
from gpufleet_devtools.local.agent import NodeAgent
from gpufleet_devtools.local.lifetime import die_with_parent, forget_group, watch_group
from gpufleet_devtools.local.paths import CRDS_DIR, LocalPaths
from gpufleet_devtools.local.state import LocalFleetRecord, pid_alive
from gpufleet_devtools.prometheus import PrometheusServer

log = logging.getLogger(__name__)
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
STATE_REFRESH_S = 2.0


@dataclass(frozen=True, slots=True)
class FleetOptions:
    tick_seconds: float = 2.0
    scrape_interval_s: float = 1.0
    rate_window_s: float = 10.0
    """The operator's rate() window: short, so the demo's decisions follow the load quickly."""
    start_delay_s: float = 0.0
    """Extra pod start time, imitating a GPU image pull and model load."""
    drain_delay_s: float = 2.0


def operator_env(kubeconfig: Path, prometheus_url: str, options: FleetOptions) -> dict[str, str]:
    return {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "GPUFLEET_PROMETHEUS_URL": prometheus_url,
        "GPUFLEET_TICK_SECONDS": str(options.tick_seconds),
        "GPUFLEET_SCRAPE_INTERVAL_SECONDS": str(options.scrape_interval_s),
        "GPUFLEET_RATE_WINDOW_SECONDS": str(options.rate_window_s),
        "GPUFLEET_STALE_AFTER_SECONDS": str(max(5.0, 5 * options.scrape_interval_s)),
        "GPUFLEET_QUERY_TIMEOUT_SECONDS": "2",
    }


class LocalFleet:
    def __init__(self, paths: LocalPaths, options: FleetOptions | None = None) -> None:
        self.paths = paths
        self.options = options or FleetOptions()
        self.prometheus = PrometheusServer(
            scrape_interval_s=self.options.scrape_interval_s,
            preexec_fn=die_with_parent(),
            tmp_root=paths.prometheus,
        )
        self.api_url = ""
        self.apiserver: subprocess.Popen[bytes] | None = None
        self.operator: subprocess.Popen[bytes] | None = None
        self.agent: NodeAgent | None = None
        self.kube: KubernetesApi | None = None
        self._agent_task: asyncio.Task[None] | None = None
        self._state_task: asyncio.Task[None] | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.paths.kubeconfig

    async def start(self) -> None:
        self.paths.ensure()
        running = LocalFleetRecord.read(self.paths.state_file)
        if running is not None and pid_alive(running.supervisor_pid):
            raise RuntimeError(
                f"a fleet already runs from {self.paths.root} (pid {running.supervisor_pid}); "
                "stop it first (gpufleet local down)"
            )
        # A killed fleet's Prometheus exited with it (see lifetime) but left its data.
        for leftover in self.paths.prometheus.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            await self._start_apiserver()
            # Spawned from this thread: a worker thread's end would kill it (see lifetime).
            self.prometheus.launch()
            await asyncio.to_thread(self.prometheus.wait_ready)
            self.start_operator()
            self.kube = await KubernetesApi.connect(self.kubeconfig)
            self.agent = NodeAgent(
                self.kube,
                self.paths.volumes,
                self.paths.logs,
                self.prometheus,
                start_delay_s=self.options.start_delay_s,
                drain_delay_s=self.options.drain_delay_s,
            )
            self._agent_task = asyncio.create_task(self.agent.run(), name="gpufleet-local-agent")
            self._state_task = asyncio.create_task(self._record_state(), name="gpufleet-state")
        except BaseException:
            await self.stop()
            raise

    def _spawn_apiserver(self) -> subprocess.Popen[bytes]:
        self.kubeconfig.unlink(missing_ok=True)
        log_file = (self.paths.logs / "apiserver.log").open("ab")
        argv = [sys.executable, "-m", "gpufleet_devtools.apiserver", "--host", "127.0.0.1"]
        argv += ["--port", "0", "--kubeconfig", str(self.kubeconfig), "--crds", str(CRDS_DIR)]
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=log_file,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        log_file.close()
        watch_group(process.pid)  # its own session: the group is its pid
        return process

    async def _start_apiserver(self) -> None:
        self.apiserver = self._spawn_apiserver()
        assert self.apiserver.stdout is not None
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            line = await asyncio.to_thread(self.apiserver.stdout.readline)
        self.api_url = line.decode().strip()
        if not self.api_url.startswith("http"):
            raise RuntimeError(
                f"the API emulator did not start; see {self.paths.logs / 'apiserver.log'}"
            )

    def start_operator(self) -> None:
        """(Re)start ``gpufleet run --standalone`` against the emulator and Prometheus."""
        if self.operator is not None and self.operator.poll() is not None:
            forget_group(self.operator.pid)  # killed and reaped by someone else
        log_file = (self.paths.logs / "operator.log").open("ab")
        self.operator = subprocess.Popen(
            [sys.executable, "-m", "gpufleet", "run", "--standalone"],
            env=operator_env(self.kubeconfig, self.prometheus.url, self.options),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        log_file.close()
        watch_group(self.operator.pid)

    def state(self) -> LocalFleetRecord:
        return LocalFleetRecord(
            supervisor_pid=os.getpid(),
            ready=True,
            api_url=self.api_url,
            prometheus_url=self.prometheus.url,
            kubeconfig=str(self.kubeconfig),
            pids=self.pids(),
        )

    async def _record_state(self) -> None:
        """Keep state.json current, so ``status`` and ``down`` find every process we run."""
        while True:
            self.state().write(self.paths.state_file)
            await asyncio.sleep(STATE_REFRESH_S)

    def pids(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for role, process in (("apiserver", self.apiserver), ("operator", self.operator)):
            if process is not None and process.poll() is None:
                found[role] = process.pid
        if self.prometheus.pid is not None:
            found["prometheus"] = self.prometheus.pid
        if self.agent is not None:
            for pod in self.agent.all_pods():
                if pod.process is not None and pod.process.exit_code() is None:
                    found[pod.name] = pod.process.pid
        return found

    async def stop(self) -> None:
        """Operator first (no decisions while pods go), then pods, Prometheus, the emulator."""
        if self._state_task is not None:
            self._state_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._state_task
            self._state_task = None
        await _stop_process(self.operator)
        self.operator = None
        if self._agent_task is not None:
            self._agent_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._agent_task
            self._agent_task = None
        if self.kube is not None:
            await self.kube.close()
            self.kube = None
        await asyncio.to_thread(self.prometheus.stop)
        await _stop_process(self.apiserver)
        self.apiserver = None
        self.kubeconfig.unlink(missing_ok=True)
        self.paths.state_file.unlink(missing_ok=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def _stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await asyncio.to_thread(process.wait)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait)
    forget_group(process.pid)
