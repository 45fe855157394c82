"""A queued backlog, and the pods it keeps busy.

A request is queued in the pod it was routed to: new pods cannot take over a
backlog, they can only take the *new* arrivals while the ready pods drain it. So a backlog is
no reason to order "pods to drain it" -- they would drain nothing -- but it does
make the ready pods busy for as long as it takes them to drain it. If that
lasts past the moment new pods could be ready, the arrivals then need replicas of
their own, on top of the busy ones.

The backlog is projected to that moment: it grows (or shrinks) at arrivals minus
what the ready pods serve, for as long as new pods take -- the remaining cold
start of those already starting, or a whole cold start for pods ordered now. What
the ready pods serve is the capacity model's full-batch throughput, but never
more than they are measured to complete: with a backlog queued they are working
flat out, so their completions *are* their throughput, and a model that leaves
out some of a request's cost (HTTP, serialisation) must not talk the backlog
away. The projection does not move while the pods start (a growing backlog meets
a shorter wait), so the ask does not pile on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backlog:
    queued: float
    """Requests queued beyond what a healthy fleet holds, now."""
    at_relief: float
    """Projected backlog when the next pods are ready."""
    relief_s: float
    """Seconds until then."""
    drain_s: float
    """Seconds the ready pods then need to drain it, at full batches (``inf``: they cannot)."""


def project(queued: float, arrivals: float, serving: float, relief_s: float) -> Backlog:
    """The backlog when new pods could be ready, and how long it then keeps the ready
    ones busy; ``serving``: requests/s the ready pods complete at most."""
    at_relief = max(0.0, queued + (arrivals - serving) * relief_s)
    if at_relief <= 0.0:
        drain_s = 0.0
    elif serving <= 0.0:
        drain_s = float("inf")
    else:
        drain_s = at_relief / serving
    return Backlog(queued=queued, at_relief=at_relief, relief_s=relief_s, drain_s=drain_s)


def relief_s(scale_ups: tuple[tuple[float, int], ...], horizon_s: float, now: float) -> float:
    """Seconds until more pods are ready: the oldest starting ones' remaining cold start,
    or a whole cold start when none is on its way."""
    if not scale_ups:
        return horizon_s
    return max(0.0, scale_ups[0][0] + horizon_s - now)
