"""What the agent tracks about one pod between syncs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpufleet_devtools.local.podobjects import ContainerState, now_iso
from gpufleet_devtools.local.podplan import ProcessPlan
from gpufleet_devtools.local.process import ServerProcess

if TYPE_CHECKING:
    from gpufleet_devtools.local.initcontainers import InitSequence

MAX_BACKOFF_S = 30.0


@dataclass
class LocalPod:
    name: str
    namespace: str
    template_hash: str
    labels: dict[str, str]
    plan: ProcessPlan
    start_at: float
    """Event-loop time from which the process may start (the start delay, a restart back-off)."""
    uid: str = ""
    created_at: str = field(default_factory=now_iso)
    process: ServerProcess | None = None
    ready: bool = False
    ready_since: str = field(default_factory=now_iso)
    started_at: str | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    last_finished_at: str | None = None
    waiting_reason: str | None = "ContainerCreating"
    terminating: bool = False
    written_status: dict[str, Any] | None = None
    init: InitSequence | None = None
    """The pod's init containers; the server starts once they all completed."""

    @property
    def initialized(self) -> bool:
        return self.init is None or self.init.complete

    def set_ready(self, ready: bool) -> None:
        if ready != self.ready:
            self.ready = ready
            self.ready_since = now_iso()

    def container_state(self) -> ContainerState:
        running = self.process is not None and self.process.exit_code() is None
        return ContainerState(
            phase="Running" if running else "Pending",
            ready=self.ready,
            waiting_reason=None
            if running
            else (self.waiting_reason if self.initialized else "PodInitializing"),
            started_at=self.started_at if running else None,
            restarts=self.restarts,
            last_exit_code=self.last_exit_code,
            last_finished_at=self.last_finished_at,
            created_at=self.created_at,
            init_statuses=self.init.statuses() if self.init is not None else [],
            initialized=self.initialized,
        )

    def record_exit(self, code: int, now: float) -> float:
        """The process died: count a restart; returns the back-off before the next start."""
        self.process = None
        self.set_ready(False)
        self.started_at = None
        self.restarts += 1
        self.last_exit_code = code
        self.last_finished_at = now_iso()
        self.waiting_reason = "CrashLoopBackOff"
        backoff = min(MAX_BACKOFF_S, 2.0 ** (self.restarts - 1))
        self.start_at = now + backoff
        return backoff
