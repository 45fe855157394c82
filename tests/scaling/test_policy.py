"""The policy's decisions, case by case (KEDA-style tables) and over short scenarios."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from gpufleet.domain.scaling.policy import decide
from gpufleet.domain.scaling.tuning import DEFAULT_TUNING, tuning_for
from gpufleet.domain.scaling.types import Bound, Observations, ReasonCode, ScalerHistory
from gpufleet.domain.spec import ModelDeploymentSpec
from tests.scaling.builders import (
    FIXED_MS,
    PER_REQUEST_MS,
    PodClock,
    fleet,
    load,
    run,
    spec,
    unknown,
)

TICK = 5.0
MEMORY_S = DEFAULT_TUNING.capacity_memory_s


def warm(
    s: ModelDeploymentSpec, replicas: int, rate: float, batch: float, ticks: int = 120
) -> tuple[ScalerHistory, int]:
    """History and fleet size after ``ticks`` of this load, the fleet following decisions."""
    history = ScalerHistory()
    for i in range(ticks):
        now = i * TICK
        obs = load(now, rate, batch=1.0 + (batch - 1.0) * (i % 2))  # two batch sizes: a fit
        d = decide(s, fleet(replicas), obs, history, now)
        history, replicas = d.history, d.desired_replicas
    return history, replicas


# The load of ``load()``: batches of b take 600 + 300 b ms. At the largest batch the
# 3 s target allows (4: 1.8 s + a wait for the batch in flight), one replica serves
# at most 4 / 1.8 s = 2.2 req/s; so R req/s need at least R / 2.2 replicas.
MAX_RPS = 4 / 1.8
SETTLED = None
"""Marks a case run on the fleet size the policy settled at for 10 req/s."""


@dataclass(frozen=True)
class Case:
    name: str
    replicas: int | None
    obs: Observations
    expect_min: int | None
    """None: the settled size (the decision holds)."""
    expect_max: int | None
    code: ReasonCode | None = None
    bounds: frozenset[Bound] = frozenset()


def some_pods(obs: Observations) -> Observations:
    """``obs`` as read while one of the ready pods is not scraped yet: the load is
    unknown, the reporting pods' sums are its lower bounds."""
    assert obs.request_rate is not None
    assert obs.queue_depth is not None
    why = "9 of 10 pods reporting"
    return replace(
        obs,
        request_rate=None,
        queue_depth=None,
        unknown={"request_rate": why, "queue_depth": why},
        lower_bounds={"request_rate": obs.request_rate, "queue_depth": obs.queue_depth},
    )


# A fleet that served 10 req/s for ten minutes, then sees one of these ticks.
CASES = [
    Case("steady load holds", SETTLED, load(600, 10.0, batch=2.0), None, None, ReasonCode.STEADY),
    Case(
        "spike x3 scales up at once",
        SETTLED,
        load(600, 30.0, batch=2.0),
        int(30 / MAX_RPS) + 1,
        27,
        ReasonCode.SCALE_UP_LOAD,
    ),
    Case(
        # Demand fell from 10 req/s to none within a cold start: it may come back as fast,
        # so the pods are held (ski rental), not released at the scale-down window. The
        # settled fleet holds one pod more than 10 req/s needs (the reading's counting
        # noise, ``rate_noise``): that one the window keeps for its length.
        "a load that stops at once holds its pods",
        SETTLED,
        load(600, 0.0),
        None,
        None,
        ReasonCode.SCALE_DOWN_STABILIZING,
    ),
    Case("all metrics unknown: hold", 10, unknown(600), 10, 10, ReasonCode.METRICS_UNKNOWN_HOLD),
    Case(
        "queue unknown and load low: no scale-down",
        10,
        replace(load(600, 1.0), queue_depth=None, unknown={"queue_depth": "stale"}),
        10,
        10,
        ReasonCode.METRICS_UNKNOWN_HOLD,
    ),
    Case(
        "a pod not reporting yet, lower bound low: no scale-down",
        10,
        some_pods(load(600, 1.0)),
        10,
        10,
        ReasonCode.METRICS_UNKNOWN_HOLD,
    ),
    Case(
        "a pod not reporting yet, lower bound high: scale-up allowed",
        SETTLED,
        some_pods(load(600, 40.0, batch=2.0)),
        int(40 / MAX_RPS) + 1,
        50,
    ),
    Case(
        "queue unknown and load high: scale-up allowed",
        SETTLED,
        replace(load(600, 40.0, batch=2.0), queue_depth=None, unknown={"queue_depth": "stale"}),
        int(40 / MAX_RPS) + 1,
        50,
    ),
]


@pytest.fixture(scope="module")
def settled() -> tuple[ScalerHistory, int]:
    return warm(spec(), 10, 10.0, 2.0)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decision_table(case: Case, settled: tuple[ScalerHistory, int]) -> None:
    history, size = settled
    replicas = size if case.replicas is SETTLED else case.replicas
    d = decide(spec(), fleet(replicas), case.obs, history, case.obs.at)
    low = size if case.expect_min is None else case.expect_min
    high = size if case.expect_max is None else case.expect_max
    assert low <= d.desired_replicas <= high, d.reason
    if case.code is not None:
        assert d.reason_code is case.code, d.reason
    assert d.bounds_hit == case.bounds


def test_budget_caps_replicas_and_says_so() -> None:
    s = spec(budget=12.0)  # 12 replicas at 1 $/h
    d = decide(s, fleet(10), load(0, 100.0, batch=2.0), ScalerHistory(), 0.0)
    assert d.desired_replicas == 12
    assert d.bounds_hit == {Bound.BUDGET}
    assert d.reason_code is ReasonCode.COST_CAPPED
    assert "maxHourlyCost 12.0 $/h" in d.reason
    assert d.hourly_cost == pytest.approx(12.0)


def test_budget_counts_gpus_per_replica() -> None:
    s = spec(budget=12.0)
    d = decide(s, fleet(2, gpus=4), load(0, 100.0, batch=2.0), ScalerHistory(), 0.0)
    assert d.desired_replicas == 3  # 3 replicas x 4 GPUs x 1 $/h = 12 $/h
    assert d.hourly_cost == pytest.approx(12.0)


def test_a_budget_with_no_limit_in_sight_leaves_max_replicas_in_charge() -> None:
    # maxHourlyCost 1e308 $/h, as someone writes "no limit", at 0.35 $/h a GPU: the
    # budget buys more replicas than any float can count, and maxReplicas decides.
    s = spec(budget=1e308, maxReplicas=8)
    cheap = replace(fleet(4), gpu_hourly_price=0.35)
    d = decide(s, cheap, load(0, 100.0, batch=2.0), ScalerHistory(), 0.0)
    assert d.desired_replicas == 8
    assert d.bounds_hit == {Bound.MAX_REPLICAS}


def test_max_replicas_caps() -> None:
    s = spec(maxReplicas=8)
    d = decide(s, fleet(4), load(0, 100.0, batch=2.0), ScalerHistory(), 0.0)
    assert d.desired_replicas == 8
    assert d.bounds_hit == {Bound.MAX_REPLICAS}
    assert d.reason_code is ReasonCode.MAX_REPLICAS


def test_min_replicas_floor_after_the_window() -> None:
    s = spec(minReplicas=2, scaleDownStabilizationSeconds=60)
    history = ScalerHistory()
    replicas = 6
    for i in range(60):
        d = decide(s, fleet(replicas), load(i * TICK, 0.0), history, i * TICK)
        assert d.desired_replicas >= 2
        history, replicas = d.history, d.desired_replicas
    assert replicas == 2
    assert d.bounds_hit == {Bound.MIN_REPLICAS}


def test_fallback_raises_to_fallback_replicas_but_never_lowers() -> None:
    s = spec(onMetricsLoss="Fallback", fallbackReplicas=8)
    up = decide(s, fleet(3), unknown(0), ScalerHistory(), 0.0)
    assert up.desired_replicas == 8
    assert up.reason_code is ReasonCode.METRICS_UNKNOWN_FALLBACK
    held = decide(s, fleet(12), unknown(0), ScalerHistory(), 0.0)
    assert held.desired_replicas == 12


def test_metrics_loss_reason_counts_the_seconds() -> None:
    s = spec()
    history = ScalerHistory()
    for now in (100.0, 105.0, 130.0):
        d = decide(s, fleet(5), unknown(now), history, now)
        history = d.history
    assert d.desired_replicas == 5
    assert d.reason.startswith("metrics unknown for 30 s: holding 5 replicas")
    assert "Prometheus unreachable" in d.reason
    assert not d.metrics_available


def test_the_settled_fleet_fits_the_load(settled: tuple[ScalerHistory, int]) -> None:
    _, size = settled
    assert 10 / MAX_RPS <= size <= 10, f"10 req/s settled at {size} replicas"


def test_a_backlog_the_ready_pods_drain_before_new_ones_start_orders_none() -> None:
    """New pods cannot take over queued requests; if the ready pods drain them within a
    cold start, pods ordered now would drain nothing. Nor is a pod removed meanwhile."""
    s = spec(coldStartSeconds=60)
    history, size = warm(s, 10, 10.0, 2.0)
    history = replace(history, last_queue_depth=165.0)
    for now in (600.0, 605.0):  # flat out at 13 req/s; 10 arrive; the queue shrinks 3/s
        queue = 150.0 - 3.0 * (now - 600.0)
        d = decide(s, fleet(size), load(now, 13.0, batch=2.0, queue=queue), history, now)
        history = d.history
    assert d.desired_replicas == size, d.reason


def test_a_backlog_that_outlasts_a_cold_start_gets_the_arrivals_their_own_pods() -> None:
    """30 req/s arrive, the ready pods serve 22 and hold a growing queue: when new pods
    are ready, the ready ones are still busy draining, so the arrivals need their own."""
    s = spec(coldStartSeconds=60)
    history, _ = warm(s, 10, 10.0, 2.0)
    ready = 10
    history = replace(history, last_queue_depth=460.0)
    for now in (600.0, 605.0):  # completions 22 req/s + the queue growing 8 req/s
        queue = 500.0 + 8.0 * (now - 600.0)
        obs = load(now, 22.0, batch=4.0, queue=queue)
        d = decide(s, fleet(ready), obs, history, now)
        history = d.history
    assert d.reason_code is ReasonCode.SCALE_UP_QUEUE, d.reason
    assert d.desired_replicas >= ready + 30 / MAX_RPS, d.reason
    assert "540 requests queued" in d.reason
    assert "queued requests cannot move to new pods" in d.reason


def test_scales_down_after_the_window_never_below_the_need() -> None:
    s = spec(scaleDownStabilizationSeconds=120)
    history, replicas = warm(s, 20, 20.0, 2.0)
    big = replicas
    seen = []
    for i in range(120, 200):
        d = decide(s, fleet(replicas), load(i * TICK, 5.0, batch=2.0), history, i * TICK)
        history, replicas = d.history, d.desired_replicas
        seen.append(replicas)
    assert seen[20] == big, "scaled down inside the stabilization window"
    assert replicas < big
    assert replicas >= 5 / MAX_RPS
    assert d.predicted_p95_ms is not None
    assert d.predicted_p95_ms <= 3000


def test_spike_with_cold_start_does_not_pile_on() -> None:
    """Load triples; pods take 60 s; the fleet asks once, then waits for them."""
    s = spec(coldStartSeconds=60)
    history, size = warm(s, 10, 10.0, 2.0)
    pods = PodClock(size, cold_start_s=60)
    asked = []
    for i in range(120, 132):  # one minute after the spike
        now = i * TICK
        state = pods.state(now)
        served = min(30.0, state.ready_replicas * 2.2)
        queue = 10.0 + (30.0 - served) * (now - 595)  # the backlog grows while pods start
        obs = load(now, served, batch=3.0, queue=queue, p95_ms=2500.0)
        d = decide(s, state, obs, history, now)
        history = d.history
        pods.scale_to(d.desired_replicas, now)
        asked.append(d.desired_replicas)
    # The first tick sees the completions and the queue starting to grow; the next one
    # has measured the whole spike.
    assert asked[0] > size, f"no scale-up in the first tick of the spike: {asked}"
    assert asked[1] >= 30 / MAX_RPS, f"the spike not measured in two ticks: {asked}"
    # Once the backlog outlasts the cold start, the arrivals get pods of their own on
    # top of the busy ready ones -- once; nothing more is asked while they start.
    assert max(asked) <= size + 2 * (30 / (0.5 * MAX_RPS)), f"piled on: {asked}"
    assert asked[-6:] == [asked[-1]] * 6, f"still asking while pods start: {asked}"


def test_cold_start_is_learned_from_pods_becoming_ready() -> None:
    s = spec(coldStartSeconds=300)
    pods = PodClock(2, cold_start_s=45)
    history = ScalerHistory()
    for i in range(40):
        now = i * TICK
        rate = 2.0 if i < 5 else 8.0
        d = decide(s, pods.state(now), load(now, rate, batch=1.5), history, now)
        history = d.history
        pods.scale_to(d.desired_replicas, now)
    assert history.observed_cold_start_s is not None
    assert 45 <= history.observed_cold_start_s <= 45 + TICK


def test_measured_latency_beats_the_model() -> None:
    """The model says 10 replicas suffice; p95 keeps missing: it learns less capacity."""
    s = spec()
    history, size = warm(s, 10, 10.0, 2.0)
    replicas = size
    for i in range(120, 150):
        obs = load(i * TICK, 10.0, batch=2.0, p95_ms=4500.0)
        d = decide(s, fleet(replicas), obs, history, i * TICK)
        history, replicas = d.history, d.desired_replicas
    assert history.tail_factor is not None
    assert history.tail_factor > 2.0  # more batch times per p95 than the prior
    assert replicas > size


def test_a_fleet_short_for_its_load_does_not_learn_a_slower_replica() -> None:
    """A fleet that starts short for its load (a first rise, an operator restart) misses
    its target for a cold start while the pods it ordered start: the miss is the queue the
    model itself predicts at that load per pod, not a slower request. It must not be
    learned as one: sized on it, the fleet would run a few percent busy, never busy enough
    to learn it back, and hold several times the replicas the load needs."""
    s = spec(coldStartSeconds=180, max_batch_size=1, target_ms=2700.0, maxReplicas=200)
    _, needed = warm(s, 10, 20.0, 1.0)  # the size 20 req/s settles at, never short
    history, replicas, ready = ScalerHistory(), 25, 25
    asked = []
    for i in range(36):  # 20 req/s on 25 pods of 1.1 req/s at most, more on the way
        now = i * TICK
        obs = load(now, 20.0, queue=25.0, p95_ms=5000.0)
        d = decide(s, fleet(max(replicas, ready), ready=ready), obs, history, now)
        history, replicas = d.history, d.desired_replicas
        asked.append(replicas)
    for i in range(36, 100):  # the pods are ready: 20 req/s answered within the target
        now = i * TICK
        d = decide(s, fleet(replicas), load(now, 20.0), history, now)
        history, replicas = d.history, d.desired_replicas
        asked.append(replicas)
    assert max(asked) <= needed, f"{needed} replicas serve it; asked {asked}: {d.reason}"


def test_fresh_history_is_safe() -> None:
    """An operator restart: no history, a big fleet, light load: no immediate scale-down."""
    d = decide(spec(), fleet(30), load(0, 1.0), ScalerHistory(), 0.0)
    assert d.desired_replicas == 30


def test_a_restart_waits_a_window_even_when_its_first_tick_only_held() -> None:
    """An operator restart whose first tick holds on a lower bound (a pod not scraped
    yet): that hold is no evidence the fleet was too big, so once the load is known again
    the fleet still waits a scale-down window instead of halving at the next tick."""
    s = spec(scaleDownStabilizationSeconds=120)
    history, replicas = ScalerHistory(), 30
    for now in (0.0, 5.0, 60.0, 115.0):
        obs = some_pods(load(now, 1.0)) if now == 0.0 else load(now, 1.0)
        d = decide(s, fleet(replicas), obs, history, now)
        history, replicas = d.history, d.desired_replicas
        assert replicas == 30, (now, d.reason)
    d = decide(s, fleet(replicas), load(125.0, 1.0), history, 125.0)
    assert d.desired_replicas < 30, d.reason


def test_a_lower_bound_holds_and_says_why() -> None:
    obs = some_pods(load(600, 1.0))
    d = decide(spec(), fleet(10), obs, ScalerHistory(recommendations=((0.0, 10),)), 600.0)
    assert d.desired_replicas == 10
    assert "request_rate unknown (9 of 10 pods reporting)" in d.reason
    assert not d.metrics_available


def test_a_drained_backlog_does_not_hold_pods_for_the_whole_window() -> None:
    """Pods ordered because a backlog kept the ready ones busy are released once it has
    drained: back to what the arrivals need, not after the scale-down window."""
    s = spec(coldStartSeconds=60, scaleDownStabilizationSeconds=600)
    history, size = warm(s, 10, 10.0, 2.0)
    ready = max(1, size // 2)  # too few for the load: the queue grows
    served, growth = ready * 2.0, 4.0
    # The backlog has grown by ``growth`` req/s for a while (not in one tick).
    backlog = tuple((t, 800.0 + growth * (t - 600.0)) for t in range(570, 600, 5))
    history = replace(history, last_queue_depth=780.0, queue_samples=backlog)
    replicas = ready
    for now in (600.0, 605.0):
        obs = load(now, served, batch=4.0, queue=800.0 + growth * (now - 600.0))
        d = decide(s, fleet(replicas, ready=ready), obs, history, now)
        history, replicas = d.history, d.desired_replicas
    assert replicas >= ready + (served + growth) / MAX_RPS, d.reason
    for i in range(122, 150):  # the new pods are ready; the queue is gone; 10 req/s again
        now = i * TICK
        d = decide(s, fleet(replicas), load(now, 10.0, batch=2.0), history, now)
        history, replicas = d.history, d.desired_replicas
    assert replicas <= size, f"still {replicas} replicas two minutes after the backlog drained"


def test_pods_ordered_for_a_forecast_are_kept_while_they_start() -> None:
    """A rising load orders pods ahead; if the rise pauses while they start, they stay."""
    s = spec(coldStartSeconds=60)
    history, replicas = warm(s, 10, 10.0, 2.0)
    pods = PodClock(replicas, cold_start_s=60)
    asked = []
    for i in range(120, 150):  # rising 0.1 req/s per second for 100 s, then flat
        now = i * TICK
        rate = 10.0 + 0.1 * min(now - 600.0, 100.0)
        state = pods.state(now)
        d = decide(s, state, load(now, rate, batch=2.0), history, now)
        history = d.history
        if state.starting_replicas > 0:
            assert d.desired_replicas >= state.replicas, f"cancelled starting pods: {d.reason}"
        pods.scale_to(d.desired_replicas, now)
        asked.append(d.desired_replicas)
    assert max(asked) > asked[0], f"no scale-up on a rising load: {asked}"


def test_a_lightly_loaded_fleet_does_not_teach_a_low_tail() -> None:
    """Over-provisioned (each replica ~77 % busy), requests rarely wait for a batch in
    flight and p95 is 1.4 batch times; the fleet is sized near full batches, where it
    is about 2. Learning 1.4 there would under-size the next rise."""
    s = spec()
    history = ScalerHistory()
    for i in range(60):
        now = i * TICK
        batch = 1.4 + 0.2 * (i % 2)
        obs = load(now, 11.0, batch=batch, p95_ms=1.4 * (FIXED_MS + PER_REQUEST_MS * batch))
        history = decide(s, fleet(10), obs, history, now).history
    assert history.tail_factor is None


def test_a_target_below_one_requests_latency_is_explained_not_reported_as_zero_capacity() -> None:
    # One request alone takes 900 ms here: a 500 ms p95 target is out of reach.
    s = spec(target_ms=500.0)
    d = decide(s, fleet(2), load(0, 1.0, batch=1.0), ScalerHistory(), 0.0)
    assert "0.00 req/s each" not in d.reason
    assert "below one request's own p95" in d.reason, d.reason


def test_a_pod_not_yet_scraped_does_not_restart_the_scale_down_window() -> None:
    """Every scale-up brings a tick where the new pod is not scraped yet: the load is
    then a lower bound. That tick holds, but must not count as a busy one, or each
    scale-up would keep the fleet big for another whole window."""
    s = spec(scaleDownStabilizationSeconds=120)
    history, replicas = warm(s, 20, 20.0, 2.0)
    big = replicas
    shrunk_at = None
    # The load falls to 12 req/s at 600 s: by less than half, so no step down that
    # would hold its pods (ski rental) -- the scale-down window alone decides.
    for i in range(120, 160):
        now = i * TICK
        obs = load(now, 12.0, batch=2.0)
        if i == 130:  # 650 s: a new pod is not scraped yet
            obs = some_pods(obs)
        d = decide(s, fleet(replicas), obs, history, now)
        history, replicas = d.history, d.desired_replicas
        if replicas < big and shrunk_at is None:
            shrunk_at = now
    assert shrunk_at is not None, "never scaled down"
    assert shrunk_at <= 600 + 120 + TICK, shrunk_at


def test_latency_headroom_buys_capacity_for_the_same_load() -> None:
    """More headroom sizes for a lower predicted p95: more replicas for the same load,
    and the prediction at the chosen size stays under the smaller aim."""
    sizes = {}
    for headroom in (0.0, 0.05, 0.2):
        s = spec(latencyHeadroom=headroom)
        history, _ = warm(s, 10, 20.0, 2.0)
        d = decide(s, fleet(10), load(600, 20.0, batch=2.0), history, 600)
        assert d.predicted_p95_ms is not None
        assert d.predicted_p95_ms <= (1 - headroom) * 3000
        sizes[headroom] = d.desired_replicas
    assert sizes[0.0] <= sizes[0.05] < sizes[0.2], sizes


def test_a_miss_the_model_does_not_predict_scales_up_at_once_and_is_remembered() -> None:
    """The model says the fleet meets the target; the measured p95 says it does not (a
    cost the model cannot see, such as HTTP handling): the measurement wins at once,
    and the pods it asked for are kept for the scale-down window like any measured need."""
    s = spec(scaleDownStabilizationSeconds=60)
    history, size = warm(s, 10, 10.0, 2.0)
    d = decide(s, fleet(size), load(600, 10.0, batch=2.0, p95_ms=6000.0), history, 600)
    assert d.rule == "load", d.reason
    assert "(measured: more missed the target)" in d.reason
    assert d.desired_replicas > size
    history, replicas = d.history, d.desired_replicas
    for i in range(121, 130):  # the new pods are ready and the p95 is fine again
        now = i * TICK
        d = decide(s, fleet(replicas), load(now, 10.0, batch=2.0, p95_ms=2000.0), history, now)
        history = d.history
        assert d.desired_replicas == replicas, f"dropped the pods it just asked for: {d.reason}"


def test_a_load_measured_to_miss_is_not_given_to_a_replica_again_for_a_while() -> None:
    """Steady load; the fleet the model sizes misses the target (a cost the model cannot
    see). Once the measured miss has added pods, the scale-down window passing must not
    hand the replicas that load again -- only once the miss is long forgotten."""
    s = spec(scaleDownStabilizationSeconds=60)
    history, size = warm(s, 10, 10.0, 2.0)
    d = decide(s, fleet(size), load(600, 10.0, batch=2.0, p95_ms=6000.0), history, 600)
    history, replicas = d.history, d.desired_replicas
    assert replicas > size, d.reason
    held, reasons = [], []
    for i in range(121, 121 + int(MEMORY_S / TICK) + 30):
        now = i * TICK
        d = decide(s, fleet(replicas), load(now, 10.0, batch=2.0, p95_ms=2000.0), history, now)
        history, replicas = d.history, d.desired_replicas
        held.append((now, replicas))
        reasons.append(d.reason)
    assert "measured: more missed the target" in reasons[len(reasons) // 2], reasons
    within = [n for now, n in held if now < 600 + MEMORY_S]
    assert min(within) > size, f"back to the size that missed: {held}"
    assert held[-1][1] == size, f"the miss is never forgotten: {held[-1]}"


def test_a_backlog_is_projected_at_the_throughput_measured_not_the_model() -> None:
    """The model says 10 ready replicas serve over 20 req/s, so 14 arriving would shrink
    the queue; it grows, and they complete 12: they are slower than modelled, and the
    queue will not drain by itself."""
    s = spec(coldStartSeconds=60)
    history, _ = warm(s, 10, 10.0, 2.0)
    history = replace(history, last_queue_depth=390.0)
    for now in (600.0, 605.0):
        queue = 400.0 + 2.0 * (now - 600.0)
        d = decide(s, fleet(10), load(now, 12.0, batch=4.0, queue=queue), history, now)
        history = d.history
    assert d.reason_code is ReasonCode.SCALE_UP_QUEUE, d.reason
    assert d.desired_replicas >= 10 + 12 / MAX_RPS


def test_a_backlog_that_holds_steady_is_not_projected_to_drain() -> None:
    """The same fleet, the queue neither growing nor shrinking at 12 completed per
    second: the pods serve only what arrives, and the backlog stays for good."""
    s = spec(coldStartSeconds=60)
    history, _ = warm(s, 10, 10.0, 2.0)
    history = replace(history, last_queue_depth=400.0)
    for now in (600.0, 605.0):
        d = decide(s, fleet(10), load(now, 12.0, batch=4.0, queue=400.0), history, now)
        history = d.history
    assert d.reason_code is ReasonCode.SCALE_UP_QUEUE, d.reason
    assert d.desired_replicas >= 10 + 12 / MAX_RPS


def warming(obs: Observations) -> Observations:
    """``obs`` as read while a young pod's series spans less than a rate window: the
    load is known but understated, its sums listed as lower bounds."""
    assert obs.request_rate is not None
    assert obs.queue_depth is not None
    return replace(
        obs, lower_bounds={"request_rate": obs.request_rate, "queue_depth": obs.queue_depth}
    )


@pytest.mark.parametrize(
    ("reading", "shrinks"),
    [(lambda obs: obs, True), (warming, False)],
    ids=["measured quiet: shrinks", "understated quiet (pods warming): holds"],
)
def test_a_quiet_reading_shrinks_the_fleet_only_when_measured_in_full(
    reading: Callable[[Observations], Observations], shrinks: bool
) -> None:
    s = spec()
    history, replicas = ScalerHistory(), 10
    for i in range(120):  # ten minutes of a quiet fleet, longer than any window
        now = i * TICK
        d = decide(s, fleet(replicas), reading(load(now, 0.5)), history, now)
        history, replicas = d.history, d.desired_replicas
    assert (replicas < 10) is shrinks, d.reason
    if not shrinks:
        assert "only a lower bound" in d.reason


def test_a_server_that_never_batches_is_rated_at_one_request_at_a_time() -> None:
    """Requests wait behind every execution yet batches stay at one request for a whole
    rate window: the server runs one at a time (max batch 1). One request takes 900 ms,
    so a replica serves 1.11 requests/s at most and is not rated above that."""
    s = spec(target_ms=60_000.0)
    replicas, d = 6, None
    history = ScalerHistory()
    for i in range(40):
        now = i * TICK
        obs = load(now, 5.0, batch=1.0, queue=1.5 * replicas, p95_ms=2500.0, pods=replicas)
        d = decide(s, fleet(replicas), obs, history, now)
        history = d.history
    assert d is not None
    assert d.capacity_per_replica is not None
    assert d.capacity_per_replica <= 1000.0 / 900.0, d.reason


@pytest.mark.parametrize(("rate_window_s", "flat_out"), [(10.0, True), (30.0, False)])
def test_a_growing_backlog_reads_as_saturation_after_the_operators_rate_window(
    rate_window_s: float, flat_out: bool
) -> None:
    """Four replicas serve 6 requests/s in full batches of 4 while their queue grows at
    every tick for 15 s. Their served rate is averaged over the operator's rate window:
    with a 10 s window it holds only the saturated time, and a replica is rated at 0.9 of
    the 1.5 requests/s it served (1.35); with a 30 s window it still holds the time
    before, a lower bound of the throughput, and the model's rating stands."""
    s = spec(target_ms=60_000.0, max_batch_size=4)
    tuning = tuning_for(rate_window_s)
    history, d = ScalerHistory(), None
    for i in range(4):
        obs = load(i * TICK, 6.0, batch=4.0, queue=50.0 + 30.0 * i, pods=4)
        d = decide(s, fleet(4), obs, history, i * TICK, tuning)
        history = d.history
    assert d is not None
    assert (d.capacity_per_replica == pytest.approx(1.35)) is flat_out, d.reason
    assert ("measured flat out" in d.reason) is flat_out


@pytest.mark.parametrize(
    ("rate_window_s", "read_at", "measured"),
    [(30.0, 700.0, True), (120.0, 700.0, False), (120.0, 860.0, True)],
    ids=["30 s window, 100 s after", "120 s window, 100 s after", "120 s window, 260 s after"],
)
def test_a_p95_read_within_two_rate_windows_of_a_resize_is_not_the_new_sizes(
    rate_window_s: float, read_at: float, measured: bool
) -> None:
    """Ten minutes of 4 replicas at 4 requests/s, then 8 ready at the same load, whose
    p95 reads 6 s against the 3 s target from 100 s later on. With a 30 s rate window
    the quantile's window has held the 8 replicas alone for over a minute: a miss
    measured at 0.5 requests/s per replica, which caps what a replica is given. With a
    120 s window (Prometheus scraping every 30 s) it still holds what the 4 served: no
    measurement of the new size until two windows (240 s) have passed, and then one."""
    s = spec()
    tuning = tuning_for(rate_window_s)
    history, d = ScalerHistory(), None
    for i in range(int(read_at / TICK) + 1):
        now = i * TICK
        replicas, p95_ms = (4, None) if now < 600.0 else (8, 6000.0 if now >= 700.0 else None)
        obs = load(now, 4.0, batch=1.0 + (i % 2), p95_ms=p95_ms, pods=replicas)
        d = decide(s, fleet(replicas), obs, history, now, tuning)
        history = d.history
    assert d is not None
    assert ("measured: more missed the target" in d.reason) is measured, d.reason


def _eight_replicas_fit_their_batch_time(s: ModelDeploymentSpec) -> ScalerHistory:
    """Five minutes of eight replicas at 0.9 of what batches of 1, 2 and 3 serve, each
    batch taking 600 + 300*b ms: the fit learns that line, and a replica is rated at 0.9
    of full batches of 4 (4 / 1.8 s = 2.22 requests/s): 2.0. Returns the history."""
    history, d = ScalerHistory(), None
    for i in range(60):
        batch = (1.0, 2.0, 3.0)[(i // 4) % 3]
        rate = 0.9 * 8 * batch / (0.6 + 0.3 * batch)
        d = decide(s, fleet(8), load(i * TICK, rate, batch=batch, pods=8), history, i * TICK)
        history = d.history
    assert d is not None
    assert d.capacity_per_replica == pytest.approx(2.0, rel=0.01)
    return history


def test_a_backlog_left_on_old_pods_does_not_make_a_replica_look_slow() -> None:
    """Eight replicas batch up to 4 requests in 600 + 300*b ms; at batches of 1, 2 and 3
    the fit learns that line, and a replica is rated at 0.9 of full batches of 4
    (4 / 1.8 s = 2.22 requests/s): 2.0. Then a backlog sits on four old pods, which run
    full batches (2.22 requests/s each, 1.8 s a batch), while four new ones get single
    requests (0.5/s each, 0.9 s). Triton credits each request its batch's time, so the
    fleet reads a mean batch of 10.9 / 4.2 = 2.58 at (8.9 x 1800 + 2 x 900) / 10.9 =
    1,634 ms, where one replica batching 2.58 takes 1,374 ms. The replica did not get
    slower: the pods ran at two points, and their sum is neither."""
    s = spec(target_ms=60_000.0, max_batch_size=4)
    history = _eight_replicas_fit_their_batch_time(s)
    for i in range(60, 180):  # ten minutes of a backlog draining off the old pods
        obs = load(i * TICK, 10.9, batch=2.58, queue=400.0 - i, pods=8)
        d = decide(s, fleet(8), replace(obs, compute_ms_per_request=1634.0), history, i * TICK)
        history = d.history
    assert d.capacity_per_replica == pytest.approx(2.0, rel=0.01), d.reason


def test_a_batch_time_line_the_points_contradict_gives_way_to_the_prior_split() -> None:
    """Eight replicas batch up to 4 requests in 600 + 300*b ms; at batches of 1, 2 and 3
    the fit learns that line. Then long requests arrive in the larger batches (a batch of
    3 takes 2.7 s, of 1 0.5 s: each tick's points lie on -600 + 1100*b, which no batching
    server runs -- a batch of none would take negative time). Such a line says the
    requests' sizes moved with the batches, not what a batch slot costs; the policy does
    not keep the steepest line it fitted on the way there, but splits the mean point
    (a batch of 2 in 1.6 s) half fixed, half per request (``prior_fixed_share``): full
    batches of 4 in 2.4 s, 1.67 requests/s a replica, rated at 0.9 of it (1.5). The last
    line fitted on the way, already steeper than the truth, rated it at 1.3."""
    s = spec(target_ms=60_000.0, max_batch_size=4)
    history = _eight_replicas_fit_their_batch_time(s)
    for i in range(60, 300):  # twenty minutes of long requests in the large batches
        batch = (1.0, 2.0, 3.0)[(i // 4) % 3]
        obs = load(i * TICK, 6.0, batch=batch, pods=8)
        obs = replace(obs, compute_ms_per_request=-600.0 + 1100.0 * batch)
        d = decide(s, fleet(8), obs, history, i * TICK)
        history = d.history
    assert d.capacity_per_replica == pytest.approx(1.5, rel=0.05), d.reason


def test_a_batch_time_line_slower_than_a_batch_that_ran_gives_way_to_the_prior_split() -> None:
    """Eight replicas batch up to 4 requests in 600 + 300*b ms; the fit learns that line
    and reads batches of 1 in 900 ms. Then a spike's full batches linger in each rate
    window while the batches shrink: the ticks read batches of 1, 2 and 3 at 1.6, 1.7
    and 1.8 s, points on 1500 + 100*b -- a line by which no batch takes less than 1.5 s,
    where the server was seen to run one in 0.9 s. The policy splits the mean point (a
    batch of 2 in 1.7 s) half fixed, half per request: full batches of 4 in 2.55 s,
    1.57 requests/s a replica, rated at 0.9 of it (1.41). The flat line would have rated
    full batches of 4 in 1.9 s at 1.89."""
    s = spec(target_ms=60_000.0, max_batch_size=4)
    history = _eight_replicas_fit_their_batch_time(s)
    for i in range(60, 300):  # twenty minutes of such windows
        batch = (1.0, 2.0, 3.0)[(i // 4) % 3]
        obs = load(i * TICK, 6.0, batch=batch, pods=8)
        obs = replace(obs, compute_ms_per_request=1500.0 + 100.0 * batch)
        d = decide(s, fleet(8), obs, history, i * TICK)
        history = d.history
    assert d.capacity_per_replica == pytest.approx(1.41, rel=0.05), d.reason


@pytest.mark.parametrize("declared", [None, 4])
def test_a_declared_largest_batch_bounds_the_rating_from_the_first_tick(
    declared: int | None,
) -> None:
    """Batches of 3 at 2 requests/s a replica. The server's largest batch is 4: full
    batches take 1.8 s, so a replica serves 2.22 requests/s at most. Undeclared, the
    policy believes batches may grow to twice the largest mean seen (6) and rates a
    replica above what it can serve; declared, never above it."""
    s = spec(target_ms=60_000.0, max_batch_size=declared)
    d = run(s, [(fleet(5), load(i * TICK, 10.0, batch=3.0, pods=5)) for i in range(3)])
    assert d.capacity_per_replica is not None
    full_batches = 4 / 1.8
    if declared is None:
        assert d.capacity_per_replica > full_batches, d.reason
    else:
        assert d.capacity_per_replica <= full_batches, d.reason


def test_a_declared_largest_batch_below_the_batches_measured_yields_to_them() -> None:
    """model.maxBatchSize says 2, yet batches of 3 run: the server's configuration is
    not what the spec says, and the replica is rated at least at the batches measured
    (full batches of 3 take 1.5 s: 2 requests/s a replica)."""
    s = spec(target_ms=60_000.0, max_batch_size=2)
    d = run(s, [(fleet(5), load(i * TICK, 10.0, batch=3.0, pods=5)) for i in range(3)])
    assert d.capacity_per_replica is not None
    full_batches_of_two = 2 / 1.2
    assert d.capacity_per_replica > full_batches_of_two, d.reason


@pytest.mark.parametrize("in_spec", [None, 8])
def test_the_servers_configured_largest_batch_bounds_the_rating_over_the_specs(
    in_spec: int | None,
) -> None:
    """Batches of 3 at 2 requests/s a replica; the server's model configuration says
    its largest batch is 4 (full batches of 1.8 s: 2.22 requests/s a replica at most).
    What the server says wins over a belief (twice the largest mean seen, 6) and over
    the spec's model.maxBatchSize (8): the running model's configuration is the truth."""
    s = spec(target_ms=60_000.0, max_batch_size=in_spec)
    ticks = [
        (fleet(5), replace(load(i * TICK, 10.0, batch=3.0, pods=5), configured_max_batch=4))
        for i in range(3)
    ]
    d = run(s, ticks)
    assert d.capacity_per_replica is not None
    assert d.capacity_per_replica <= 4 / 1.8, d.reason


def test_a_mean_batch_read_above_the_servers_configured_largest_is_not_believed() -> None:
    """The server's configuration says 4, and batches of 3 run; then one tick reads a mean
    of 5 (as the local fleet's operator read 9.07 over a new pod's first scrapes, where the
    bound is 8). No batch of 5 ran: a replica stays rated within full batches of 4 (1.8 s:
    2.22 requests/s), where believing the misreading would rate it by full batches of 5
    (2.38)."""
    s = spec(target_ms=60_000.0)
    ticks = [
        (
            fleet(5),
            replace(
                load(i * TICK, 10.0, batch=5.0 if i == 3 else 3.0, pods=5),
                configured_max_batch=4,
            ),
        )
        for i in range(7)
    ]
    d = run(s, ticks)
    # The fleet is sized to use 0.9 of full batches (max_utilization).
    assert d.capacity_per_replica == pytest.approx(0.9 * 4 / 1.8, rel=0.01), d.reason
