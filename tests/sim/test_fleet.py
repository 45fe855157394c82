"""Fleet mechanics: conservation of requests, billing from creation, which pod scale-in
removes, draining, failures."""

from __future__ import annotations

import numpy as np
import pytest

from gpufleet.sim.engine import simulate
from gpufleet.sim.profile import ServiceProfile
from gpufleet.sim.result import RunResult
from gpufleet.sim.settings import ColdStart, SimSettings
from gpufleet.sim.synthetic import synthetic_trace
from gpufleet.sim.trace import Trace
from tests.sim.scripted import ScriptedPolicy

FAST = ServiceProfile(a_ms=0.0, c_ms=100.0, max_batch=1)
SLOW = ServiceProfile(a_ms=0.0, c_ms=1000.0, max_batch=1)


def burst(count: int, at: float, duration: float) -> Trace:
    return Trace("burst", np.full(count, at), duration=duration)


def run(
    trace: Trace, profile: ServiceProfile, policy: ScriptedPolicy, **settings: object
) -> RunResult:
    return simulate(trace, profile, SimSettings(**settings), policy)


def test_every_request_is_answered_or_refused_exactly_once() -> None:
    # Overload, a short timeout, scale-up during the overload and a scale-in.
    trace = synthetic_trace("synthetic:step?base=5&peak=40&at=100&duration=400", seed=1)
    policy = ScriptedPolicy(1, {150.0: 6, 300.0: 2})
    result = run(trace, FAST, policy, request_timeout_s=5.0, cold_start=ColdStart(seconds=30))
    assert result.requests == len(trace)
    assert result.answered + result.dropped == result.requests
    assert result.dropped > 0
    assert result.answered > 0
    assert 0 < result.failed < result.requests


def test_gpus_are_billed_from_creation_not_from_ready() -> None:
    trace = synthetic_trace("synthetic:constant?rate=1&duration=400", seed=1)
    policy = ScriptedPolicy(1, {100.0: 3})
    result = run(trace, FAST, policy, cold_start=ColdStart(seconds=60), gpus_per_replica=2)
    # 1 pod for 400 s plus 2 pods from their creation at t=100 (ready at 160), 2 GPUs each.
    assert result.gpu_hours == pytest.approx(2 * (400 + 2 * 300) / 3600)
    assert result.cost_usd == pytest.approx(result.gpu_hours * 0.80)


def test_pods_removed_while_starting_stop_billing_at_once() -> None:
    trace = synthetic_trace("synthetic:constant?rate=1&duration=400", seed=1)
    policy = ScriptedPolicy(1, {100.0: 3, 130.0: 1})
    result = run(trace, FAST, policy, cold_start=ColdStart(seconds=60))
    assert result.gpu_hours == pytest.approx((400 + 2 * 30) / 3600)


def test_scale_in_removes_the_newest_pod_even_when_it_is_idle() -> None:
    # 60 one-second requests queue on the only pod; a second pod, asked for at t=1, is
    # ready at t=6 and idle; scale-in at t=10 removes it, not the busy one.
    trace = burst(60, at=0.5, duration=100.0)
    policy = ScriptedPolicy(1, {1.0: 2, 10.0: 1})
    result = run(trace, SLOW, policy, cold_start=ColdStart(seconds=5), request_timeout_s=1e6)
    assert result.failed == 0
    # The old pod bills 100 s; the new one from t=1 until its 10 s preStop ends at t=20.
    assert result.gpu_hours == pytest.approx((100 + 19) / 3600)


@pytest.mark.parametrize(
    ("pre_stop_s", "drain_timeout_s", "failed", "exits_at"),
    [
        (10.0, 30.0, 9, 42.0),  # serves 41 of its 50 by t=42, the other 9 fail
        (10.0, 60.0, 0, 50.5),  # drains its 50 and exits once idle
        (0.0, 0.0, 49, 2.0),  # killed at once: only the first request was answered
    ],
)
def test_a_removed_pod_drains_until_its_timeout_then_what_it_holds_fails(
    pre_stop_s: float, drain_timeout_s: float, failed: int, exits_at: float
) -> None:
    # 100 one-second requests split 50/50 over two pods; one pod is removed at t=2.
    trace = burst(100, at=0.5, duration=100.0)
    result = run(
        trace,
        SLOW,
        ScriptedPolicy(2, {2.0: 1}),
        routing="least-outstanding",
        request_timeout_s=1e6,
        pre_stop_s=pre_stop_s,
        drain_timeout_s=drain_timeout_s,
    )
    assert result.failed == failed
    assert result.answered + result.dropped == result.requests
    assert result.gpu_hours == pytest.approx((100 + exits_at) / 3600)


def test_requests_without_a_ready_replica_fail() -> None:
    trace = synthetic_trace("synthetic:constant?rate=2&duration=200", seed=1)
    policy = ScriptedPolicy(0, {1.0: 1})
    result = run(trace, FAST, policy, min_replicas=0, cold_start=ColdStart(seconds=50))
    arrived_before_ready = int(np.searchsorted(trace.arrivals, 51.0))
    assert result.dropped == arrived_before_ready
    assert result.answered == result.requests - arrived_before_ready


def test_requests_waiting_longer_than_the_timeout_fail() -> None:
    trace = burst(20, at=0.0, duration=60.0)  # 20 one-second requests on one replica
    result = run(trace, SLOW, ScriptedPolicy(1, {}), request_timeout_s=5.5)
    # Started at 0..5 s and answered by 6 s; the rest waited past 5.5 s and were dropped.
    assert result.answered == 6
    assert result.failed == 15  # the 6th answered at 6 s > 5.5 s counts as a failure too


def _at(result: RunResult, t: float) -> tuple[int, int]:
    """(replicas, ready) on the timeline at ``t``."""
    i = result.timeline.at.index(t)
    return result.timeline.replicas[i], result.timeline.ready[i]


def test_a_lost_node_fails_its_work_and_its_pods_come_back_only_after_eviction() -> None:
    trace = synthetic_trace("synthetic:constant?rate=2&duration=600", seed=1)
    result = run(
        trace,
        FAST,
        ScriptedPolicy(4, {}),
        cold_start=ColdStart(seconds=30),
        node_losses=((100.0, 2),),
    )
    # Kubernetes takes the node's pods as ready for its grace period (50 s), then not
    # ready, still asked for, until their eviction 300 s later; the ReplicaSet's
    # replacements are ready a cold start after that.
    assert _at(result, 145.0) == (4, 4)
    assert _at(result, 155.0) == (4, 2)
    assert _at(result, 445.0) == (4, 2)
    assert _at(result, 475.0) == (4, 2)
    assert _at(result, 485.0) == (4, 4)
    # The requests the Service sent the node during the grace period fail; none after.
    missed = dict(zip(result.timeline.at, result.timeline.missed, strict=True))
    assert sum(missed[t] for t in missed if 100.0 < t <= 150.0) == result.failed > 0
    # The lost pods are billed until evicted (their GPU node is), then the replacements.
    assert result.gpu_hours == pytest.approx((2 * 600 + 2 * 450 + 2 * 150) / 3600)


def test_scale_in_removes_a_lost_node_s_pods_before_serving_ones() -> None:
    trace = synthetic_trace("synthetic:constant?rate=2&duration=600", seed=1)
    result = run(
        trace,
        FAST,
        ScriptedPolicy(4, {200.0: 2}),
        cold_start=ColdStart(seconds=30),
        node_losses=((100.0, 2),),
    )
    assert _at(result, 205.0) == (2, 2)
    assert _at(result, 595.0) == (2, 2)  # no eviction brings them back
    missed = dict(zip(result.timeline.at, result.timeline.missed, strict=True))
    assert sum(missed[t] for t in missed if t > 150.0) == 0
    assert result.gpu_hours == pytest.approx((2 * 600 + 2 * 200) / 3600)
