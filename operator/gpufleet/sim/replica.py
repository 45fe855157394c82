"""One replica: a dynamic-batching inference server (Triton's dynamic batcher).

A batch is dispatched when the server is idle and either ``max_batch`` requests wait
or the oldest has waited ``max_queue_delay``. A batch of total work ``w`` takes
``a + c * w``. A request that waited longer than the request timeout is dropped at
dispatch as failed (the client has given up).

Each replica keeps the counters Triton exports, with Triton's semantics: the
duration counters grow per request, so every request of a batch adds the whole
batch's compute time to ``nv_inference_compute_infer_duration_us``, while
``nv_inference_exec_count`` counts one per batch; the pending gauge
(``nv_inference_pending_request_count``) counts requests waiting to execute, not
those executing. The compute counter holds the model's execution only (the
profile's compute fit); the rest of a batch's time (HTTP, (de)serialisation) and the
wait in the queue count in the request duration alone, which holds each request's
whole latency. It also keeps the latencies of its answered requests for its p95
summary.

On scale-in a ready pod is terminated: it takes no new requests, keeps serving
what it holds through the preStop pause, then drains (as ``gpufleet-server`` and
Triton do on SIGTERM) and exits once idle; whatever it still holds when the drain
timeout ends fails.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum

from gpufleet.sim.profile import ServiceProfile
from gpufleet.sim.request_log import RequestLog
from gpufleet.sim.scheduler import Scheduler


@dataclass(slots=True)
class PodCounters:
    """Cumulative, like Triton's counters (durations in seconds, not microseconds)."""

    success: int = 0
    failure: int = 0
    """Requests the server gave up on (waited past the client's timeout)."""
    errors: int = 0
    """Requests the model failed (Triton's ``BACKEND`` failures)."""
    inferences: int = 0
    executions: int = 0
    request_s: float = 0.0
    queue_s: float = 0.0
    compute_s: float = 0.0
    """Per request, like Triton: a batch of b adds b times its compute time (the
    model's execution, not the batch's whole service time)."""


class PodState(IntEnum):
    STARTING = 0
    READY = 1
    DRAINING = 2
    EXITED = 3


class PodLifecycle:
    """What both replica models share of a pod's life: drained on removal from the
    endpoints, killed when the drain times out, lost with its node. A model says what it
    holds (``outstanding``) and how it fails it all (``_kill``)."""

    __slots__ = ("earliest_exit", "exited_at", "outstanding", "sched", "state")
    state: PodState
    exited_at: float | None
    earliest_exit: float
    """A terminating pod lives at least until its preStop pause ends."""
    outstanding: int
    """Requests it holds: queued or executing (what a queue proxy counts as in flight)."""
    sched: Scheduler

    def terminate(self, now: float, pre_stop_s: float, drain_timeout_s: float) -> None:
        """Removed from the endpoints: serve what it holds, exit once idle after preStop."""
        self.state = PodState.DRAINING
        self.earliest_exit = now + pre_stop_s
        self.sched.at(self.earliest_exit, self._exit_if_drained)
        self.sched.at(self.earliest_exit + drain_timeout_s, self._kill)

    def _kill(self, now: float) -> None:
        """The drain timed out: the server exits and what it still held fails."""
        raise NotImplementedError

    def lose(self, now: float) -> None:
        """Its node stopped answering: what it holds fails (its clients time out), nothing
        runs on it any more, and it is billed until evicted (its GPU node is)."""
        self._kill(now)
        self.exited_at = None

    def _exit_if_drained(self, now: float) -> None:
        if (
            self.outstanding == 0
            and self.state is PodState.DRAINING
            and now >= self.earliest_exit - 1e-9
        ):
            self.exit(now)

    def exit(self, now: float) -> None:
        self.state = PodState.EXITED
        self.exited_at = now


class Replica(PodLifecycle):
    __slots__ = (
        "batch_compute_s",
        "counters",
        "created_at",
        "done_at",
        "done_latency",
        "error_windows",
        "in_service",
        "log",
        "name",
        "profile",
        "queue",
        "ready_at",
        "timeout_s",
        "timer_at",
        "uid",
    )

    def __init__(
        self,
        name: int,
        created_at: float,
        profile: ServiceProfile,
        log: RequestLog,
        sched: Scheduler,
        timeout_s: float,
        uid: int = 0,
        error_windows: tuple[tuple[float, float], ...] = (),
    ) -> None:
        self.name = name
        self.error_windows = error_windows
        """(start, end) seconds in which every execution fails at once."""
        self.uid = uid
        """The pod's UID: the ReplicaSet controller's last tie-break on scale-in."""
        self.created_at = created_at
        self.ready_at = float("inf")
        self.exited_at: float | None = None
        self.state = PodState.STARTING
        self.profile = profile
        self.log = log
        self.sched = sched
        self.timeout_s = timeout_s
        self.queue: deque[int] = deque()
        self.in_service: list[int] = []
        self.batch_compute_s = 0.0
        """Compute time of the batch executing now (its service time may be longer)."""
        self.outstanding = 0
        self.earliest_exit = float("inf")
        self.timer_at = float("inf")
        self.counters = PodCounters()
        self.done_at: list[float] = []
        self.done_latency: list[float] = []

    @property
    def waiting(self) -> int:
        """Requests queued, not executing: Triton's ``nv_inference_pending_request_count``."""
        return self.outstanding - len(self.in_service)

    @property
    def running_count(self) -> int:
        """Requests executing now."""
        return len(self.in_service)

    def kv_usage_at(self, now: float) -> float:
        return 0.0  # no KV cache in this model

    preemptions = 0

    prompt_tokens_total = 0.0
    generation_tokens_total = 0.0

    def _kill(self, now: float) -> None:
        if self.state is PodState.EXITED:
            return
        for rid in (*self.in_service, *self.queue):
            self.log.drop(rid)
        self.counters.failure += self.outstanding
        self.queue.clear()
        self.in_service = []
        self.outstanding = 0
        self.exit(now)

    def accept(self, rid: int, now: float) -> None:
        self.queue.append(rid)
        self.outstanding += 1
        if not self.in_service:
            self._try_dispatch(now)

    def _try_dispatch(self, now: float) -> None:
        queue, log = self.queue, self.log
        arrivals = log.arrivals
        deadline = now - self.timeout_s
        while queue and arrivals[queue[0]] <= deadline:
            log.drop(queue.popleft())
            self.counters.failure += 1
            self.outstanding -= 1
        windows = self.error_windows  # empty but for --model-errors: no scan per dispatch
        if windows and queue and any(start <= now < end for start, end in windows):
            # The model fails every execution at once: what waits fails as errors.
            for rid in queue:
                log.drop(rid)
            self.counters.errors += len(queue)
            self.outstanding -= len(queue)
            queue.clear()
        if not queue:
            return
        profile = self.profile
        oldest_due = arrivals[queue[0]] + profile.max_queue_delay_ms / 1000.0
        if len(queue) < profile.max_batch and now < oldest_due:
            if self.timer_at != oldest_due:
                self.timer_at = oldest_due
                self.sched.at(oldest_due, self._on_timer)
            return
        take = min(len(queue), profile.max_batch)
        batch = [queue.popleft() for _ in range(take)]
        sizes = log.sizes
        work = float(take) if sizes is None else sum(sizes[r] for r in batch)
        service = profile.batch_seconds(work)
        counters = self.counters
        counters.queue_s += now * take - sum(arrivals[r] for r in batch)
        counters.executions += 1
        counters.inferences += take
        self.in_service = batch
        self.batch_compute_s = profile.compute_seconds(work)
        self.sched.at(now + service, self._on_done)

    def _on_timer(self, now: float) -> None:
        if now == self.timer_at and self.state is not PodState.EXITED:
            self.timer_at = float("inf")
            if not self.in_service:
                self._try_dispatch(now)
                self._exit_if_drained(now)

    def _on_done(self, now: float) -> None:
        if self.state is PodState.EXITED:
            return  # killed while this batch ran: its requests already failed
        log = self.log
        arrivals, latency, failed = log.arrivals, log.latency, log.failed
        counters = self.counters
        done_at, done_latency = self.done_at, self.done_latency
        timeout = self.timeout_s
        for rid in self.in_service:
            waited = now - arrivals[rid]
            latency[rid] = waited
            done_at.append(now)
            done_latency.append(waited)
            counters.request_s += waited
            if waited > timeout:  # answered, but after the client gave up
                failed[rid] = True
        counters.success += len(self.in_service)
        counters.compute_s += self.batch_compute_s * len(self.in_service)
        log.answered += len(self.in_service)
        self.outstanding -= len(self.in_service)
        self.in_service = []
        self._try_dispatch(now)
        self._exit_if_drained(now)
