"""Properties of ``decide`` over generated specs, fleets, loads and histories."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet.domain.scaling.policy import decide
from gpufleet.domain.scaling.tuning import DEFAULT_TUNING
from gpufleet.domain.scaling.types import FleetState, Observations, ScalerHistory
from gpufleet.domain.spec import ModelDeploymentSpec
from tests.scaling.builders import PodClock, fleet, load, run, spec, unknown

TICK = 5.0


@st.composite
def specs(draw: st.DrawFn) -> ModelDeploymentSpec:
    low = draw(st.integers(0, 5))
    high = draw(st.integers(max(low, 1), 60))
    price = draw(st.sampled_from([0.5, 1.0, 2.5]))
    budget = draw(st.floats(max(low, 1) * price * 4, 200.0))  # affords minReplicas x 4 GPUs
    # Zero replicas need an activation query (nothing else says requests wait).
    activation: dict[str, Any] = (
        {"activation": {"query": "gateway_queue", "threshold": 0}} if low == 0 else {}
    )
    return spec(
        target_ms=draw(st.sampled_from([500.0, 3000.0, 10000.0])),
        budget=budget,
        price=price,
        minReplicas=low,
        maxReplicas=high,
        scaleDownStabilizationSeconds=draw(st.sampled_from([0, 60, 300])),
        **activation,
    )


loads = st.builds(
    load,
    at=st.just(0.0),
    rate=st.floats(0.0, 500.0),
    batch=st.floats(1.0, 8.0),
    queue=st.floats(0.0, 2000.0),
    p95_ms=st.one_of(st.none(), st.floats(10.0, 60000.0)),
)


@st.composite
def fleets(draw: st.DrawFn) -> FleetState:
    replicas = draw(st.integers(0, 80))
    return FleetState(
        replicas=replicas,
        ready_replicas=draw(st.integers(0, replicas)),
        gpus_per_replica=draw(st.integers(0, 4)),
        gpu_hourly_price=1.0,
    )


def _priced(s: ModelDeploymentSpec, f: FleetState) -> FleetState:
    price = s.cost.gpu_hourly_price
    assert price is not None
    return replace(f, gpu_hourly_price=price)


@settings(max_examples=300, deadline=None)
@given(specs(), fleets(), loads)
def test_within_replica_limits_and_budget(
    s: ModelDeploymentSpec, f: FleetState, obs: Observations
) -> None:
    f = _priced(s, f)
    d = decide(s, f, obs, ScalerHistory(), 0.0)
    unit = max(f.gpus_per_replica, 1) * f.gpu_hourly_price
    assert d.desired_replicas <= s.scaling.max_replicas
    assert d.desired_replicas * unit <= s.cost.max_hourly_cost + 1e-9
    affordable_min = min(s.scaling.min_replicas, int(s.cost.max_hourly_cost / unit + 1e-9))
    assert d.desired_replicas >= affordable_min
    assert d.hourly_cost == d.desired_replicas * unit


@settings(max_examples=200, deadline=None)
@given(specs(), fleets(), st.sampled_from(["request_rate", "queue_depth", "both"]), loads)
def test_never_scales_down_on_unknown_metrics(
    s: ModelDeploymentSpec, f: FleetState, lost: str, obs: Observations
) -> None:
    f = _priced(s, f)
    if lost == "both":
        obs = unknown(0.0)
    elif lost == "request_rate":
        obs = replace(obs, request_rate=None, unknown={lost: "stale"})
    else:
        obs = replace(obs, queue_depth=None, unknown={lost: "stale"})
    d = decide(s, f, obs, ScalerHistory(), 0.0)
    unit = max(f.gpus_per_replica, 1) * f.gpu_hourly_price
    affordable = int(s.cost.max_hourly_cost / unit + 1e-9)
    assert d.desired_replicas >= min(f.replicas, s.scaling.max_replicas, affordable)
    assert not d.metrics_available


@settings(max_examples=200, deadline=None)
@given(specs(), fleets(), loads, st.floats(0.01, 1000.0))
def test_errors_add_no_pods_and_take_none_away(
    s: ModelDeploymentSpec, f: FleetState, obs: Observations, errors: float
) -> None:
    """A model failing requests is neither scaled up on them nor read as idle: the same
    load seen past every scale-down window, with and without errors besides."""
    f = _priced(s, f)
    ticks = [(f, obs), (f, replace(obs, at=400.0))]
    without = run(s, ticks).desired_replicas
    erring = run(s, [(state, replace(o, error_rate=errors)) for state, o in ticks])
    assert erring.desired_replicas <= max(without, f.replicas)
    assert erring.desired_replicas >= without


@settings(max_examples=150, deadline=None)
@given(st.floats(0.5, 200.0), st.floats(1.0, 3.0), st.floats(1.0, 4.0), st.integers(1, 40))
def test_monotone_in_load(rate: float, factor: float, batch: float, replicas: int) -> None:
    s = spec(maxReplicas=1000)
    low = decide(s, fleet(replicas), load(0.0, rate, batch=batch), ScalerHistory(), 0.0)
    high = decide(s, fleet(replicas), load(0.0, rate * factor, batch=batch), ScalerHistory(), 0.0)
    assert high.desired_replicas >= low.desired_replicas


@settings(max_examples=40, deadline=None)
@given(st.floats(1.0, 60.0), st.integers(1, 40))
def test_no_oscillation_under_constant_load(rate: float, start: int) -> None:
    """Constant load: the fleet moves toward one size and stays there."""
    s = spec(maxReplicas=100, scaleDownStabilizationSeconds=60)
    pods = PodClock(start, cold_start_s=30)
    history = ScalerHistory()
    sizes = []
    for i in range(120):
        now = i * TICK
        state = pods.state(now)
        d = decide(s, state, load(now, rate, batch=2.0), history, now)
        history = d.history
        pods.scale_to(d.desired_replicas, now)
        sizes.append(d.desired_replicas)
    settled = sizes[60:]
    assert len(set(settled)) == 1, f"still moving after 5 minutes: {settled}"
    steps = [b - a for a, b in itertools.pairwise(sizes) if a != b]
    reversals = sum(1 for a, b in itertools.pairwise(steps) if (a > 0) != (b > 0))
    assert reversals == 0, f"went up and down under constant load: {sizes}"


@settings(max_examples=40, deadline=None)
@given(st.floats(5.0, 40.0), st.floats(2.0, 5.0))
def test_a_spike_is_answered_in_one_tick_and_not_piled_on(base: float, jump: float) -> None:
    s = spec(maxReplicas=200, coldStartSeconds=90)
    pods = PodClock(1, cold_start_s=90)
    history = ScalerHistory()
    for i in range(60):  # settle at the base load
        now = i * TICK
        d = decide(s, pods.state(now), load(now, base, batch=2.0), history, now)
        history = d.history
        pods.scale_to(d.desired_replicas, now)
    before = d.desired_replicas
    peak = base * jump
    asked = []
    most_ready = before
    lowest_capacity = float("inf")
    for i in range(60, 76):  # 80 s of the spike: no new pod is ready yet
        now = i * TICK
        state = pods.state(now)
        most_ready = max(most_ready, state.ready_replicas)
        served = min(peak, state.ready_replicas * 2.0)
        obs = load(now, served, batch=3.0, queue=(peak - served) * (now - 295.0))
        d = decide(s, state, obs, history, now)
        history = d.history
        pods.scale_to(d.desired_replicas, now)
        asked.append(d.desired_replicas)
        if d.capacity_per_replica is not None:
            lowest_capacity = min(lowest_capacity, d.capacity_per_replica)
    assert asked[0] > before, "the spike's first tick did not scale up"
    # Queue growth counts as demand once the queue passes its normal level (a noise
    # filter), so the spike is fully measured within a few ticks; from then on the
    # backlog keeps growing until pods are ready. The ask may rise once more, when the
    # backlog is seen to outlast the cold start (the ready pods stay busy draining it,
    # so the arrivals need pods of their own), and never again.
    later = asked[8:]
    assert later == sorted(later), f"cancelled pods it still waits for: {asked}"
    assert len(set(later)) <= 2, f"piled on while pods were starting: {asked}"
    # At most: the ready pods (busy with the backlog) plus the peak -- grown by at most
    # what a trend may project -- at the lowest capacity per replica the policy stated:
    # every pod asked for is one its reasons account for.
    growth = DEFAULT_TUNING.max_trend_growth
    most = most_ready + growth * peak / lowest_capacity + 1
    assert max(asked) <= most, f"asked far more than the load: {asked}"
