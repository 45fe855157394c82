"""A pod's init containers as a kubelet runs them: in order, each to success, before the server.

A failing init container is restarted with the same back-off as a crashed server
(the pods' restartPolicy is Always) and the pod stays not ready; its status reads
``Init:Error`` after the first failure, then ``Init:CrashLoopBackOff``, as ``kubectl``
shows them. Init containers that succeeded do not run again when the server restarts.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpufleet_devtools.local.initplan import InitPlan
from gpufleet_devtools.local.localpod import MAX_BACKOFF_S
from gpufleet_devtools.local.podobjects import now_iso
from gpufleet_devtools.local.process import ServerProcess


@dataclass
class InitSequence:
    plans: list[InitPlan]
    done: int = 0
    """How many init containers have completed."""
    process: ServerProcess | None = None
    started_at: str | None = None
    start_at: float = 0.0
    """Event-loop time from which the current init container may (re)start."""
    restarts: int = 0
    last_exit_code: int | None = None
    last_finished_at: str | None = None
    finished_at: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.done >= len(self.plans)

    def tend(self, now: float, log_dir: Path, log_stem: str) -> str | None:
        """Start, notice the exit of, or restart the current init container.

        Returns a warning to record when one failed.
        """
        if self.complete:
            return None
        plan = self.plans[self.done]
        if self.process is not None:
            code = self.process.exit_code()
            if code is None:
                return None
            self.process = None
            self.started_at = None
            if code == 0:
                self.done += 1
                self.finished_at.append(now_iso())
                self.restarts = 0
                self.last_exit_code = None
                return None
            self.restarts += 1
            self.last_exit_code = code
            self.last_finished_at = now_iso()
            backoff = min(MAX_BACKOFF_S, 2.0 ** (self.restarts - 1))
            self.start_at = now + backoff
            return (
                f"init container {plan.name} exited with code {code}; restarting in "
                f"{backoff:g} s (restart {self.restarts}); log: {self.log_path(log_dir, log_stem)}"
            )
        if now >= self.start_at:
            self.process = ServerProcess(plan.process, self.log_path(log_dir, log_stem))
            self.started_at = now_iso()
        return None

    def log_path(self, log_dir: Path, log_stem: str) -> Path:
        name = self.plans[min(self.done, len(self.plans) - 1)].name
        return log_dir / f"{log_stem}.{name}.log"

    async def stop(self, grace_s: float) -> None:
        if self.process is not None:
            with contextlib.suppress(Exception):
                await self.process.terminate(grace_s)

    def statuses(self) -> list[dict[str, Any]]:
        """``status.initContainerStatuses``."""
        statuses = []
        for index, plan in enumerate(self.plans):
            last: dict[str, Any] = {}
            restarts = 0
            if index < self.done:
                state: dict[str, Any] = {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "finishedAt": self.finished_at[index],
                    }
                }
            elif index > self.done:
                state = {"waiting": {"reason": "PodInitializing"}}
            else:
                restarts = self.restarts
                failed = {
                    "exitCode": self.last_exit_code,
                    "reason": "Error",
                    "finishedAt": self.last_finished_at,
                }
                if self.process is not None and self.started_at is not None:
                    state = {"running": {"startedAt": self.started_at}}
                elif self.last_exit_code is None:
                    state = {"waiting": {"reason": "PodInitializing"}}
                elif self.restarts == 1:
                    state = {"terminated": failed}  # kubectl: Init:Error
                else:
                    state = {
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": f"back-off restarting failed container {plan.name}",
                        }
                    }
                if self.last_exit_code is not None and "terminated" not in state:
                    last = {"terminated": failed}
            statuses.append(
                {
                    "name": plan.name,
                    "ready": index < self.done,
                    "started": "running" in state,
                    "restartCount": restarts,
                    "state": state,
                    "lastState": last,
                    "image": "local",
                    "imageID": "",
                }
            )
        return statuses
