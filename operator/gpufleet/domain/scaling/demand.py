"""The load to size for: arrivals now, and where the trend takes them.

Triton counts *completed* requests, so an overloaded fleet reports its own
throughput, not the demand, and a fleet draining a backlog reports more than
the demand. Both show up in the queue, so ``arrivals = completions + d(queue)/dt``.

Pods take a cold start to serve, so the fleet is sized for the load one cold
start from now when the arrivals rise steadily (``projected_rate``: a
least-squares trend, acted on only when it stands out of the noise and both
halves of its window agree), capped so that a noisy window cannot ask for more
than ``max_trend_growth`` times the current load. The trend is read over two
windows and the higher projection wins: the last two cold starts (a long, steady
rise) and the last ``min_trend_window_s`` (a rise that began after a flat or
falling spell, which the long window's halves would not agree on until it is a
cold start old -- too late for pods that take a cold start).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gpufleet.domain.scaling.tuning import PolicyTuning

WINDOW_SLACK_S = 2.5
"""Half a 5 s tick: a window "of 60 s" keeps the tick about 60 s ago and counts as 60 s
long even when the ticks, read off a clock, ran a few ms late or early."""


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


def window_arrivals(
    completions_rate: float, queue_samples: tuple[tuple[float, float], ...], now: float
) -> float:
    """Arrivals/s over the window the samples span: completions plus the queue's growth
    from the oldest sample to the newest (the completions' rate covers the same window);
    never negative."""
    start, first = queue_samples[0]
    span = now - start
    if span <= 0.0:
        return completions_rate
    return max(0.0, completions_rate + (queue_samples[-1][1] - first) / span)


def trend_window_s(horizon_s: float, tuning: PolicyTuning) -> float:
    window = tuning.trend_cold_starts * horizon_s
    return min(tuning.max_trend_window_s, max(tuning.min_trend_window_s, window))


def remember_rate(
    samples: tuple[tuple[float, float], ...], now: float, rate: float, window_s: float
) -> tuple[tuple[float, float], ...]:
    """Samples within the window (give or take ``WINDOW_SLACK_S``), this one appended
    (time order kept)."""
    start = now - window_s - WINDOW_SLACK_S
    kept = [s for s in samples if start <= s[0] < now]
    kept.append((now, rate))
    return tuple(kept)


def _slope(samples: Sequence[tuple[float, float]]) -> tuple[float, float, float, float] | None:
    """Least-squares line through the samples: (slope, mean time, mean rate, residual sd).

    One pass over the samples (the policy reads two or three windows every tick), with
    times taken from the first sample's: epoch seconds squared would lose the variance."""
    n = float(len(samples))
    origin = samples[0][0]
    sum_t = sum_r = sum_tt = sum_tr = sum_rr = 0.0
    for at, rate in samples:
        t = at - origin
        sum_t += t
        sum_r += rate
        sum_tt += t * t
        sum_tr += t * rate
        sum_rr += rate * rate
    mean_t, mean_r = sum_t / n, sum_r / n
    var_t = sum_tt / n - mean_t * mean_t
    if var_t <= 1e-9:
        return None
    slope = (sum_tr / n - mean_t * mean_r) / var_t
    var_r = sum_rr / n - mean_r * mean_r
    scatter = max(0.0, var_r - slope * slope * var_t)
    return slope, origin + mean_t, mean_r, math.sqrt(scatter)


def _step_residual(samples: Sequence[tuple[float, float]], ramps_s: Sequence[float]) -> float:
    """Squared residual of the best fit by a step seen through the rate window: two flat
    levels joined by a straight ramp of one of ``ramps_s`` (0: a sharp step), starting
    anywhere from within one ramp before the window's first sample to its last but one (a
    ramp still under way is what a step looks like for its first rate window).

    A rate averaged over a window answers a jump in arrivals with a ramp that long, then
    stays flat: a step that already happened is all in the rate measured once the ramp
    ends. The samples' sums are taken once for every ramp tried."""
    times = [t for t, _ in samples]
    rates = [r for _, r in samples]
    total_sq = sum(r * r for r in rates)
    # The fit is r = low * (1 - u) + high * u, u the share of the ramp done at a sample:
    # 0 before the ramp, 1 after it, so prefix sums stand in for the samples off it.
    prefix_r = [0.0]
    for r in rates:
        prefix_r.append(prefix_r[-1] + r)
    return min(_ramp_residual(times, rates, prefix_r, total_sq, ramp_s) for ramp_s in ramps_s)


def _ramp_residual(
    times: Sequence[float],
    rates: Sequence[float],
    prefix_r: Sequence[float],
    total_sq: float,
    ramp_s: float,
) -> float:
    """``_step_residual`` for one ramp length: one pass per start, only the few samples on
    the ramp visited."""
    n = len(rates)
    best = math.inf
    # A ramp already part way up at the first sample: a quarter, half, three quarters.
    early = [times[0] - ramp_s + k * ramp_s / 4.0 for k in range(1, 4)] if ramp_s > 0.0 else []
    starts = early + list(times[:-1])
    before = 0  # samples before the ramp's start
    for start in starts:
        while before < n and times[before] <= start:
            before += 1
        end = start + ramp_s
        after = before  # first sample at or past the ramp's end
        # The normal equations' sums: (1 - u)^2, u^2, (1 - u) u, and each times r.
        aa, bb, ab = float(before), 0.0, 0.0
        da, db = prefix_r[before], 0.0
        while after < n and times[after] < end:
            u = (times[after] - start) / ramp_s
            aa += (1.0 - u) * (1.0 - u)
            ab += (1.0 - u) * u
            bb += u * u
            da += rates[after] * (1.0 - u)
            db += rates[after] * u
            after += 1
        bb += n - after
        db += prefix_r[n] - prefix_r[after]
        det = aa * bb - ab * ab
        if det <= 1e-12:
            continue
        low = (da * bb - db * ab) / det
        high = (db * aa - da * ab) / det
        best = min(best, total_sq - low * da - high * db)
    return best


def _is_step(samples: Sequence[tuple[float, float]], scatter: float, tuning: PolicyTuning) -> bool:
    """Whether a step that already happened explains the samples clearly better than their
    line (``scatter``: the line's residual sd), by ``step_fit_share``."""
    # A step in the queue's growth (read tick to tick) is sharp; in a windowed rate, a ramp.
    step = _step_residual(samples, (0.0, tuning.rate_window_s))
    return step <= tuning.step_fit_share * scatter * scatter * len(samples)


def projected_rate(
    samples: tuple[tuple[float, float], ...],
    now: float,
    rate: float,
    horizon_s: float,
    tuning: PolicyTuning,
) -> float:
    """The rate to size for: ``rate``, or the trend's value ``horizon_s`` ahead if higher,
    read over the whole window and over its last ``min_trend_window_s``."""
    start = now - tuning.min_trend_window_s - WINDOW_SLACK_S
    recent = tuple(s for s in samples if s[0] >= start)
    projected = _trend_projection(samples, now, rate, horizon_s, tuning)
    if len(recent) < len(samples):
        projected = max(projected, _trend_projection(recent, now, rate, horizon_s, tuning))
    return projected


def rising_rate(
    samples: tuple[tuple[float, float], ...],
    now: float,
    rate: float,
    horizon_s: float,
    tuning: PolicyTuning,
) -> float:
    """``rate``, or where the trend window's least-squares line is ``horizon_s`` ahead if
    it rises by ``hold_significance`` times the scatter around it: short of the evidence
    ``projected_rate`` asks before ordering pods (a higher significance, and both halves
    of the window rising alike), enough to keep pods. A step that already happened is no
    rise, for keeping pods as for ordering them."""
    line = _rising_line(samples, now, rate, tuning.hold_significance, tuning)
    if line is None:
        return rate
    slope, mean_t, mean_r, scatter = line
    if _is_step(samples, scatter, tuning):
        return rate
    ahead = mean_r + slope * (now - mean_t + horizon_s)
    return min(max(rate, ahead), tuning.max_trend_growth * rate)


def _rising_line(
    samples: Sequence[tuple[float, float]],
    now: float,
    rate: float,
    significance: float,
    tuning: PolicyTuning,
) -> tuple[float, float, float, float] | None:
    """The least-squares line of a window long and full enough to read a trend in, if
    it rises by ``significance`` times the scatter around it; else ``None``."""
    if len(samples) < 2 * tuning.min_trend_samples or rate <= 0.0:
        return None
    span = now - samples[0][0]
    if span < tuning.min_trend_window_s - WINDOW_SLACK_S:
        return None
    line = _slope(samples)
    if line is None:
        return None
    slope, _, _, scatter = line
    if slope <= 0.0 or slope * span < significance * scatter:
        return None
    return line


def _trend_projection(
    samples: tuple[tuple[float, float], ...],
    now: float,
    rate: float,
    horizon_s: float,
    tuning: PolicyTuning,
) -> float:
    """``rate``, or the trend of ``samples`` ``horizon_s`` ahead if higher.

    The trend is the least-squares line through the window's rates. It is acted on
    only when the rise it explains over the window is ``trend_significance`` times
    the scatter around it (a noisy flat load rarely is), when both halves of the
    window rise alike, within ``trend_agreement`` (a ramp does; a sharp step rises in
    one half only), and when a step seen through the rate window does not explain the
    samples clearly better (``step_fit_share``): a jump in arrivals reaches a rate
    averaged over a window as a ramp that long, which rises in both halves of a short
    window, and extrapolating a step that already happened would pile pods on.
    """
    line = _rising_line(samples, now, rate, tuning.trend_significance, tuning)
    if line is None:
        return rate
    middle = (samples[0][0] + now) / 2.0
    first = _slope([s for s in samples if s[0] < middle])
    second = _slope([s for s in samples if s[0] >= middle])
    if first is None or second is None:
        return rate
    slope, mean_t, mean_r, scatter = line
    low, high = sorted((first[0], second[0]))
    if low <= 0.0 or high > tuning.trend_agreement * low:
        return rate
    if _is_step(samples, scatter, tuning):
        return rate
    level_now = mean_r + slope * (now - mean_t)
    ahead = level_now + slope * horizon_s
    return min(max(rate, ahead), tuning.max_trend_growth * rate)
