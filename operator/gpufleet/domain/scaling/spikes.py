"""Recurring spikes: demand that left and came back, and the level worth holding pods for.

A pod ordered now serves one cold start later, so a pod released between two spikes
shorter than a cold start comes back too late for the next one. Whether to hold it is
a rent-or-buy question (ski rental): holding an idle pod costs its GPU time; releasing
it costs, if the demand returns, a cold start of that pod's requests missing the
target. Holding for ``miss_cost_cold_starts`` cold starts after the demand last needed
it balances the two.

The evidence is the recent past cut into windows of one cold start (the time a pod
takes to come back): each window keeps its peak demand. A level *recurs* when a window
reached it, a later window fell well below it (by ``spike_dip``: the demand left, this
was not noise on a plateau), and a later one reached it again. Smooth traffic -- a
plateau, a ramp, a decline -- has no such dip-and-return, so it holds nothing here and
its pods go at the scale-down window.
"""

from __future__ import annotations

Peaks = tuple[tuple[float, float, float], ...]
"""(window start, demand at its start, peak demand within it) req/s, oldest first."""


def remember(peaks: Peaks, now: float, demand: float, window_s: float, memory_s: float) -> Peaks:
    """``peaks`` with ``demand`` folded into the current window (a new one every
    ``window_s``), windows that started over ``memory_s`` ago dropped."""
    kept = [p for p in peaks if p[0] >= now - memory_s]
    if kept and now < kept[-1][0] + window_s:
        start, first, peak = kept[-1]
        kept[-1] = (start, first, max(peak, demand))
    else:
        kept.append((now, demand, demand))
    return tuple(kept)


def recurring_level(peaks: Peaks, dip: float) -> float:
    """The highest demand reached, left (falling below ``(1 - dip)`` of it) and reached
    again within ``peaks``; 0 when none recurred."""
    n = len(peaks)
    if n < 3:
        return 0.0
    before = [0.0] * n
    for i in range(1, n):
        before[i] = max(before[i - 1], peaks[i - 1][2])
    after = 0.0
    level = 0.0
    for j in range(n - 2, 0, -1):
        after = max(after, peaks[j + 1][2])
        reached = min(before[j], after)
        if peaks[j][2] <= (1.0 - dip) * reached:
            level = max(level, reached)
    return level
