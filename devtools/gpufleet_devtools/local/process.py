"""One pod's server process: spawned in its own session, probed, drained, reaped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from pathlib import Path

import aiohttp

from gpufleet_devtools.local.lifetime import die_with_parent, forget_group, watch_group
from gpufleet_devtools.local.podplan import ProcessPlan

READY_PATH = "/v2/health/ready"
PROBE_TIMEOUT_S = 1.0


class ServerProcess:
    """A running server. Its own session keeps a terminal's Ctrl-C away from it:
    the agent decides when and how it stops (SIGTERM, so requests drain)."""

    def __init__(self, plan: ProcessPlan, log_path: Path) -> None:
        self.plan = plan
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                plan.argv,
                env=plan.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        watch_group(self._process.pid)  # its own session: the group is its pid
        self._reaped = False

    @property
    def pid(self) -> int:
        return self._process.pid

    def exit_code(self) -> int | None:
        """None while it runs; once it exited, its shared memory is gone too."""
        code = self._process.poll()
        if code is not None:
            self._release()
        return code

    def _release(self) -> None:
        if not self._reaped:
            self._reaped = True
            forget_group(self._process.pid)
        if self.plan.shm_prefix:
            from gpufleet_devtools.local.triton import remove_shm

            remove_shm(self.plan.shm_prefix)

    async def probe_ready(self, session: aiohttp.ClientSession) -> bool:
        if self.exit_code() is not None:
            return False
        url = f"http://127.0.0.1:{self.plan.ports.http}{READY_PATH}"
        try:
            timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)
            async with session.get(url, timeout=timeout) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def terminate(self, grace_s: float) -> int:
        """SIGTERM (the server drains in-flight requests), SIGKILL after ``grace_s``."""
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(grace_s):
                code = await asyncio.to_thread(self._process.wait)
        except TimeoutError:
            self.kill()
            code = await asyncio.to_thread(self._process.wait)
        self._release()
        return code

    def kill(self) -> None:
        """Kill the process group: whatever the server forked goes too."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
