"""Autoscaling paused by a person: hold the fleet at a count, whatever the load says.

During an incident, a load test or a maintenance window, a person freezes the fleet
without touching the spec (which Git owns) -- with an annotation on the
ModelDeployment, as KEDA's ``autoscaling.keda.sh/paused-replicas`` and ``paused`` do:

- ``gpufleet.io/paused-replicas: "N"``: set N replicas and hold them;
- ``gpufleet.io/paused: "true"``: hold the replicas there are now.

The budget and ``maxReplicas`` still bound the count (the budget is a promise, and a
pause must not buy more GPUs than the spec allows); ``minReplicas`` does not: pausing
at 0 drains the fleet. The policy still runs: status says what it would decide. An
annotation that is not understood pauses at the current count and says why: whoever
wrote it wanted the fleet to stop moving.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from gpufleet.domain.scaling.budget import limits
from gpufleet.domain.scaling.explain import verb
from gpufleet.domain.scaling.types import Bound, Decision, FleetState, ReasonCode
from gpufleet.domain.spec import ModelDeploymentSpec

PAUSED_REPLICAS = "gpufleet.io/paused-replicas"
PAUSED = "gpufleet.io/paused"


@dataclass(frozen=True, slots=True)
class Pause:
    """A pause asked for by annotation."""

    annotation: str
    """``name=value`` as written, for the explanation."""
    replicas: int | None
    """The count to hold; ``None``: the current one."""
    problem: str | None = None
    """Why the annotation was not understood (the current count is held)."""


def pause_of(annotations: Mapping[str, str] | None) -> Pause | None:
    """The pause the ModelDeployment's annotations ask for, if any."""
    annotations = annotations or {}
    if PAUSED_REPLICAS in annotations:
        text = str(annotations[PAUSED_REPLICAS])
        written = f"{PAUSED_REPLICAS}={text!r}"
        stripped = text.strip()
        if stripped.isascii() and stripped.isdigit():
            return Pause(written, int(stripped))
        return Pause(written, None, "is not a whole number of replicas")
    if PAUSED in annotations:
        text = str(annotations[PAUSED])
        written = f"{PAUSED}={text!r}"
        value = text.strip().lower()
        if value == "true":
            return Pause(written, None)
        if value == "false":
            return None
        return Pause(written, None, 'is neither "true" nor "false"')
    return None


def paused(
    decision: Decision, pause: Pause, spec: ModelDeploymentSpec, fleet: FleetState
) -> Decision:
    """``decision`` overridden by ``pause``: its count, its reason; the policy's own
    decision stays in the sentence (and its memory in the history)."""
    lim = limits(spec, fleet)
    wanted = fleet.replicas if pause.replicas is None else pause.replicas
    held = min(wanted, lim.upper)
    action = verb(fleet.replicas, held)
    if pause.problem is not None:
        sentence = (
            f"autoscaling paused: annotation {pause.annotation} {pause.problem}; {action} "
            f"until it is fixed or removed"
        )
    else:
        sentence = f"autoscaling paused by annotation {pause.annotation}: {action}"
    bounds: frozenset[Bound] = frozenset()
    if held < wanted:
        bounds = frozenset({lim.upper_bound})
        limit = "the budget" if lim.upper_bound is Bound.BUDGET else "maxReplicas"
        sentence += f" ({wanted} asked for; {limit} allows {held})"
    policy = (
        f"the policy would set {decision.desired_replicas}"
        if decision.desired_replicas != held
        else "the policy agrees"
    )
    return replace(
        decision,
        desired_replicas=held,
        reason_code=ReasonCode.PAUSED,
        reason=f"{sentence}; {policy}: {decision.reason}",
        rule="paused",
        bounds_hit=bounds,
        predicted_p95_ms=decision.predicted_p95_ms if held == decision.desired_replicas else None,
        hourly_cost=held * lim.replica_hourly_cost,
    )
