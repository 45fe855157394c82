"""A restarted operator takes when its fleet last changed from the pods' Ready times.

Its scaler history starts empty; the latency window Prometheus reports may still hold the
fleet's size before the last scale-up, which the old operator was waiting out. Judged as
this size's latency, an old miss would be learned as this size's capacity and add a pod
for a load the fleet serves. The pods say when they became ready: the window is judged
once the policy's settle time has passed since then, as it would have been by the old
operator. (On real parts: tests/local/test_operator_restart.py.)
"""

from __future__ import annotations

import pytest

from gpufleet.domain.scaling.policy import decide
from gpufleet.domain.scaling.tuning import DEFAULT_TUNING
from gpufleet.domain.scaling.types import Decision, ScalerHistory
from gpufleet.services.autoscale import resumed
from tests.scaling.builders import fleet, load, spec

RESTART = 1_000_000.0
TICK = 5.0
MISSED = "measured: more missed the target"


def _after_restart(ready_ago_s: float, ticks: int) -> list[Decision]:
    """Decisions of a restarted operator over 2 ready pods, the newest ready
    ``ready_ago_s`` before the restart, measuring a p95 above the 3000 ms target."""
    pods = {"a": RESTART - ready_ago_s - 30.0, "b": RESTART - ready_ago_s}
    history = resumed(ScalerHistory(), pods, 2)
    decisions = []
    for i in range(ticks):
        now = RESTART + i * TICK
        decision = decide(spec(), fleet(2), load(now, 1.0, p95_ms=3500.0, pods=2), history, now)
        history = decision.history
        decisions.append(decision)
    return decisions


@pytest.mark.parametrize(
    ("ready_ago_s", "judged_at_once"),
    [
        (10.0, False),  # a scale-up just before the restart: the window mixes two sizes
        (600.0, True),  # a fleet that has not changed for ten minutes
    ],
)
def test_the_latency_window_is_judged_once_it_holds_this_fleet_size(
    ready_ago_s: float, judged_at_once: bool
) -> None:
    decisions = _after_restart(ready_ago_s, ticks=4)
    missed = [MISSED in d.reason for d in decisions]
    assert any(missed) is judged_at_once, [d.reason for d in decisions]


def test_a_miss_right_after_a_scale_up_is_judged_once_the_settle_time_has_passed() -> None:
    """Later, not never: the restart only waits what the old operator would have."""
    settle = DEFAULT_TUNING.settle_s
    decisions = _after_restart(10.0, ticks=int((settle + 2 * TICK) / TICK))
    first = next(i for i, d in enumerate(decisions) if MISSED in d.reason)
    assert 10.0 + first * TICK >= settle, [d.reason for d in decisions]
