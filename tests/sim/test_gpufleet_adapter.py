"""The gpufleet policy runs in the simulator on what the operator would observe."""

from __future__ import annotations

import itertools

import pytest

from gpufleet.domain.scaling import policy as scaling_policy
from gpufleet.domain.scaling.types import Decision, Observations, ScalerHistory
from gpufleet.settings import OperatorSettings
from gpufleet.sim.engine import simulate
from gpufleet.sim.manifest import default_spec
from gpufleet.sim.policies.base import PolicyContext
from gpufleet.sim.policies.gpufleet import GpufleetPolicy, observe
from gpufleet.sim.profile import ServiceProfile
from gpufleet.sim.settings import ColdStart, SimSettings
from gpufleet.sim.synthetic import synthetic_trace
from tests.sim.scripted import ScriptedPolicy

BATCHING = ServiceProfile(a_ms=100.0, c_ms=25.0, max_batch=4, max_queue_delay_ms=20.0)


class Probe(ScriptedPolicy):
    """Holds the fleet and records what the operator's reader would report each tick."""

    tick_seconds = 5.0

    def __init__(self, replicas: int) -> None:
        super().__init__(replicas, {})
        self.seen: list[tuple[Observations, int]] = []

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        self.seen.append((observe(now, ctx.metrics, OperatorSettings()), ctx.fleet.ready_replicas))
        return None


def test_observations_are_what_prometheus_shows_of_triton() -> None:
    trace = synthetic_trace("synthetic:constant?rate=30&duration=600", seed=5)
    probe = Probe(replicas=3)
    simulate(trace, BATCHING, SimSettings(seed=5), probe)
    steady = [obs for obs, _ in probe.seen if obs.at >= 60]
    assert steady
    for obs in steady:
        assert obs.request_rate == pytest.approx(30, rel=0.3)
        assert obs.inferences_per_exec is not None
        assert obs.inferences_per_exec >= 1
        # Triton credits each request with its batch's compute time: the operator reads
        # one batch's time (a + c * batch, weighted by requests), not b times it.
        assert obs.compute_ms_per_request is not None
        assert 100 + 25 * obs.inferences_per_exec - 1e-6 <= obs.compute_ms_per_request
        assert obs.compute_ms_per_request <= 100 + 25 * BATCHING.max_batch + 1e-6
        assert obs.p95_latency_ms is not None
        assert obs.p95_latency_ms >= 125
        assert obs.avg_queue_ms is not None
        assert obs.avg_queue_ms >= 0
        assert obs.pods_reporting == 3
        assert obs.unknown == {}
    mean_rate = sum(o.request_rate or 0 for o in steady) / len(steady)
    assert mean_rate == pytest.approx(30, rel=0.05)


def test_a_metrics_outage_makes_signals_unknown_not_zero() -> None:
    trace = synthetic_trace("synthetic:constant?rate=30&duration=300", seed=5)
    probe = Probe(replicas=3)
    simulate(trace, BATCHING, SimSettings(seed=5, metrics_outages=((100.0, 200.0),)), probe)
    during = [obs for obs, _ in probe.seen if 140 <= obs.at < 200]
    assert during
    for obs in during:
        assert obs.queue_depth is None
        assert obs.request_rate is None
        assert obs.all_unknown
        assert "queue_depth" in obs.unknown
        assert "request_rate" in obs.unknown
    after = [obs for obs, _ in probe.seen if obs.at >= 240]
    assert all(o.request_rate is not None for o in after)


def test_a_model_failing_its_executions_shows_as_errors_not_as_load_or_idleness() -> None:
    """30 req/s on 3 pods; from 100 to 200 s the model fails every execution at once."""
    trace = synthetic_trace("synthetic:constant?rate=30&duration=300", seed=5)
    probe = Probe(replicas=3)
    result = simulate(trace, BATCHING, SimSettings(seed=5, model_errors=((100.0, 200.0),)), probe)
    failing = [obs for obs, _ in probe.seen if 140 <= obs.at < 200]  # a rate window in
    assert failing
    for obs in failing:
        assert obs.error_rate == pytest.approx(30, rel=0.3)
        assert obs.request_rate == pytest.approx(0.0, abs=0.5)  # nothing served, none unserved
        assert not obs.all_unknown  # the load is known (nothing served), not lost
        assert "request_rate" not in obs.unknown
    after = [obs for obs, _ in probe.seen if obs.at >= 240]
    assert all(o.error_rate == 0.0 and o.request_rate is not None for o in after)
    assert result.failed == pytest.approx(30 * 100, rel=0.1)  # the window's arrivals


def test_the_operators_decide_runs_with_its_history_carried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[ScalerHistory, Decision, int]] = []
    real_decide = scaling_policy.decide

    def spy(*args: object, **kwargs: object) -> Decision:
        decision = real_decide(*args, **kwargs)  # type: ignore[arg-type]
        history = args[3]
        assert isinstance(history, ScalerHistory)
        calls.append((history, decision, args[1].replicas))  # type: ignore[attr-defined]
        return decision

    monkeypatch.setattr(scaling_policy, "decide", spy)
    spec = default_spec(slo_ms=2000, cold_start_s=30, max_replicas=50, gpu_hourly_price=1.0)
    trace = synthetic_trace("synthetic:step?base=10&peak=60&at=200&duration=400", seed=2)
    policy = GpufleetPolicy(spec)
    simulate(trace, BATCHING, SimSettings(seed=2), policy)
    assert len(calls) == 400 // 5
    for (_, previous, _), (history, _, replicas) in itertools.pairwise(calls):
        assert history is previous.history
        assert replicas == previous.desired_replicas  # the fleet asked for what was decided


class ScaleUpProbe(Probe):
    """Adds a replica at t=100 and records observations around its arrival."""

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        super().decide(now, ctx)
        return 4 if now == 100.0 else None


def test_a_pod_not_yet_scraped_is_warming_up_not_a_lost_metric() -> None:
    # As the operator (which passes when each ready pod became ready): a pod that
    # became ready after the last scrape is warming up. The load over the pods that
    # report is a lower bound -- enough to scale up on -- and no signal is lost.
    trace = synthetic_trace("synthetic:constant?rate=30&duration=200", seed=5)
    probe = ScaleUpProbe(replicas=3)
    simulate(trace, BATCHING, SimSettings(seed=5, cold_start=ColdStart(seconds=12)), probe)
    after = [(obs, ready) for obs, ready in probe.seen if obs.at > 112]  # ready at t=112
    first, ready = after[0]
    assert ready == 4
    assert first.unknown == {}
    assert first.request_rate is not None
    assert first.request_rate > 0.0
    assert "request_rate" in first.lower_bounds
    settled = [obs for obs, _ in after if obs.at >= 112 + 3 * 5]
    assert settled
    assert all(obs.unknown == {} and obs.pods_reporting == 4 for obs in settled)


def test_a_pod_scraped_for_less_than_a_rate_window_gives_lower_bounds_not_unknown() -> None:
    # As the operator's reader: a new pod's rates are missing or understated until its
    # series spans the rate window, so the fleet's load sums are known lower bounds.
    trace = synthetic_trace("synthetic:constant?rate=30&duration=260", seed=5)
    probe = ScaleUpProbe(replicas=3)
    simulate(trace, BATCHING, SimSettings(seed=5, cold_start=ColdStart(seconds=12)), probe)
    window = OperatorSettings().rate_window_seconds
    warming = [obs for obs, _ in probe.seen if 112 + 5 < obs.at < 112 + window]
    assert warming
    for obs in warming:
        assert obs.request_rate is not None
        assert obs.pods_reporting == 4
        assert "request_rate" in obs.lower_bounds
    settled = [obs for obs, _ in probe.seen if obs.at >= 112 + window + 10]
    assert settled
    assert all(obs.lower_bounds == {} for obs in settled)


def test_a_fleet_whose_node_is_lost_is_blind_then_replaced_long_before_eviction() -> None:
    """30 req/s hold 3 pods, all on one GPU node, which stops answering at 400 s."""
    spec = default_spec(slo_ms=2000, cold_start_s=60, max_replicas=50, gpu_hourly_price=1.0)
    trace = synthetic_trace("synthetic:constant?rate=30&duration=900", seed=3)
    policy = GpufleetPolicy(spec)
    result = simulate(trace, BATCHING, SimSettings(seed=3, node_losses=((400.0, 3),)), policy)
    log = policy.decision_log()
    assert {d["desired_replicas"] for d in log if 300 <= d["at"] < 400} == {3}
    # Its pods answer no scrape while Kubernetes still reads them ready: blind, held.
    grace = [d for d in log if 405 <= d["at"] < 450]
    assert grace
    assert all(not d["metrics_available"] and d["desired_replicas"] == 3 for d in grace)
    # Marked not ready (at 450), they are replaced at once, not after their eviction (750).
    replacing = [d for d in log if d["reason_code"] == "ReplacingLostPods"]
    assert [d["at"] for d in replacing] == [450.0]
    assert replacing[0]["desired_replicas"] == 6
    assert replacing[0]["reason"].startswith("3 pods stopped passing readiness")
    ready = dict(zip(result.timeline.at, result.timeline.ready, strict=True))
    assert ready[445.0] == 3  # Kubernetes's view during the node's grace period
    assert ready[500.0] == 0
    assert ready[515.0] == 3  # the replacements, a cold start after 450
