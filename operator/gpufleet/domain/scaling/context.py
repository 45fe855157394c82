"""What every rule reads: one tick's measurements, digested once.

``observe`` turns (spec, fleet, observations, history, now) into a ``Context``: the
demand (arrivals, the unserved included), what one replica serves within the target
(``capacity.py``), the cold start, and the history updated with this tick's
measurements. Rules (``rules.py``) only read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from gpufleet.domain.scaling import capacity, coldstart, demand, prior, spikes
from gpufleet.domain.scaling.batching import ReplicaModel
from gpufleet.domain.scaling.budget import Limits
from gpufleet.domain.scaling.capacity import Capacity
from gpufleet.domain.scaling.tuning import PolicyTuning
from gpufleet.domain.scaling.types import FleetState, Observations, ScalerHistory
from gpufleet.domain.spec import ModelDeploymentSpec

ESSENTIAL_SIGNALS = ("request_rate", "queue_depth")
"""Signals without which the fleet cannot be sized; latency is a correction."""


@dataclass(frozen=True, slots=True)
class LatencyCheck:
    """One latency target of the spec and its measured p95."""

    name: str
    target_ms: float
    measured_ms: float | None
    measurement: str
    """The ``Observations`` field measured (its unknown reason is kept under this name)."""
    per_token: bool
    """An LLM stream's target (TTFT, ITL, TPOT), not a whole request's."""


@dataclass(frozen=True, slots=True)
class Context:
    spec: ModelDeploymentSpec
    fleet: FleetState
    obs: Observations
    """The observations, unknown load signals replaced by their lower bounds."""
    history: ScalerHistory
    """The history with this tick's measurements folded in."""
    now: float
    limits: Limits
    tuning: PolicyTuning
    unknown: tuple[str, ...]
    """Essential signals that are unknown (even if a lower bound stands in)."""
    bounded: tuple[str, ...]
    """Essential signals replaced by a lower bound (a pod not yet scraped twice)."""
    understated: tuple[str, ...]
    """Essential signals that are, or stand for, only a lower bound of the load: replaced
    ones, and known ones that young pods' short series still understate (a pod scraped
    for less than a rate window). The fleet may grow on them, never shrink."""
    horizon_s: float
    """Seconds a pod ordered now takes to serve: the cold start, learned or the spec's."""
    latency: tuple[LatencyCheck, ...]
    aim_ms: float | None
    """The request p95 the fleet is sized for: target minus headroom (``None``: no
    request-latency target, e.g. an LLM fleet with TTFT/ITL targets only)."""
    demand: float | None
    """Requests/s the fleet must serve: completions + queue growth + the unserved."""
    model: ReplicaModel | None
    capacity: Capacity | None
    normal_queue: float
    """Requests a healthy fleet holds queued (no backlog)."""
    settled: bool
    """The ready count has held long enough for the measured p95 to describe it."""
    steady: bool
    """The demand held within ``steady_spread`` over ``settle_s``."""
    search_limit: int

    @property
    def missed(self) -> LatencyCheck | None:
        """The first latency target the measured p95 misses; ``None``: none missed."""
        for check in self.latency:
            if check.measured_ms is not None and check.measured_ms > check.target_ms:
                return check
        return None

    @property
    def excess_queue(self) -> float:
        queue = self.obs.queue_depth
        return 0.0 if queue is None else max(0.0, queue - self.normal_queue)

    def replicas_for(self, rate: float) -> int:
        """Fewest replicas that serve ``rate`` req/s within the target (0 for no load).

        A Service spreads requests at random, so replicas do not share queues: ``rate``
        over what one replica serves within the target. A target below an idle replica's
        own latency cannot be met by scaling: then the fleet is sized for half the full-
        batch throughput, as fast as it gets."""
        if rate <= 0.0:
            return 0
        cap = self.capacity
        if cap is not None and cap.per_replica > 0.0:
            per_replica = cap.per_replica
        elif self.model is not None:
            per_replica = self.tuning.max_utilization * self.model.max_rate / 2.0
        else:
            return 0
        return min(self.search_limit + 1, max(1, math.ceil(rate / per_replica - 1e-9)))


def lower_bounded(obs: Observations) -> tuple[Observations, tuple[str, ...]]:
    """``obs`` with each unknown load signal replaced by its lower bound, if one is
    known, and the names so replaced. Sizing for a lower bound of the load can only
    under-size, so it may raise the fleet; the policy never lowers it on one."""
    filled = {
        name: obs.lower_bounds[name]
        for name in ESSENTIAL_SIGNALS
        if getattr(obs, name) is None and name in obs.lower_bounds
    }
    if not filled:
        return obs, ()
    bounded = replace(
        obs,
        request_rate=filled.get("request_rate", obs.request_rate),
        queue_depth=filled.get("queue_depth", obs.queue_depth),
    )
    return bounded, tuple(filled)


def latency_checks(spec: ModelDeploymentSpec, obs: Observations) -> tuple[LatencyCheck, ...]:
    slo = spec.slo
    rows = (
        ("p95", slo.latency_p95_ms, "p95_latency_ms"),
        ("TTFT p95", getattr(slo, "ttft_p95_ms", None), "ttft_p95_ms"),
        ("ITL p95", getattr(slo, "itl_p95_ms", None), "itl_p95_ms"),
        ("TPOT p95", getattr(slo, "tpot_p95_ms", None), "tpot_p95_ms"),
    )
    return tuple(
        LatencyCheck(
            name,
            target,
            _finite(getattr(obs, measurement)),
            measurement,
            per_token=name != "p95",
        )
        for name, target, measurement in rows
        if target is not None
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def normal_queue(spec: ModelDeploymentSpec, fleet: FleetState, obs: Observations) -> float:
    """Requests a healthy fleet holds: ``targetQueueDepth`` per ready replica, plus the
    batch forming behind the one executing (a batching server's queue is never empty
    under load, and that is no backlog)."""
    batch = obs.inferences_per_exec
    forming = batch if batch is not None and math.isfinite(batch) and batch > 1.0 else 1.0
    return fleet.ready_replicas * (spec.scaling.target_queue_depth + 2.0 * forming)


def observe(
    spec: ModelDeploymentSpec,
    fleet: FleetState,
    observations: Observations,
    history: ScalerHistory,
    now: float,
    limits: Limits,
    tuning: PolicyTuning,
) -> Context:
    """This tick's context; the caller has checked that some load signal is known."""
    history = coldstart.track(history, fleet, now, tuning.cold_start_smoothing)
    unknown = tuple(n for n in ESSENTIAL_SIGNALS if getattr(observations, n) is None)
    obs, bounded = lower_bounded(observations)
    understated = tuple(n for n in ESSENTIAL_SIGNALS if n in observations.lower_bounds)
    if "queue_depth" in bounded:
        # A lower bound's change is no queue growth: forget the last depth.
        history = replace(history, last_queue_depth=None)
    horizon = coldstart.horizon_s(spec, history)
    normal = normal_queue(spec, fleet, obs)
    latency = latency_checks(spec, obs)
    target = spec.slo.latency_p95_ms
    aim = None if target is None else (1.0 - spec.scaling.latency_headroom) * target

    arrivals: float | None = None
    queue_samples, rate_samples = history.queue_samples, history.rate_samples
    demand_peaks = history.demand_peaks
    if obs.request_rate is not None:
        arrivals = demand.arrival_rate(
            obs.request_rate,
            obs.queue_depth,
            history.last_queue_depth,
            history.last_observed_at,
            now,
            backlog_threshold=normal,
        )
        # The unserved are in the request rate already (the reader counts them as demand).
        # A peak is judged on the rate window's arrivals -- its completions plus the
        # queue's growth over that same window: a backlog drained within the window
        # is in its completions, and one tick's queue change would not take it out
        # (a drain would read as a peak).
        queue_samples = demand.remember_rate(
            queue_samples, now, obs.queue_depth or 0.0, tuning.rate_window_s
        )
        windowed = demand.window_arrivals(obs.request_rate, queue_samples, now)
        rate_samples = demand.remember_rate(
            rate_samples, now, arrivals, demand.trend_window_s(horizon, tuning)
        )
        demand_peaks = spikes.remember(
            demand_peaks, now, windowed, horizon, tuning.miss_cost_cold_starts * horizon
        )

    queue = obs.queue_depth
    backlog_now = queue is not None and queue > normal
    last_queue = history.last_queue_depth
    # A backlog that grew at every tick since: the pods held it all that time.
    growing = backlog_now and queue is not None and last_queue is not None and queue >= last_queue
    # Every ready pod has a batch (as large as those it runs) waiting: none idles, whatever
    # the fleet's total says -- a standing queue, as closed-loop clients keep, included.
    batch = obs.inferences_per_exec
    full = batch if batch is not None and math.isfinite(batch) and batch > 1.0 else 1.0
    least = obs.least_pod_queue_depth
    flat_out_now = fleet.ready_replicas > 0 and least is not None and least >= full
    flat_out_since = history.flat_out_since if history.flat_out_since is not None else now
    # One replace for the tick's memory: the decision's largest cost is copying it.
    history = replace(
        history,
        queue_samples=queue_samples,
        rate_samples=rate_samples,
        demand_peaks=demand_peaks,
        idle_since=_idle_since(spec, obs, history, arrivals, unknown, now),
        backlog_since=(history.backlog_since or now) if backlog_now else None,
        growing_since=(history.growing_since or now) if growing else None,
        flat_out_since=flat_out_since if flat_out_now else None,
    )
    settled = history.ready_since is None or now - history.ready_since >= tuning.settle_s
    # The demand readings the latency window (``settle_s``) spans: what its p95 describes.
    window_rates = [r for t, r in history.rate_samples if t >= now - tuning.settle_s]
    steady = _steady(window_rates, tuning)

    # Triton's counters sum over the pods: their mean batch and batch time describe one
    # operating point only when every pod runs at it. Requests spread at random, so pods
    # do -- unless a backlog sits on some of them (queued requests cannot move) while the
    # rest run small batches: the old pods' full batch times are then credited to a small
    # mean batch, and the fit would read a slow replica. Every pod holding a batch waiting
    # runs full batches alike.
    one_state = not backlog_now or flat_out_now
    history = prior.observe(obs, history, fleet.ready_replicas, now, tuning, fit=one_state)
    # The server's configuration is the truth of the model running; the spec's
    # declaration stands in until it is read (or where the operator cannot reach pods).
    model = prior.replica_model(
        history,
        tuning,
        configured_max_batch=obs.configured_max_batch,
        declared_max_batch=spec.model.max_batch_size,
    )
    if target is not None and aim is not None:
        last = history.last_queue_depth
        calm = queue is not None and last is not None and queue <= normal and last <= normal
        # What the model held so far predicts at the load each ready pod carries now: a
        # miss it predicts is the queue of a fleet short for its load, not a slow batch.
        rate_now = obs.request_rate
        predicted = None
        if model is not None and rate_now is not None and fleet.ready_replicas > 0:
            predicted = model.replica_p95_ms(rate_now / fleet.ready_replicas)
        history = prior.learn_tail_factor(
            history,
            obs,
            fleet.ready_replicas,
            trustworthy=settled and calm,
            aim_ms=aim,
            tuning=tuning,
            predicted_ms=predicted,
        )
        if model is not None:  # learning moves the tail factor only
            model = replace(model, tail_factor=prior.tail_factor(history, tuning))

    history = capacity.forget_old(history, now, tuning)
    served = obs.served_rate if obs.served_rate is not None else obs.request_rate
    ready = fleet.ready_replicas
    if ready > 0 and served is not None:
        # Saturated: the same ready pods held a backlog that grew at every tick for a whole
        # rate window, or each of them held a batch waiting at every tick that long, so
        # their windowed served rate is their throughput. Sooner, the window still holds
        # the time before (or fewer pods): the reading is only a lower bound of the
        # throughput, and a lower bound is no ceiling. A backlog that stopped growing
        # may sit on a few pods while the others idle (queued requests cannot move):
        # only each pod's own queue says that none idled.
        window = tuning.rate_window_s
        same_pods = history.ready_since is None or now - history.ready_since >= window
        growing_since = history.growing_since
        flat_out = history.flat_out_since
        persisted = (growing_since is not None and now - growing_since >= window) or (
            flat_out is not None and now - flat_out >= window
        )
        # The latency window describes one fleet size only once it has settled, and one
        # load only if it held steady. A miss on a load that did not hold steady still
        # says that a replica carries less than the window's peak load: it caps a
        # modelled figure (with nothing modelled, the latency rule scales on the miss).
        one_size = settled and fleet.starting_replicas == 0 and not backlog_now
        judged = one_size and steady
        missed = any(c.measured_ms is not None and c.measured_ms > c.target_ms for c in latency)
        missed_load: float | None = None
        if missed and judged:
            missed_load = served / ready
        elif missed and one_size and model is not None:
            samples = history.rate_samples
            # Only a whole window's peak bounds the load the miss happened at.
            if samples and samples[0][0] <= now - tuning.settle_s:
                missed_load = max(window_rates, default=0.0) / ready or None
        headroom = 1.0 - spec.scaling.latency_headroom
        within = bool(latency) and all(
            c.measured_ms is not None and c.measured_ms <= headroom * c.target_ms for c in latency
        )
        # What a replica was given over the whole latency window: the least of the window's
        # readings. One reading may be a burst or a late scrape's count, and the floor
        # keeps the highest it was given; a p95 met over the window says the replica
        # carried the window's load, not its one highest reading.
        window_low = min(window_rates, default=served)
        history = capacity.learn(
            history,
            now,
            served_per_replica=served / ready,
            sustained_per_replica=min(served, window_low) / ready,
            saturated=same_pods and persisted,
            missed_load=missed_load,
            edge=judged and not missed and not within and bool(latency),
            slack=judged and within and served > 0.0,
            tuning=tuning,
        )
    cap = capacity.estimate(history, model, aim, tuning)
    return Context(
        spec=spec,
        fleet=fleet,
        obs=obs,
        history=history,
        now=now,
        limits=limits,
        tuning=tuning,
        unknown=unknown,
        bounded=bounded,
        understated=understated,
        horizon_s=horizon,
        latency=latency,
        aim_ms=aim,
        demand=arrivals,
        model=model,
        capacity=cap,
        normal_queue=normal,
        settled=settled,
        steady=steady,
        search_limit=max(4 * limits.upper, 64),
    )


def _idle_since(
    spec: ModelDeploymentSpec,
    obs: Observations,
    history: ScalerHistory,
    arrivals: float | None,
    unknown: tuple[str, ...],
    now: float,
) -> float | None:
    """Since when no request arrived (served, unserved or failed in error) or waited and
    the activation query (if set) stayed known and at or below its threshold; ``None``:
    not idle now (or blind)."""
    act = spec.scaling.activation
    if act is None or unknown or arrivals is None or arrivals > 0.0:
        return None
    # Requests that wait, or that fail in error, are requests: not idleness.
    if (obs.queue_depth or 0.0) > 0.0 or (obs.error_rate or 0.0) > 0.0:
        return None
    if obs.activation is None or obs.activation > act.threshold:
        return None
    return history.idle_since if history.idle_since is not None else now


def _steady(recent: list[float], tuning: PolicyTuning) -> bool:
    if len(recent) < 2:
        return False
    mean = sum(recent) / len(recent)
    return mean > 0.0 and (max(recent) - min(recent)) / mean <= tuning.steady_spread
