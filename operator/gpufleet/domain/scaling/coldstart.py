"""Pods on their way: replicas asked for but not yet ready, and how long they take.

Each scale-up is remembered as ``(time, replicas added)``; when ready replicas
rise, the oldest pending scale-ups are matched to them (FIFO) and the elapsed
time is a cold-start sample, smoothed into ``observed_cold_start_s``. That
learned value replaces ``spec.scaling.coldStartSeconds`` as the horizon the
policy looks ahead over.
"""

from __future__ import annotations

from dataclasses import replace

from gpufleet.domain.scaling.types import FleetState, ScalerHistory
from gpufleet.domain.spec import ModelDeploymentSpec


def track(history: ScalerHistory, fleet: FleetState, now: float, smoothing: float) -> ScalerHistory:
    pending = list(history.scale_ups)
    observed = history.observed_cold_start_s
    last_ready = history.last_ready_replicas
    if last_ready is not None and fleet.ready_replicas > last_ready:
        became_ready = fleet.ready_replicas - last_ready
        while became_ready > 0 and pending:
            started, count = pending[0]
            taken = min(count, became_ready)
            sample = now - started
            observed = sample if observed is None else observed + smoothing * (sample - observed)
            became_ready -= taken
            if taken == count:
                pending.pop(0)
            else:
                pending[0] = (started, count - taken)
    # Pods deleted before they became ready (a scale-down, a failed pod) are no
    # longer on their way: forget the newest pending ones first.
    excess = sum(count for _, count in pending) - fleet.starting_replicas
    while excess > 0 and pending:
        started, count = pending[-1]
        if count <= excess:
            pending.pop()
            excess -= count
        else:
            pending[-1] = (started, count - excess)
            excess = 0
    ready_since = history.ready_since
    if last_ready is not None and fleet.ready_replicas != last_ready:
        ready_since = now
    scale_ups = tuple(pending)
    if (
        last_ready == fleet.ready_replicas
        and scale_ups == history.scale_ups
        and observed == history.observed_cold_start_s
    ):
        return history  # nothing changed (most ticks): no copy of the tick's memory
    return replace(
        history,
        ready_since=ready_since,
        scale_ups=scale_ups,
        observed_cold_start_s=observed,
        last_ready_replicas=fleet.ready_replicas,
    )


def record_scale_up(history: ScalerHistory, now: float, added: int) -> ScalerHistory:
    return replace(history, scale_ups=(*history.scale_ups, (now, added)))


def horizon_s(spec: ModelDeploymentSpec, history: ScalerHistory) -> float:
    """Expected cold start: learned when seen, else the spec's estimate."""
    if history.observed_cold_start_s is not None:
        return history.observed_cold_start_s
    return float(spec.scaling.cold_start_seconds)
