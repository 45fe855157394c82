"""Every tuning knob of the scaling policy, in one place.

Each knob says what it means physically. Figures that show what a value does on
simulated traffic live in docs/benchmarks/, with the command that produced them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class PolicyTuning:
    # -- sizing ------------------------------------------------------------------
    attainment: float = 0.95
    """Share of requests the queueing wait is sized to keep within the latency target
    (0.95: the spec's p95). Raising it buys queueing margin, not speed: misses that come
    from load rising faster than a cold start stay."""
    max_utilization: float = 0.9
    """Largest share of a replica's full-batch throughput the fleet is sized to use: a
    rate measured over a window is noisy, and a queue fed at full throughput grows
    without bound."""
    latency_step_max: float = 2.0
    """With no capacity known yet, one latency-driven step at most multiplies the ready
    fleet by this (HPA-style: replicas x measured p95 / target)."""
    max_down_fraction: float = 0.5
    """Largest share of the replicas one decision removes."""

    # -- the cold-start horizon ------------------------------------------------------
    cold_start_smoothing: float = 0.3
    """Share of the way the learned cold start moves toward each pod measured becoming
    ready (image pulls and node provisioning vary from pod to pod)."""
    miss_cost_cold_starts: float = 20.0
    """Ski rental: what one cold start of a pod's worth of requests missing the target
    is worth, in cold starts of that pod's GPU time. An idle pod is held this many cold
    starts after demand last needed it, when the demand left faster than a pod comes back
    (a spike, a step down) or came back: holding it longer costs more than the misses of
    bringing it back a cold start late. The same price bounds what an LLM fleet's tail
    bound (its p99 lines) may buy beyond the p95s' size (``token_capacity``)."""
    spike_dip: float = 0.5
    """Share by which demand must fall between two peaks for them to be separate spikes
    (demand that returns); a smaller dip is noise on one level."""

    # -- what a replica serves (measured) ----------------------------------------------
    settle_s: float = 60.0
    """How long after the ready count changes the measured p95 still mixes the old fleet
    size (the latency percentile's window): measurements describe one size after this.
    At least two rate windows (``tuning_for``): the quantile's window holds requests the
    old size served for one window, and requests queued under the old size finish on
    the new one through about another."""
    rate_window_s: float = 30.0
    """Window over which the metrics' rates and latency quantiles are averaged: a served
    rate describes a state that has lasted this long. It is the operator's rate window
    (``GPUFLEET_RATE_WINDOW_SECONDS``, 30 s by default): ``tuning_for`` sets it."""
    steady_spread: float = 0.3
    """Largest spread (max - min over mean) of the demand over ``settle_s`` still read as
    one load: the p95 window then describes that load, not a burst that has passed."""
    capacity_memory_s: float = 1800.0
    """How long a per-replica load measured to saturate a replica, to miss the target or
    to sit at its edge caps what a replica is given, unless measured again. Requests
    change (sizes, prompts), so a measurement ages; but the model, which has not learned
    it, would hand the load back and the miss would return."""
    capacity_margin: float = 0.1
    """A replica is given at most this share less than a load it was measured to miss
    the target at."""
    backlog_tolerance_s: float = 10.0
    """A backlog the ready pods clear within this after new pods could be ready makes its
    arrivals wait a few seconds: not worth fresh pods, each billed a whole cold start."""

    # -- the capacity prior (a batching model fitted to compute time) --------------------
    fit_decay: float = 0.98
    """Weight an old (batch size, batch time) point keeps per tick in the fit."""
    min_batch_spread: float = 0.02
    """Variance of the mean batch size below which the batch-time slope is not trusted."""
    prior_fixed_share: float = 0.5
    """Share of a batch's time assumed fixed until batch sizes vary enough to fit it, and
    while the points fit no batching server (assuming none would size for small batches,
    which keeps batches small for ever)."""
    batch_optimism: float = 2.0
    """The largest batch a replica runs is not in the metrics: unless the spec declares
    it (``model.maxBatchSize``), it is believed to be this many times the largest mean
    batch measured (as load grows, batches grow)."""
    prior_tail_factor: float = 2.0
    """p95 latency in batch times before any is measured: the wait for the batch in
    flight, then one's own."""
    tail_factor_range: tuple[float, float] = (1.0, 4.0)
    """Physically sensible p95 in batch times: at least one's own batch."""
    tail_step: float = 1.25
    """Largest factor by which one measurement moves the tail factor (a p95 window that
    still holds a burst must not rewrite the model at once)."""
    tail_smoothing: float = 0.2
    """Share of the way (in log space) the tail factor moves toward one measurement."""
    busy_for_learning: float = 0.85
    """Per-replica busy fraction from which a measured p95 describes a loaded replica (an
    idle replica's p95 is one batch time and says nothing about a loaded one)."""

    # -- the demand trend -----------------------------------------------------------
    min_trend_windows: float = 2.0
    """Shortest window a trend is read over, in rate windows (``min_trend_window_s``): each
    rate sample averages one rate window, so a shorter span holds fewer than two
    independent readings, and its samples' scatter (overlapping windows) understates
    the noise a rise is judged against."""
    max_trend_window_s: float = 300.0
    """Longest window a trend is read over: older rates say little about the next minutes."""
    trend_cold_starts: float = 2.0
    """The trend is read over this many cold starts (within the bounds above)."""
    min_trend_samples: int = 6
    """Fewest rate samples in each half of a trend window."""
    trend_significance: float = 2.0
    """A trend counts when its rise over the window is this many times the scatter around it."""
    hold_significance: float = 1.0
    """A rise this many times the scatter around it keeps the pods a fleet has from being
    released (ordering new ones asks ``trend_significance``): a pod released now comes
    back a cold start late, so keeping one asks less evidence than ordering one."""
    trend_agreement: float = 3.0
    """Largest ratio between the two halves' slopes still read as one steady rise (a step
    that already happened rises in one half only)."""
    step_fit_share: float = 0.5
    """A rise is read as a step that already happened -- neither extrapolated nor kept
    pods for -- when a step (sharp, or seen through the rate window: two flat levels
    joined by a ramp one ``rate_window_s`` long) leaves at most this share of a line's
    squared residual. The step's start is fitted to the samples, so it fits the noise on
    a steady rise too: it must win clearly, not merely tie."""
    max_trend_growth: float = 1.5
    """A trend asks for at most this many times the demand now."""

    # -- LLM fleets (``tokens.py``, ``token_capacity.py``, ``llm_rules.py``) --------------
    kv_usage_limit: float = 0.85
    """Share of a replica's KV cache the fleet is sized to fill. A new sequence needs room
    for its prompt and the tokens it will generate; a replica near full queues it (or
    preempts a running one) whatever its token rate, and requests spread at random fill
    some replicas before others."""
    busy_replica_quantile: float = 0.99
    """Requests spread at random, so the running sequences per replica scatter around
    their mean like a Poisson count. The fleet is sized so that a replica this far up
    that scatter still meets ITL and holds its KV under ``kv_usage_limit``: the
    sequences on busier replicas are the ones that miss."""
    gap_tail_prior: float = 1.0
    """A gap target's p95 (ITL: every gap; TPOT: each request's mean gap) over the iteration
    time of the p95-busy replica, before any is measured: iterations that also prefill new
    prompts run slower than the decode alone."""
    gap_tail_range: tuple[float, float] = (0.5, 3.0)
    """Physically sensible values of that ratio; an ITL p99 over the top of it reads an
    iteration that prefills (a stall), not a decode iteration's tail."""
    stalls_per_prompt_prior: float = 1.0
    """Iterations a prompt's prefill stalls the streams longer than the ITL target, before
    any is measured: the one that admits it (a prompt longer than an iteration's token
    budget stalls more, one whose prefill fits within the target none)."""
    token_smoothing: float = 0.1
    """Share of the way tokens per request, KV per sequence and the gap tails move toward
    one measurement (a window may hold a few unusually long conversations)."""
    min_running_spread: float = 1.0
    """Variance of the running sequences per replica (sequences squared) below which the
    iteration time's growth per sequence is not fitted (the fixed share stands in), nor
    the TTFT and ITL p99s' growth (no tail bound until then)."""

    @property
    def min_trend_window_s(self) -> float:
        """Seconds of the shortest window a trend is read over."""
        return self.min_trend_windows * self.rate_window_s


DEFAULT_TUNING = PolicyTuning()


def tuning_for(rate_window_s: float) -> PolicyTuning:
    """The tuning for an operator whose queries average over ``rate_window_s``: a window
    the policy assumes and the queries do not use would misread both (a served rate's
    window matched against another span of queue growth, a saturation judged persistent
    too soon or too late), and a p95 read within two windows of a resize taken for the
    new size's (the default 60 s covers a window of up to 30 s)."""
    settle_s = max(DEFAULT_TUNING.settle_s, 2.0 * rate_window_s)
    return replace(DEFAULT_TUNING, rate_window_s=rate_window_s, settle_s=settle_s)
