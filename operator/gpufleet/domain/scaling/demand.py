"""The load to size for: arrivals now, and where the trend takes them.

Triton counts *completed* requests, so an overloaded fleet reports its own
throughput, not the demand, and a fleet draining a backlog reports more than
the demand. Both show up in the queue, so ``arrivals = completions + d(queue)/dt``.

Pods take a cold start to serve, so the fleet is sized for the load one cold
start from now when the recent arrivals rise steadily (``projected_rate``),
capped so that a noisy window cannot ask for more than ``MAX_TREND_GROWTH``
times the current load.
"""

from __future__ import annotations

import itertools

MIN_TREND_WINDOW_S = 60.0
"""Shortest window a trend is read over: shorter ones mostly show noise."""
MAX_TREND_WINDOW_S = 300.0
MIN_TREND_SAMPLES = 8
TREND_SEGMENTS = 4
"""The window is cut in this many segments; a trend rises from each to the next."""
TREND_AGREEMENT = 3.0
"""Largest ratio between the segments' rises still read as one steady trend."""
MAX_TREND_GROWTH = 1.5
TREND_WEIGHT = 0.75
"""Share of the extrapolated growth acted on: the slope of a bursty trace overshoots."""


def arrival_rate(
    completions_rate: float,
    queue_depth: float | None,
    last_queue_depth: float | None,
    last_observed_at: float | None,
    now: float,
    backlog_threshold: float,
) -> float:
    """Completions plus the queue's growth rate (requests/s), never negative.

    The queue's tick-to-tick change is noisy, so it only counts while the queue
    holds a backlog (more than ``backlog_threshold``): then its growth is demand
    the fleet did not serve, and its shrinking is completions that were backlog,
    not new demand.
    """
    if queue_depth is None or last_queue_depth is None or last_observed_at is None:
        return completions_rate
    elapsed = now - last_observed_at
    if elapsed <= 0.0 or max(queue_depth, last_queue_depth) <= backlog_threshold:
        return completions_rate
    return max(0.0, completions_rate + (queue_depth - last_queue_depth) / elapsed)


def trend_window_s(horizon_s: float) -> float:
    return min(MAX_TREND_WINDOW_S, max(MIN_TREND_WINDOW_S, horizon_s))


def remember_rate(
    samples: tuple[tuple[float, float], ...], now: float, rate: float, window_s: float
) -> tuple[tuple[float, float], ...]:
    """Samples within the window, this one appended (time order kept)."""
    start = now - window_s
    kept = [s for s in samples if start <= s[0] < now]
    kept.append((now, rate))
    return tuple(kept)


def _mean_rate(samples: tuple[tuple[float, float], ...], start: float, end: float) -> float | None:
    rates = [r for t, r in samples if start <= t < end]
    return sum(rates) / len(rates) if rates else None


def projected_rate(
    samples: tuple[tuple[float, float], ...], now: float, rate: float, horizon_s: float
) -> float:
    """The rate to size for: ``rate``, or the trend's value ``horizon_s`` ahead if higher.

    The window is cut in ``TREND_SEGMENTS``; a trend is a rise from each segment to
    the next by amounts that agree (within ``TREND_AGREEMENT``). A ramp rises
    everywhere alike; a step that already happened rises between two segments
    only and is not extrapolated; noise rarely rises again and again.
    """
    if len(samples) < MIN_TREND_SAMPLES or rate <= 0.0:
        return rate
    start = samples[0][0]
    span = now - start
    if span < MIN_TREND_WINDOW_S - 1e-6:
        return rate
    width = span / TREND_SEGMENTS
    means = [
        _mean_rate(samples, start + k * width, start + (k + 1) * width)
        for k in range(TREND_SEGMENTS - 1)
    ]
    means.append(_mean_rate(samples, start + (TREND_SEGMENTS - 1) * width, now + 1.0))
    if any(m is None for m in means):
        return rate
    rises = [b - a for a, b in itertools.pairwise(means) if a is not None and b is not None]
    rise = min(rises)
    if rise <= 0.0 or max(rises) > TREND_AGREEMENT * rise:
        return rate
    slope = rise / width
    return min(rate + TREND_WEIGHT * slope * horizon_s, MAX_TREND_GROWTH * rate)
