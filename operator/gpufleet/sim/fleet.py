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

A node that stops answering (``SimSettings.node_losses``) takes its pods' work with it:
what they hold fails. Nothing tells the endpoints at once: for the node lifecycle
controller's grace period (``--node-monitor-grace-period``, 50 s) the Service still
sends them requests, which fail. Then their Ready condition turns False (the operator
reads them as pods that lost readiness): out of the endpoints, still asked for and
billed, until the taint manager evicts them after the default toleration of the
``unreachable`` taint (300 s) and the ReplicaSet creates their replacements, each a
cold start away. On scale-in they go with the pods that are not ready.
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
NODE_MONITOR_GRACE_S = 50.0
"""kube-controller-manager's ``--node-monitor-grace-period``: how long a node that stopped
posting its status is still taken as Ready (and its pods stay in the endpoints)."""
UNREACHABLE_TOLERATION_S = 300.0
"""The ``tolerationSeconds`` the DefaultTolerationSeconds admission plugin gives every pod
for the ``node.kubernetes.io/unreachable`` taint: how long its pods stay bound to a lost
node before they are evicted."""
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
        self.unanswering: list[Pod] = []
        """Pods on a node that stopped answering, still in the endpoints (its grace period)."""
        self.lost: list[Pod] = []
        """Pods on a lost node marked not Ready: asked for, billed, serving nothing."""
        self.scale_events = 0
        self.initial_pods: set[int] = set()
        """Names of the pods ready at t=0 (``start_warm``)."""
        self._rng = np.random.default_rng(settings.seed)
        self._pick = random.Random(settings.seed)
        self._least_outstanding = settings.routing == "least-outstanding"

    @property
    def replicas(self) -> int:
        """Pods asked for: starting, ready or on a lost node (the Deployment's spec.replicas)."""
        return len(self.routable) + len(self.starting) + len(self.unanswering) + len(self.lost)

    @property
    def lost_replicas(self) -> int:
        """Pods that had been ready and are not any more (their node was lost)."""
        return len(self.lost)

    @property
    def ready_replicas(self) -> int:
        """Pods Kubernetes takes as ready (a lost node's, until its grace period ends)."""
        return len(self.routable) + len(self.unanswering)

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
                self._order_pod(now)
            return
        for pod in self.deletion_order(now)[: current - desired]:
            if pod in self.lost:
                self.lost.remove(pod)
                pod.exit(now)  # nothing runs on it any more
            elif pod in self.unanswering:
                self.unanswering.remove(pod)
                pod.exit(now)
            elif pod.state is PodState.STARTING:
                self.starting.remove(pod)
                pod.exit(now)  # no server running yet: nothing to drain
            else:
                self.routable.remove(pod)
                pod.terminate(now, self.settings.pre_stop_s, self.settings.drain_timeout_s)

    def deletion_order(self, now: float) -> list[Pod]:
        """The ReplicaSet controller's order of pods to delete, first to go first: the
        ones not ready (newest first), then the ones ready for the shortest time."""

        def rank(pod: Pod) -> tuple[int, int, int]:
            if pod.state is PodState.STARTING or pod in self.lost:
                return (0, _log2_rank(pod.created_at, now), pod.uid)
            return (1, _log2_rank(pod.ready_at, now), pod.uid)

        pods = [*self.starting, *self.lost, *self.routable, *self.unanswering]
        return sorted(pods, key=rank)

    def lose_node(self, pods: int, now: float) -> None:
        """A node stops answering with ``pods`` of the ready pods (picked at random)."""
        victims = self._pick.sample(self.routable, min(pods, len(self.routable)))
        for pod in victims:
            self.routable.remove(pod)
            self.unanswering.append(pod)
            pod.lose(now)
        self.sched.at(now + NODE_MONITOR_GRACE_S, partial(self._mark_not_ready, victims))

    def _mark_not_ready(self, pods: list[Pod], now: float) -> None:
        marked = [p for p in pods if p in self.unanswering]  # not scaled in meanwhile
        for pod in marked:
            self.unanswering.remove(pod)
            self.lost.append(pod)
        self.sched.at(now + UNREACHABLE_TOLERATION_S, partial(self._evict, marked))

    def _evict(self, pods: list[Pod], now: float) -> None:
        """The taint manager deletes them; the ReplicaSet replaces each."""
        for pod in pods:
            if pod in self.lost:  # not scaled in meanwhile
                self.lost.remove(pod)
                pod.exit(now)
                self._order_pod(now)

    def _order_pod(self, now: float) -> None:
        pod = self._new_pod(now)
        self.starting.append(pod)
        ready_at = now + self.settings.cold_start.sample(self._rng)
        self.sched.at(ready_at, partial(self._on_ready, pod))

    def route(self, rid: int, now: float) -> None:
        routable = self.routable
        if not routable:
            self.log.drop(rid)  # no ready endpoint: the Service refuses the request
            return
        if self._least_outstanding:
            # A gateway ejects a backend that stops answering: only the Service does not.
            pod = min(routable, key=_BY_OUTSTANDING)
        elif self.unanswering:
            pick = self._pick.randrange(len(routable) + len(self.unanswering))
            if pick >= len(routable):
                self.log.drop(rid)  # sent to a node that does not answer
                return
            pod = routable[pick]
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
