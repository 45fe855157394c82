"""Where a simulated run's misses fall: the timeline's count per interval and the report's
sentence, on hand-worked runs (one pod, one-second requests, a 5 s target)."""

from __future__ import annotations

import numpy as np
import pytest

from gpufleet.sim.engine import simulate
from gpufleet.sim.profile import ServiceProfile
from gpufleet.sim.report import where_misses_fall
from gpufleet.sim.result import RunResult
from gpufleet.sim.settings import SimSettings
from gpufleet.sim.trace import Trace
from tests.sim.scripted import ScriptedPolicy

SLOW = ServiceProfile(a_ms=0.0, c_ms=1000.0, max_batch=1)


def run(trace: Trace) -> RunResult:
    settings = SimSettings(slo_ms=5000.0, timeline_s=5.0)
    return simulate(trace, SLOW, settings, ScriptedPolicy(1, {}))


def test_the_timeline_shows_when_the_requests_that_missed_the_target_arrived() -> None:
    # 30 one-second requests at t=12 on one pod: the k-th is answered k seconds later,
    # so the first 5 meet a 5 s target and 25 miss; 3 more at t=42 meet it.
    trace = Trace("bursts", np.array([12.0] * 30 + [42.0] * 3), duration=60.0)
    result = run(trace)
    missed = dict(zip(result.timeline.at, result.timeline.missed, strict=True))
    assert missed[15.0] == 25  # the interval (10 s, 15 s] they arrived in
    assert sum(missed.values()) == 25
    demand = dict(zip(result.timeline.at, result.timeline.demand_rps, strict=True))
    assert demand[45.0] == pytest.approx(3 / 5.0)
    assert missed[45.0] == 0


def test_the_report_says_by_when_half_the_misses_arrived_and_the_worst_minute() -> None:
    # One-second requests on one pod, a 5 s target: of 30 at t=12 the last 25 miss; of 16
    # at t=102 the last 11. Half of the 36 misses (18) have arrived by the interval
    # (10 s, 15 s], all by (100 s, 105 s]; the first minute missed 25 of its 30 arrivals.
    trace = Trace("bursts", np.array([12.0] * 30 + [102.0] * 16), duration=180.0)
    result = run(trace)
    assert where_misses_fall(result) == (
        "36 missed; half of them arrived by 15 s (of 180 s); the worst minute, "
        "0-60 s, missed 25 of 30"
    )


def test_a_run_without_misses_has_no_sentence_on_where_they_fall() -> None:
    trace = Trace("burst", np.array([42.0] * 3), duration=60.0)
    result = run(trace)
    assert result.within_slo == 1.0
    assert where_misses_fall(result) is None
