"""What one ready replica serves within the latency target: measured, with a model as prior.

The requests a replica really serves -- HTTP, pre/post-processing and all -- are the
ground truth; the batching model fitted to compute time (``prior.py``) only says what
to expect before anything was measured, and how latency moves with load. Three
measurements, each of the served rate per ready replica on a fleet whose size has
settled (the latency window describes it):

- saturated (a backlog that grew at every tick for a whole rate window on the same
  ready pods, or each of them holding a batch waiting at every tick that long): the
  replicas run flat out, so the served rate per replica *is* their
  throughput (its highest reading over the backlog); within the target they carry
  ``max_utilization`` of it at most (a ceiling). Sooner, the rate's window still holds
  time before the backlog, and a backlog that stopped growing may sit on a few pods
  while the rest idle: such readings are lower bounds of the throughput, no ceiling;
- the target missed: a replica carries ``capacity_margin`` less than it was given on a
  steady load, or than the peak of the latency window on one that was not (a ceiling);
- the target met, but without the headroom the fleet is sized for: a replica carries
  what it was given, no more (a ceiling);
- the target met with slack: a replica carries at least what it was given throughout the
  latency window -- the least of the window's readings, since the p95 describes the whole
  window and one reading may be a burst or a scrape answered late (a floor).

A ceiling lowers the model's figure, a floor raises it; a floor above the ceiling moves
the ceiling up to it (requests got cheaper: what was served is what is known). Both age
out after ``capacity_memory_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from gpufleet.domain.scaling.batching import ReplicaModel
from gpufleet.domain.scaling.tuning import PolicyTuning
from gpufleet.domain.scaling.types import ScalerHistory


@dataclass(frozen=True, slots=True)
class Capacity:
    """Requests/s one ready replica serves within the aimed latency, and where that
    figure comes from (for the sentence a person reads)."""

    per_replica: float
    source: str


def learn(
    history: ScalerHistory,
    now: float,
    *,
    served_per_replica: float | None,
    sustained_per_replica: float,
    saturated: bool,
    missed_load: float | None,
    edge: bool,
    slack: bool,
    tuning: PolicyTuning,
) -> ScalerHistory:
    """Fold this tick's measurement (if the fleet has settled) into the ceiling and floor."""
    if served_per_replica is None or served_per_replica <= 0.0:
        return history
    if saturated:
        return _ceiling(history, now, tuning.max_utilization * served_per_replica, "saturated")
    if missed_load is not None:
        return _ceiling(history, now, (1.0 - tuning.capacity_margin) * missed_load, "missed")
    if edge:
        return _ceiling(history, now, served_per_replica, "edge")
    if slack:
        given = sustained_per_replica
        floor = history.capacity_floor
        fresh = floor is not None and now - floor[0] <= tuning.capacity_memory_s
        if given > 0.0 and (not fresh or floor is None or given >= floor[1]):
            ceiling = history.capacity_per_replica
            if ceiling is not None and given > ceiling:
                # Served more within the target than the ceiling allowed: requests got
                # cheaper. What was served is the capacity now, no more, no less.
                history = replace(history, capacity_per_replica=given, capacity_measured_at=now)
            return replace(history, capacity_floor=(now, given))
    return history


def _ceiling(history: ScalerHistory, now: float, value: float, how: str) -> ScalerHistory:
    old = history.capacity_per_replica
    if old is not None and history.capacity_measured_at is not None:
        if how == "saturated" and history.capacity_how == "saturated":
            # Flat out, the served rate's window fills with saturated time as the
            # backlog lasts: the highest reading is the best measure of throughput.
            value = max(old, value)
        elif old < value:
            # A lower ceiling measured within memory stands; a miss renews it.
            value = old
    floor = history.capacity_floor
    if floor is not None and floor[1] > value:
        history = replace(history, capacity_floor=None)
    return replace(history, capacity_per_replica=value, capacity_measured_at=now, capacity_how=how)


def forget_old(history: ScalerHistory, now: float, tuning: PolicyTuning) -> ScalerHistory:
    """Drop measurements older than ``capacity_memory_s`` (a restored ceiling with no
    time starts its memory now)."""
    memory = tuning.capacity_memory_s
    if history.capacity_per_replica is not None:
        at = history.capacity_measured_at
        if at is None:
            history = replace(history, capacity_measured_at=now)
        elif now - at > memory:
            history = replace(history, capacity_per_replica=None, capacity_measured_at=None)
    floor = history.capacity_floor
    if floor is not None and now - floor[0] > memory:
        history = replace(history, capacity_floor=None)
    return history


def estimate(
    history: ScalerHistory, model: ReplicaModel | None, aim_ms: float | None, tuning: PolicyTuning
) -> Capacity | None:
    """What one replica serves within ``aim_ms``: the model's figure, bounded by what was
    measured; ``None`` when neither the model nor a measurement says anything yet."""
    value: float | None = None
    source = ""
    if model is not None:
        by_model = tuning.max_utilization * model.max_rate
        if aim_ms is not None:
            by_model = min(by_model, model.rate_within(aim_ms))
        value, source = by_model, "from the batch time"
    ceiling = history.capacity_per_replica
    if ceiling is not None and (value is None or ceiling < value):
        how = history.capacity_how or "measured"
        value = ceiling
        source = "measured flat out" if how == "saturated" else "measured: more missed the target"
    floor = history.capacity_floor
    if floor is not None and (value is None or floor[1] > value):
        value, source = floor[1], "measured within the target"
    if value is None or not math.isfinite(value):
        return None
    return Capacity(per_replica=value, source=source)
