"""The fleet: pods created, made ready after a cold start, removed on scale-in, billed.

Routing is a Kubernetes Service in front of the ready pods. ``random`` (the
default) is a ClusterIP Service: kube-proxy picks a backend at random for each new
connection, and a client that opens one per request spreads its requests at
random, blind to each pod's queue. ``least-outstanding`` (the pod with the fewest
requests queued or executing) is what a least-request gateway or service mesh
does; choose it only when such a proxy stands in front of the fleet.

Scale-in is the ReplicaSet controller's choice, not the autoscaler's: pods that
are not ready go first, then the pods ready for the shortest time (compared on a
log2 scale, ties broken at random by UID, as with the LogarithmicScaleDown
feature, on by default since Kubernetes 1.22). How busy a pod is plays no part.
A removed ready pod leaves the Service's endpoints at once, keeps serving what it
holds through its preStop pause, then drains on SIGTERM; what it has not finished
by the end of the drain timeout fails. A pod is billed from creation until it exits.
"""

from __future__ import annotations

import math
import random
from functools import partial
from operator import attrgetter

import numpy as np

from gpufleet.sim.llm import LlmProfile, LlmReplica
from gpufleet.sim.profile import AnyProfile
from gpufleet.sim.replica import PodState, Replica
from gpufleet.sim.request_log import RequestLog
from gpufleet.sim.scheduler import Scheduler
from gpufleet.sim.settings import SimSettings

_BY_OUTSTANDING = attrgetter("outstanding")
Pod = Replica | LlmReplica
"""A request-level (dynamic batching) or token-level (LLM) replica."""


def _log2_rank(since: float, now: float) -> int:
    """The ReplicaSet controller's log-scale age bucket (it compares nanoseconds)."""
    age_ns = (now - since) * 1e9
    return int(math.log2(age_ns)) if age_ns >= 1.0 else -1


class Fleet:
    def __init__(
        self,
        settings: SimSettings,
        profile: AnyProfile,
        log: RequestLog,
        sched: Scheduler,
    ) -> None:
        self.settings = settings
        self.profile = profile
        self.log = log
        self.sched = sched
        self.pods: list[Pod] = []
        """Every pod ever created, in creation order."""
        self.routable: list[Pod] = []
        self.starting: list[Pod] = []
        self.scale_events = 0
        self.initial_pods: set[int] = set()
        """Names of the pods ready at t=0 (``start_warm``)."""
        self._rng = np.random.default_rng(settings.seed)
        self._pick = random.Random(settings.seed)
        self._least_outstanding = settings.routing == "least-outstanding"

    @property
    def replicas(self) -> int:
        """Pods asked for: starting or ready (the Deployment's spec.replicas)."""
        return len(self.routable) + len(self.starting)

    @property
    def ready_replicas(self) -> int:
        return len(self.routable)

    def pending_requests(self) -> int:
        return sum(p.outstanding for p in self.pods if p.state is not PodState.EXITED)

    def start_warm(self, count: int) -> None:
        """Pods already ready at t=0 (the fleet before the trace starts)."""
        for _ in range(count):
            pod = self._new_pod(0.0)
            self.initial_pods.add(pod.name)
            self._make_ready(pod, 0.0)

    def scale_to(self, desired: int, now: float) -> None:
        desired = max(0, desired)
        current = self.replicas
        if desired == current:
            return
        self.scale_events += 1
        if desired > current:
            for _ in range(desired - current):
                pod = self._new_pod(now)
                self.starting.append(pod)
                ready_at = now + self.settings.cold_start.sample(self._rng)
                self.sched.at(ready_at, partial(self._on_ready, pod))
            return
        for pod in self.deletion_order(now)[: current - desired]:
            if pod.state is PodState.STARTING:
                self.starting.remove(pod)
                pod.exit(now)  # no server running yet: nothing to drain
            else:
                self.routable.remove(pod)
                pod.terminate(now, self.settings.pre_stop_s, self.settings.drain_timeout_s)

    def deletion_order(self, now: float) -> list[Pod]:
        """The ReplicaSet controller's order of pods to delete, first to go first."""

        def rank(pod: Pod) -> tuple[int, int, int]:
            if pod.state is PodState.STARTING:
                return (0, _log2_rank(pod.created_at, now), pod.uid)
            return (1, _log2_rank(pod.ready_at, now), pod.uid)

        return sorted([*self.starting, *self.routable], key=rank)

    def route(self, rid: int, now: float) -> None:
        routable = self.routable
        if not routable:
            self.log.drop(rid)  # no ready endpoint: the Service refuses the request
            return
        if self._least_outstanding:
            pod = min(routable, key=_BY_OUTSTANDING)
        else:
            pod = routable[self._pick.randrange(len(routable))]
        pod.accept(rid, now)

    def gpu_seconds(self, until: float) -> float:
        gpus = max(self.settings.gpus_per_replica, 1)
        total = 0.0
        for pod in self.pods:
            end = until if pod.exited_at is None else min(pod.exited_at, until)
            total += max(0.0, end - pod.created_at)
        return total * gpus

    def _new_pod(self, now: float) -> Pod:
        name, log, sched = len(self.pods), self.log, self.sched
        timeout, uid = self.settings.request_timeout_s, self._pick.getrandbits(63)
        pod: Pod
        if isinstance(self.profile, LlmProfile):
            pod = LlmReplica(name, now, self.profile, log, sched, timeout, uid)
        else:
            pod = Replica(
                name, now, self.profile, log, sched, timeout, uid, self.settings.model_errors
            )
        self.pods.append(pod)
        return pod

    def _on_ready(self, pod: Pod, now: float) -> None:
        if pod.state is PodState.STARTING:
            self.starting.remove(pod)
            self._make_ready(pod, now)

    def _make_ready(self, pod: Pod, now: float) -> None:
        pod.state = PodState.READY
        pod.ready_at = now
        self.routable.append(pod)
