"""What a ModelDeployment's pods say about placement and crashes, pure.

The Deployment's counts cannot tell a pod waiting for a node autoscaler from one the
cluster will never place, nor a pod starting from one crash-looping. The operator
watches its pods and keeps one :class:`PodFacts` per pod; :func:`summarize` turns
them into what the scaling loop and the conditions need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CRASH_LOOP_REASON = "CrashLoopBackOff"
FINISHED_PHASES = frozenset({"Failed", "Succeeded"})
CANNOT_START_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
"""A container's waiting reasons that the kubelet retries but a person must fix (an image
or tag that does not exist, a missing pull secret, Secret or ConfigMap): the pod never
starts. Argo CD's pod health check counts the same reasons as Degraded."""


@dataclass(frozen=True, slots=True)
class PodFacts:
    """One pod, reduced to what placement and readiness need."""

    name: str
    created_at: float | None
    """``metadata.creationTimestamp`` (seconds since the epoch)."""
    unschedulable: str | None
    """The scheduler's message while ``PodScheduled=False`` with reason Unschedulable."""
    crash_looping: str | None
    """Which container is in CrashLoopBackOff, with its last exit, or ``None``."""
    restarts: int
    ready_since: float | None
    """When the pod last became Ready; ``None`` while it is not Ready."""
    terminating: bool
    http_address: str | None = None
    """``podIP:port`` of the container port named ``http`` (the model server's API);
    ``None`` before the pod has an IP."""
    cannot_start: str | None = None
    """Which container cannot start and the kubelet's reason (:data:`CANNOT_START_REASONS`),
    or ``None``."""
    readiness_lost: bool = False
    """Running, and not Ready since after its containers started (see
    :func:`_readiness_lost`): not starting any more."""
    node_lost: bool = False
    """Readiness lost, taken by the node lifecycle controller rather than reported by the
    kubelet: its node stopped answering (see :func:`_node_lost`)."""
    finished: bool = False
    """Phase ``Failed`` or ``Succeeded``: evicted (node pressure, a drain) or done; the
    ReplicaSet has replaced it, though the object stays until pod garbage collection."""


def _timestamp(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    for condition in status.get("conditions") or ():
        if condition.get("type") == type_:
            return dict(condition)
    return {}


def _crash_loop(statuses: Iterable[Mapping[str, Any]]) -> str | None:
    for container in statuses:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") != CRASH_LOOP_REASON:
            continue
        last = (container.get("lastState") or {}).get("terminated") or {}
        exit_text = ""
        if last:
            exit_text = f", last exit {last.get('exitCode', '?')}"
            if last.get("reason"):
                exit_text += f" ({last['reason']})"
        restarts = int(container.get("restartCount") or 0)
        return (
            f"container {container.get('name', '?')} restarted {restarts} times{exit_text}: "
            f"{waiting.get('message') or CRASH_LOOP_REASON}"
        )
    return None


def _cannot_start(statuses: Iterable[Mapping[str, Any]]) -> str | None:
    for container in statuses:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in CANNOT_START_REASONS:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            return f"container {container.get('name', '?')} {reason}{detail}"
    return None


def _readiness_lost(ready: Mapping[str, Any], containers: Iterable[Mapping[str, Any]]) -> bool:
    """Not Ready since after every container was running: the pod had started and stopped
    passing its readiness probe, or its node stopped reporting (the node lifecycle
    controller marks the pods of a NotReady node not Ready). A pod still starting went
    not Ready before its containers started."""
    if ready.get("status") != "False":
        return False
    since = _timestamp(ready.get("lastTransitionTime"))
    started = [
        _timestamp(((c.get("state") or {}).get("running") or {}).get("startedAt"))
        for c in containers
    ]
    if since is None or not started or None in started:
        return False
    return since > max(t for t in started if t is not None)


NODE_LOST_REASON = "NodeLost"
"""``status.reason`` the node lifecycle controller gives the pods of a node it cannot
reach (``NodeUnreachablePodReason``)."""


KUBELET_NOT_READY_REASONS = frozenset({"ContainersNotReady", "ReadinessGatesNotReady"})
"""The Ready condition's reasons when the kubelet turned it (a container, or a readiness
gate a load balancer controller injected, not ready)."""


def _node_lost(
    status: Mapping[str, Any], ready: Mapping[str, Any], containers: Sequence[Mapping[str, Any]]
) -> bool:
    """Of a pod that lost readiness, whether the node lifecycle controller took it: the
    controller's own ``NodeLost`` reason, or every container still reading ready with no
    reason from the kubelet -- the controller marks only the Ready condition of the pods
    of a node that stopped posting its status (the kubelet turns a container's ``ready``
    with the condition, or says which gate is not ready)."""
    if status.get("reason") == NODE_LOST_REASON:
        return True
    if ready.get("reason") in KUBELET_NOT_READY_REASONS:
        return False
    return bool(containers) and all(c.get("ready") is True for c in containers)


def _ready_since(ready: Mapping[str, Any], meta: Mapping[str, Any]) -> float | None:
    if ready.get("status") != "True":
        return None
    return _timestamp(ready.get("lastTransitionTime")) or _timestamp(meta.get("creationTimestamp"))


def http_address(pod: Mapping[str, Any]) -> str | None:
    """``podIP:port`` of the pod's container port named ``http`` (the model server's API);
    ``None`` before the pod has an IP."""
    ip = (pod.get("status") or {}).get("podIP")
    if not isinstance(ip, str) or not ip:
        return None
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            if port.get("name") == "http" and port.get("containerPort"):
                host = f"[{ip}]" if ":" in ip else ip  # an IPv6 address in a URL
                return f"{host}:{int(port['containerPort'])}"
    return None


def pod_facts(pod: Mapping[str, Any]) -> PodFacts:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    main_containers = status.get("containerStatuses") or ()
    containers = [*(status.get("initContainerStatuses") or ()), *main_containers]
    scheduled = _condition(status, "PodScheduled")
    unschedulable = None
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        unschedulable = str(scheduled.get("message") or "the scheduler found no node")
    ready = _condition(status, "Ready")
    readiness_lost = _readiness_lost(ready, main_containers)
    return PodFacts(
        name=str(meta.get("name", "")),
        created_at=_timestamp(meta.get("creationTimestamp")),
        unschedulable=unschedulable,
        crash_looping=_crash_loop(containers),
        restarts=sum(int(c.get("restartCount") or 0) for c in containers),
        ready_since=_ready_since(ready, meta),
        terminating=bool(meta.get("deletionTimestamp")),
        http_address=http_address(pod),
        cannot_start=_cannot_start(containers),
        finished=status.get("phase") in FINISHED_PHASES,
        readiness_lost=readiness_lost,
        node_lost=readiness_lost and _node_lost(status, ready, main_containers),
    )


@dataclass(frozen=True, slots=True)
class PodSummary:
    """Placement and crashes of one ModelDeployment's pods at one moment."""

    unschedulable: tuple[PodFacts, ...] = ()
    """Pods the scheduler cannot place now (within the timeout: capacity on its way)."""
    unplaceable: tuple[PodFacts, ...] = ()
    """The unschedulable ones pending longer than the provisioning timeout: the cluster
    is the limit; they no longer count as capacity on its way."""
    crash_looping: tuple[PodFacts, ...] = ()
    cannot_start: tuple[PodFacts, ...] = ()
    """Pods with a container that cannot start (an image that cannot be pulled...)."""
    readiness_lost: tuple[PodFacts, ...] = ()
    """Pods that had started and are not Ready any more (a probe failing, a node lost)."""
    node_lost: tuple[PodFacts, ...] = ()
    """Of those, the ones whose node stopped answering."""
    provisioning_timeout_s: float = 600.0
    ready_since: Mapping[str, float] = field(default_factory=dict)
    """Ready pods by name: when each became Ready (a pod ready for less than a scrape
    interval may not be in Prometheus yet)."""
    http_addresses: tuple[str, ...] = ()
    """The ready pods' model server API (``podIP:port``), to ask what the model is
    configured for."""
    pods: int = 0
    """Pods that exist, are not being deleted and have not finished (evicted), whatever
    their state: those the ReplicaSet counts."""

    @property
    def scheduler_message(self) -> str | None:
        pods = self.unplaceable or self.unschedulable
        return pods[0].unschedulable if pods else None


def summarize(pods: Iterable[PodFacts], now: float, provisioning_timeout_s: float) -> PodSummary:
    """Pods being deleted are left out: they are neither capacity nor a problem to report."""
    live = sorted((p for p in pods if not p.terminating), key=lambda p: p.name)
    unschedulable = tuple(p for p in live if p.unschedulable is not None)
    unplaceable = tuple(
        p
        for p in unschedulable
        if p.created_at is not None and now - p.created_at >= provisioning_timeout_s
    )
    return PodSummary(
        unschedulable=unschedulable,
        unplaceable=unplaceable,
        crash_looping=tuple(p for p in live if p.crash_looping is not None),
        cannot_start=tuple(p for p in live if p.cannot_start is not None),
        readiness_lost=tuple(p for p in live if p.readiness_lost),
        node_lost=tuple(p for p in live if p.node_lost),
        provisioning_timeout_s=provisioning_timeout_s,
        ready_since={p.name: p.ready_since for p in live if p.ready_since is not None},
        http_addresses=tuple(
            p.http_address for p in live if p.ready_since is not None and p.http_address is not None
        ),
        pods=sum(1 for p in live if not p.finished),
    )
