"""The load to size for: when a trend is acted on, and how far it is projected."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gpufleet.domain.scaling.demand import (
    arrival_rate,
    projected_rate,
    remember_rate,
    trend_window_s,
    window_arrivals,
)
from gpufleet.domain.scaling.tuning import DEFAULT_TUNING

MAX_TREND_GROWTH = DEFAULT_TUNING.max_trend_growth

TICK = 5.0
COLD_START = 60.0
NOW = 1000.0
NOISE = (0.3, -0.2, 0.1, -0.3, 0.2, -0.1)
"""A fixed wiggle (req/s) on every rate sample: a windowed rate is never smooth."""


JITTER = (0.004, 0.031, 0.012, 0.047, 0.002, 0.019, 0.026)
"""Seconds each tick ran late: a timer reading the clock never lands on exact multiples."""


def samples(
    shape: Callable[[float], float], jitter: bool = False
) -> tuple[tuple[float, float], ...]:
    """Rate samples every tick over the trend window ending now, as the policy keeps them."""
    kept: tuple[tuple[float, float], ...] = ()
    window = trend_window_s(COLD_START, DEFAULT_TUNING)
    steps = int(window / TICK)
    for i in range(steps + 1):
        late = JITTER[i % len(JITTER)] if jitter and i < steps else 0.0
        at = NOW - (steps - i) * TICK + late
        kept = remember_rate(kept, at, shape(NOW - at) + NOISE[i % len(NOISE)], window)
    return kept


def project(shape: Callable[[float], float], jitter: bool = False) -> tuple[float, float]:
    kept = samples(shape, jitter)
    rate = kept[-1][1]
    return rate, projected_rate(kept, NOW, rate, COLD_START, DEFAULT_TUNING)


def test_a_flat_load_is_not_extrapolated() -> None:
    rate, sized = project(lambda ago: 20.0)
    assert sized == rate


def test_a_falling_load_is_sized_as_measured() -> None:
    rate, sized = project(lambda ago: 10.0 + 0.05 * ago)
    assert sized == rate


@pytest.mark.parametrize("jitter", [False, True], ids=["exact ticks", "late ticks"])
def test_a_steady_rise_is_sized_one_cold_start_ahead(jitter: bool) -> None:
    """0.05 req/s per second for two cold starts: +3 req/s by the time pods are ready."""
    rate, sized = project(lambda ago: 20.0 - 0.05 * ago, jitter)
    assert sized == pytest.approx(20.0 + 0.05 * COLD_START, abs=0.5)
    assert sized > rate


@pytest.mark.parametrize("jitter", [False, True], ids=["exact ticks", "late ticks"])
def test_a_rise_that_began_a_minute_ago_is_seen_at_once(jitter: bool) -> None:
    """Flat, then rising for the last minute: the long window's halves disagree (one is
    flat), so only the short window sees the rise -- while pods can still come in time.
    The operator's ticks run a few ms late: the window must not lose its oldest tick."""
    rate, sized = project(lambda ago: 20.0 if ago >= 60.0 else 20.0 + 0.1 * (60.0 - ago), jitter)
    assert sized > rate + 3.0


def test_with_a_short_cold_start_late_ticks_still_see_a_rise() -> None:
    """A 30 s cold start reads the trend over one minute, which must keep its oldest
    tick when the ticks ran late."""
    cold_start, window = 30.0, trend_window_s(30.0, DEFAULT_TUNING)
    kept: tuple[tuple[float, float], ...] = ()
    steps = int(window / TICK)
    now = NOW + 0.031  # this tick ran late; the one a minute ago did not
    for i in range(steps + 1):
        at = now if i == steps else NOW - (steps - i) * TICK
        kept = remember_rate(kept, at, 20.0 - 0.1 * (NOW - at) + NOISE[i % len(NOISE)], window)
    rate = kept[-1][1]
    assert projected_rate(kept, now, rate, cold_start, DEFAULT_TUNING) > rate + 2.0


def test_a_step_that_already_happened_is_not_extrapolated() -> None:
    """A jump between two flat levels rises in neither half of the short window alike."""
    rate, sized = project(lambda ago: 10.0 if ago > 30.0 else 20.0)
    assert sized == rate


def test_a_jump_then_the_rate_window_catching_up_is_not_extrapolated() -> None:
    """A burst doubles the load; the measured rate jumps, then creeps up a little more
    as the queue's growth enters the rate window. Both halves of the window rise, but
    two flat levels explain it: nothing more is coming."""
    rate, sized = project(lambda ago: 5.5 if ago >= 60.0 else (10.0 if ago > 15.0 else 11.0))
    assert sized == rate


def test_a_step_seen_through_the_rate_window_is_not_extrapolated() -> None:
    """Arrivals jump from 2.5 to 16 req/s at once; a rate averaged over the 30 s rate
    window climbs for 30 s, then stays flat. Both halves of the short window rise, and a
    line fits better than a sharp step -- but the load has stopped rising: nothing more
    is coming."""
    window = DEFAULT_TUNING.rate_window_s

    def measured(ago: float) -> float:
        climbed = min(1.0, max(0.0, (50.0 - ago) / window))  # the jump came 50 s ago
        return 2.5 + 13.5 * climbed

    rate, sized = project(measured)
    assert sized == rate


def test_a_steep_rise_asks_for_at_most_the_growth_cap() -> None:
    """5 -> 65 req/s in a minute would be 125 a minute later; a noisy window must not
    ask for that much at once."""
    rate, sized = project(lambda ago: 5.0 if ago >= 60.0 else 5.0 + 1.0 * (60.0 - ago))
    assert sized == pytest.approx(MAX_TREND_GROWTH * rate)


@pytest.mark.parametrize(
    ("queue", "last_queue", "expected"),
    [
        (10.0, 5.0, 20.0),  # below the backlog threshold: noise, completions only
        (200.0, 150.0, 30.0),  # a growing backlog is demand the fleet did not serve
        (150.0, 200.0, 10.0),  # a draining backlog is not new demand
        (None, 150.0, 20.0),  # unknown queue: completions only
    ],
)
def test_arrivals_are_completions_plus_backlog_growth(
    queue: float | None, last_queue: float, expected: float
) -> None:
    assert arrival_rate(20.0, queue, last_queue, NOW - 5.0, NOW, backlog_threshold=50.0) == (
        pytest.approx(expected)
    )


@pytest.mark.parametrize(
    ("completions", "queue", "expected"),
    [
        # A steady queue: the arrivals are the completions.
        (10.0, ((970.0, 40.0), (1000.0, 40.0)), 10.0),
        # A queue that grew 60 requests over the 30 s window: 2 req/s more arrived.
        (10.0, ((970.0, 40.0), (985.0, 70.0), (1000.0, 100.0)), 12.0),
        # A backlog of 300 drained within the window: its completions were not arrivals.
        (14.0, ((970.0, 300.0), (990.0, 0.0), (1000.0, 0.0)), 4.0),
        # More drained than completed (requests that timed out): never negative.
        (1.0, ((970.0, 300.0), (1000.0, 0.0)), 0.0),
    ],
    ids=["steady", "growing", "drained", "floor"],
)
def test_window_arrivals_are_completions_plus_the_queue_growth_of_the_same_window(
    completions: float, queue: tuple[tuple[float, float], ...], expected: float
) -> None:
    assert window_arrivals(completions, queue, NOW) == pytest.approx(expected)
