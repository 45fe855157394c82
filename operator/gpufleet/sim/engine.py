"""Run one policy against one trace: the discrete-event loop.

Arrivals come from the trace's sorted array and are merged with the event heap
(batch completions, batch timers, pods becoming ready, scrapes, policy ticks), so
only events that really are events pay for the heap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import numpy.typing as npt

from gpufleet.sim.fleet import Fleet
from gpufleet.sim.llm import LlmReplica, gap_quantile_s
from gpufleet.sim.metrics import MetricsPipeline
from gpufleet.sim.policies.base import Policy, PolicyContext
from gpufleet.sim.profile import AnyProfile
from gpufleet.sim.request_log import RequestLog
from gpufleet.sim.result import BoolArray, FleetTimeline, RunResult, latency_stats, within_target
from gpufleet.sim.scheduler import Scheduler
from gpufleet.sim.settings import SimSettings
from gpufleet.sim.trace import Trace

Progress = Callable[[float], None]
_PROGRESS_EVERY = 5000
WARM_UTILIZATION = 0.7


def default_initial_replicas(trace: Trace, profile: AnyProfile) -> int:
    """Replicas for the first minute's load (its work) at 70 % of full-batch throughput."""
    span = min(60.0, max(trace.duration, 1.0))
    first = int(np.searchsorted(trace.arrivals, span))
    work = first if trace.sizes is None else float(np.sum(trace.sizes[:first]))
    rate = work / span
    return max(1, math.ceil(rate / (WARM_UTILIZATION * profile.max_throughput_rps)))


def simulate(
    trace: Trace,
    profile: AnyProfile,
    settings: SimSettings,
    policy: Policy,
    progress: Progress | None = None,
) -> RunResult:
    started = time.perf_counter()
    sched = Scheduler()
    log = RequestLog.for_trace(
        trace, slow_gap_s=None if settings.itl_ms is None else settings.itl_ms / 1000.0
    )
    fleet = Fleet(settings, profile, log, sched)
    metrics = MetricsPipeline(fleet, settings.metrics_outages, settings.initial_pod_age_s)
    ctx = PolicyContext(fleet, metrics, settings, profile, trace)
    end = trace.duration

    default = settings.initial_replicas
    if default is None:
        default = default_initial_replicas(trace, profile)
    initial = policy.initial_replicas(ctx, default)
    initial = min(max(initial, settings.min_replicas), settings.max_replicas)
    fleet.start_warm(initial)

    timeline = FleetTimeline()

    def record(now: float) -> None:
        timeline.at.append(now)
        timeline.replicas.append(fleet.replicas)
        timeline.ready.append(fleet.ready_replicas)
        timeline.in_system.append(fleet.pending_requests())

    def tick(now: float) -> None:
        desired = policy.decide(now, ctx)
        if desired is not None:
            fleet.scale_to(desired, now)

    for at, pods in settings.node_losses:
        sched.at(at, partial(fleet.lose_node, pods))
    sched.every(settings.scrape_interval_s, metrics.scrape, start=0.0, until=end)
    sched.every(settings.timeline_s, record, start=0.0, until=end)
    sched.every(policy.tick_seconds, tick, start=policy.tick_seconds, until=end)

    arrivals = log.arrivals
    heap = sched.heap
    run_next = sched.run_next
    route = fleet.route
    for rid, at in enumerate(arrivals):
        while heap and heap[0][0] <= at:
            run_next()
        route(rid, at)
        if progress is not None and rid % _PROGRESS_EVERY == 0:
            progress(at / end if end else 1.0)
    while heap:
        run_next()
    if progress is not None:
        progress(1.0)

    targets = (settings.slo_ms, settings.ttft_ms, settings.itl_ms, settings.tpot_ms)
    _fill_demand(timeline, trace, settings.timeline_s)
    _fill_missed(timeline, trace, within_target(log, *targets), settings.timeline_s)
    gpu_hours = fleet.gpu_seconds(end) / 3600.0
    stats = latency_stats(log, *targets)
    if stats.get("tpot_p95_ms") is not None:
        stats["itl_p95_ms"] = _itl_p95_ms(fleet)
    return RunResult(
        policy=policy.name,
        knob=policy.knob,
        knob_name=policy.knob_name,
        trace=trace.name,
        duration_s=end,
        gpu_hours=gpu_hours,
        cost_usd=gpu_hours * settings.gpu_hourly_price,
        scale_events=fleet.scale_events,
        mean_replicas=float(np.mean(timeline.replicas)) if timeline.replicas else 0.0,
        max_replicas=max(timeline.replicas, default=0),
        answered=log.answered,
        dropped=log.dropped,
        wall_s=time.perf_counter() - started,
        timeline=timeline,
        decisions=policy.decision_log(),
        **stats,
    )


def _itl_p95_ms(fleet: Fleet) -> float:
    """The p95 of every gap between two tokens, over every LLM pod of the run."""
    gaps: list[float] = []
    counts: list[int] = []
    for pod in fleet.pods:
        if isinstance(pod, LlmReplica):
            gaps += pod.gap_s
            counts += pod.gap_count
    return gap_quantile_s(gaps, counts, 0.95) * 1000.0


def _fill_demand(timeline: FleetTimeline, trace: Trace, step: float) -> None:
    counts = _arrived_per_interval(timeline, trace.arrivals, step)
    timeline.demand_rps.extend((counts / step).tolist())


def _fill_missed(timeline: FleetTimeline, trace: Trace, within: BoolArray, step: float) -> None:
    counts = _arrived_per_interval(timeline, trace.arrivals[~within], step)
    timeline.missed.extend(int(c) for c in counts)


def _arrived_per_interval(
    timeline: FleetTimeline, arrivals: npt.NDArray[np.float64], step: float
) -> npt.NDArray[np.int64]:
    """Arrivals in each timeline interval ``(at - step, at]`` (``arrivals`` sorted)."""
    at = np.asarray(timeline.at)
    counts: npt.NDArray[np.int64] = np.searchsorted(arrivals, at, side="right") - np.searchsorted(
        arrivals, at - step, side="right"
    )
    return counts
