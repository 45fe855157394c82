"""The perfect-sensing reactive reference: it acts on what has arrived, never on what will."""

from __future__ import annotations

import math

from gpufleet.sim.engine import simulate
from gpufleet.sim.policies.binned import BIN_S
from gpufleet.sim.policies.reactive import ReactiveBoundPolicy
from gpufleet.sim.profile import ServiceProfile
from gpufleet.sim.settings import ColdStart, SimSettings
from gpufleet.sim.synthetic import synthetic_trace

PROFILE = ServiceProfile(a_ms=0.0, c_ms=100.0, max_batch=1)  # 10 requests/s per replica
UP = "synthetic:step?base=10&peak=60&at=600&duration=1200"
DOWN = "synthetic:step?base=60&peak=10&at=600&duration=1200"
COLD = 90.0


def _asked(trace_spec: str, initial: int | None = None) -> list[tuple[float, int]]:
    trace = synthetic_trace(trace_spec, seed=3)
    settings = SimSettings(cold_start=ColdStart(seconds=COLD), seed=3, initial_replicas=initial)
    result = simulate(trace, PROFILE, settings, ReactiveBoundPolicy(utilization=0.8))
    return list(zip(result.timeline.at, result.timeline.replicas, strict=True))


def test_orders_capacity_only_after_the_step_has_arrived() -> None:
    asked = _asked(UP)
    before = max(n for at, n in asked if at < 600)
    after = max(n for at, n in asked if 600 + 2 * BIN_S <= at < 700)
    assert before <= 3  # the base needs 2; no foresight of the step
    assert after >= math.ceil(60 / (0.8 * 10))  # one bin later it asks for the peak


def test_keeps_replicas_one_cold_start_after_the_load_fell() -> None:
    asked = _asked(DOWN, initial=8)
    peak_needs = math.ceil(60 / (0.8 * 10))
    # Within a cold start of the drop it still holds the peak; after it, the base.
    assert min(n for at, n in asked if 600 <= at < 600 + COLD - BIN_S) >= peak_needs
    assert max(n for at, n in asked if at >= 600 + COLD + 2 * BIN_S) <= 3


def test_does_not_shrink_the_starting_fleet_before_it_has_seen_a_cold_start() -> None:
    asked = _asked(UP, initial=6)
    assert min(n for at, n in asked if at < COLD) == 6
    assert max(n for at, n in asked if COLD + BIN_S <= at < 600) <= 3
