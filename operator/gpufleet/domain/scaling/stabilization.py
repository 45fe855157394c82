"""Scale up fast, scale down slowly: recommendation windows and a rate limit.

Like the HPA's ``behavior``: a scale-up takes the *lowest* recommendation of the
scale-up window (0 s by default: act at once), a scale-down the *highest* of the
scale-down window, so one quiet tick cannot shed the capacity a busy minute
needed.
"""

from __future__ import annotations

Recommendations = tuple[tuple[float, int], ...]


def remember(recs: Recommendations, now: float, needed: int, window_s: float) -> Recommendations:
    start = now - window_s
    kept = [r for r in recs if start <= r[0] <= now]
    kept.append((now, needed))
    return tuple(kept)


def scale_up_target(recs: Recommendations, now: float, window_s: float, needed: int) -> int:
    """The lowest of ``needed`` now and the recommendations of the scale-up window."""
    start = now - window_s
    return min([needed, *(r[1] for r in recs if start <= r[0] < now)])


def highest(recs: Recommendations, now: float, window_s: float) -> int:
    """The highest recommendation of the window (``recs`` holds one at ``now``)."""
    start = now - window_s
    return max(r[1] for r in recs if r[0] >= start)
