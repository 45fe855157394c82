"""What one replica can serve, learned from exec counts, compute time and the measured p95.

Batch time: each tick gives one point (mean batch = inferences per execution,
compute ms per request); an exponentially weighted least-squares fit learns
``a + c*b``. The two are different averages -- Triton credits each request with its
batch's time, so compute time per request grows with E[b^2] / E[b] -- and the slope
absorbs the spread of batch sizes: a known bias that rates a replica low at full
batches (measured, with the fix tried, in docs/benchmarks/policy-experiments.md).
The counters sum over the pods, so a point is taken only while the pods run at one
point (no backlog left on some of them while the others run small batches).
Until batch sizes vary enough to fit, and whenever the points fit no batching server
(a fixed part below zero, or above a batch time read: a rate window over a falling
load credits its busy part's full batches to its smaller mean batch), a fixed share of
the batch time is assumed
(``PolicyTuning.prior_fixed_share``): assuming none would size the fleet for small
batches, which keeps batches small for ever (a self-fulfilling over-provisioning).

Largest batch: the server's ``max_batch_size`` is not in the metrics; the operator
reads it from a pod's model configuration (``Observations.configured_max_batch``) --
the bound, whatever mean batch is read -- and the spec may declare it
(``model.maxBatchSize``) for when it cannot. Otherwise the model allows
``PolicyTuning.batch_optimism`` times the largest mean batch measured (as load
grows, batches grow and so does this bound) -- until requests are seen waiting behind
batches of the largest size seen: then that size is the server's largest.

Tail factor: how many batch times the p95 is. The model says ~2 (wait for the
batch in flight, then run in one's own); the measured p95 over the batch time
now is the truth. It is learned only from a busy, settled fleet -- an idle
replica's p95 is one batch time and says nothing about a loaded one. A target
missed where the model said it would be met raises the factor, which lowers the
rate one replica may carry within the target: a lower capacity, learned.
"""

from __future__ import annotations

import math
from dataclasses import replace

from gpufleet.domain.scaling.batching import ReplicaModel
from gpufleet.domain.scaling.tuning import PolicyTuning
from gpufleet.domain.scaling.types import Observations, ScalerHistory


def _finite_positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0.0


FULL_BATCH_SHARE = 0.95
"""Mean batches at least this share of the largest seen count as the largest: means of
full batches differ by rounding only."""


def observe(
    obs: Observations,
    history: ScalerHistory,
    ready_replicas: int,
    now: float,
    tuning: PolicyTuning,
    *,
    fit: bool = True,
) -> ScalerHistory:
    """Add this tick's (mean batch, compute ms per request) to the fit (unless ``fit`` is
    false: the pods ran at different points), and learn the server's largest batch when
    requests wait behind batches of the largest size seen."""
    batch_ms = obs.compute_ms_per_request
    if batch_ms is None or not _finite_positive(batch_ms):
        return history
    batch = obs.inferences_per_exec
    if batch is None or not math.isfinite(batch) or batch < 1.0:
        batch = 1.0
    sums = history.batch_fit
    if fit or not sums:
        w, wb, wbb, wt, wbt = sums or (0.0, 0.0, 0.0, 0.0, 0.0)
        d = tuning.fit_decay
        sums = (
            d * w + 1.0,
            d * wb + batch,
            d * wbb + batch * batch,
            d * wt + batch_ms,
            d * wbt + batch * batch_ms,
        )
    seen = history.max_batch_seen or 1.0
    # Since when batches have been no larger than ``seen``: from the first one measured,
    # so a server that never batched (max batch 1) is learned like any other.
    seen_at = history.max_batch_seen_at if history.max_batch_seen_at is not None else now
    if batch > seen:
        if batch > seen / FULL_BATCH_SHARE:
            seen_at = now  # batches still grow
        seen = batch
    server_max = history.max_batch
    if server_max is not None and batch > server_max / FULL_BATCH_SHARE:
        server_max = None  # a larger batch ran: the one believed largest was not
    queue, ready = obs.queue_depth, max(ready_replicas, 1)
    waiting = queue is not None and queue / ready >= batch
    stalled = now - seen_at >= tuning.rate_window_s
    if waiting and stalled and batch >= FULL_BATCH_SHARE * seen:
        # A full batch waits behind each execution, yet batches have not grown for a
        # whole rate window: the largest seen is the server's largest.
        server_max = seen
    least = min(batch_ms, history.least_batch_ms or math.inf)
    return replace(
        history,
        batch_fit=sums,
        max_batch_seen=seen,
        max_batch_seen_at=seen_at,
        max_batch=server_max,
        least_batch_ms=least,
        batch_time=_refit(sums, tuning.min_batch_spread, history.batch_time, least),
    )


def _refit(
    fit: tuple[float, ...], min_spread: float, last: tuple[float, float] | None, least_ms: float
) -> tuple[float, float] | None:
    """Least-squares ``(a, c)`` of the points; the last line while batch sizes vary too
    little to say anything, or the slope is not positive (noise about a flat line).
    ``None`` (the prior split, ``batch_time_ms``) for a line no batching server runs --
    the last line fitted on the way to it is the most biased, not the best known:

    - a negative fixed part: the spread of request sizes gives it when long requests
      gather large batches behind them;
    - a fixed part longer than ``least_ms``, the shortest compute time per request a
      tick read -- a mean of batch times, each at least the fixed part: a rate window
      over a falling load credits its busy part's full batches to the smaller mean
      batch of the whole window, points above the line that flatten it."""
    w, wb, wbb, wt, wbt = fit
    mean_b, mean_t = wb / w, wt / w
    var_b = wbb / w - mean_b * mean_b
    slope = (wbt / w - mean_b * mean_t) / var_b if var_b >= min_spread else 0.0
    line = (mean_t - slope * mean_b, slope) if slope > 0.0 else last
    if line is None or not 0.0 <= line[0] <= least_ms:
        return None
    return line


def batch_time_ms(history: ScalerHistory, tuning: PolicyTuning) -> tuple[float, float] | None:
    """``(a, c)`` of batch time ``a + c*b`` ms, or ``None`` before any measurement."""
    if history.batch_time is not None:
        return history.batch_time
    if not history.batch_fit:
        return None
    w, wb, _, wt, _ = history.batch_fit
    mean_b, mean_t = wb / w, wt / w
    per_request = mean_t * (1.0 - tuning.prior_fixed_share) / mean_b
    return mean_t - per_request * mean_b, per_request


def tail_factor(history: ScalerHistory, tuning: PolicyTuning) -> float:
    return history.tail_factor if history.tail_factor is not None else tuning.prior_tail_factor


def replica_model(
    history: ScalerHistory,
    tuning: PolicyTuning,
    *,
    configured_max_batch: int | None = None,
    declared_max_batch: int | None = None,
) -> ReplicaModel | None:
    """The replica as measured so far; ``None`` before any batch was executed.

    The largest batch the server's own configuration states is its bound: no batch
    exceeds it, so a mean batch read above it is a misreading, not a batch that ran (as
    ``rate()`` gives over a new fleet's young series, which the reader cannot leave out).
    A largest batch the spec declares wins over one guessed, but not over a larger mean
    measured: then the declaration is wrong, the server is not."""
    fit = batch_time_ms(history, tuning)
    if fit is None:
        return None
    if configured_max_batch is not None:
        max_batch = float(configured_max_batch)
    elif declared_max_batch is not None:
        max_batch = max(float(declared_max_batch), history.max_batch_seen or 1.0)
    elif history.max_batch is not None:
        max_batch = history.max_batch
    else:
        max_batch = tuning.batch_optimism * (history.max_batch_seen or 1.0)
    return ReplicaModel(
        fixed_ms=fit[0],
        per_request_ms=fit[1],
        max_batch=max_batch,
        tail_factor=tail_factor(history, tuning),
        tail_mass=1.0 - tuning.attainment,
    )


def learn_tail_factor(
    history: ScalerHistory,
    obs: Observations,
    ready_replicas: int,
    *,
    trustworthy: bool,
    aim_ms: float,
    tuning: PolicyTuning,
    predicted_ms: float | None,
) -> ScalerHistory:
    """Move the tail factor toward measured p95 / batch time now (log space, smoothed).

    Only from a busy replica -- or from one that misses ``aim_ms`` anyway: a replica
    the model calls half idle yet answering late costs more per request than its
    compute time says (HTTP, serialisation, a shared CPU), and only the measured p95
    can say so.

    Never up on a miss the model already predicted (``predicted_ms``: the model's p95 at
    the load each ready replica carries now, above ``aim_ms`` or infinite): the fleet is
    short for its load, the p95 holds the queue the model's own wait term predicts, and
    the batch in flight is no slower than believed -- raising the factor there counts
    that queue twice and applies it at every load, the light ones included, where a
    fleet sized by it never runs busy enough to learn it back."""
    p95, batch_ms, rate = obs.p95_latency_ms, obs.compute_ms_per_request, obs.request_rate
    batch = obs.inferences_per_exec or 1.0
    if (
        not trustworthy
        or ready_replicas <= 0
        or p95 is None
        or batch_ms is None
        or rate is None
        or not _finite_positive(p95)
        or not _finite_positive(batch_ms)
    ):
        return history
    busy = (rate / ready_replicas) / batch * batch_ms / 1000.0
    if busy < tuning.busy_for_learning and p95 <= aim_ms:
        return history
    old = tail_factor(history, tuning)
    explained = predicted_ms is not None and predicted_ms > aim_ms
    if explained and p95 / batch_ms > old:
        return history
    step = tuning.tail_step
    low, high = tuning.tail_factor_range
    seen = min(high, max(low, min(old * step, max(old / step, p95 / batch_ms))))
    new = math.exp(math.log(old) + tuning.tail_smoothing * (math.log(seen) - math.log(old)))
    return replace(history, tail_factor=new)
