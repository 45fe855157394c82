"""Recurring spikes: demand that left and came back, and the level worth holding pods for.

A pod ordered now serves one cold start later, so a pod released between two spikes
shorter than a cold start comes back too late for the next one. Whether to hold it is
a rent-or-buy question (ski rental): holding an idle pod costs its GPU time; releasing
it costs, if the demand returns, a cold start of that pod's requests missing the
target. Holding for ``miss_cost_cold_starts`` cold starts after the demand last needed
it balances the two.

The evidence is the recent past cut into windows of one cold start (the time a pod
takes to come back): each window keeps its peak demand, judged on the rate window's
arrivals (a spike's volume over the window, not one tick's reading). Three kinds of
demand are held:

- a *spike*: a level reached in at most two windows in a row, then left (a window well
  below it, by ``spike_dip``) -- demand that came and went within about a cold start,
  faster than a pod comes back. Ski rental holds after the first one: no later evidence
  could come in time;
- a *step down*: a level left within one window (the next window's peak is below it by
  ``spike_dip``), however long it was held before -- a load that stopped at once may
  start again at once, and its pods would then come back a cold start late. Whether it
  returns cannot be known when it stops; holding for the break-even time costs at most
  what releasing would if it did (the deterministic ski-rental bound);
- a level that *recurs*: reached, left (a later window well below it) and reached again.

Smooth traffic -- a plateau, a ramp, a decline slower than a cold start -- has none of
these, so it holds nothing here and its pods go at the scale-down window.
"""

from __future__ import annotations

import itertools

SPIKE_WINDOWS = 2
"""Most cold-start windows a spike touches: one that came and left within about a cold
start may straddle two."""

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


def spike_level(peaks: Peaks, dip: float) -> float:
    """The highest peak of a spike: demand that came and left within about a cold start
    -- the windows at or near the peak (above ``(1 - dip)`` of it) are at most two in a
    row, demand was well below it before them (an earlier window, or the start of the
    first) and a later window is well below it again. A level held for longer, or since
    before the memory began (a plateau that stepped down), is no spike. 0 when none."""
    level = 0.0
    n = len(peaks)
    for j, (_, _, peak) in enumerate(peaks):
        if peak <= level:
            continue
        floor = (1.0 - dip) * peak
        before = j - 1
        while before >= 0 and peaks[before][2] > floor:
            before -= 1
        after = j + 1
        while after < n and peaks[after][2] > floor:
            after += 1
        # It came: a window well below it before, or the first window began below it.
        came = before >= 0 or peaks[0][1] <= floor
        if came and after < n and after - before - 1 <= SPIKE_WINDOWS:
            level = peak
    return level


def step_level(peaks: Peaks, dip: float) -> float:
    """The highest level demand fell from within one window: the peak of a window
    followed by one at most ``(1 - dip)`` of it. 0 when demand never fell so fast."""
    level = 0.0
    for (_, _, before), (_, _, after) in itertools.pairwise(peaks):
        if after <= (1.0 - dip) * before:
            level = max(level, before)
    return level


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
