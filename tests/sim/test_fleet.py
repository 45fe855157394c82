"""Fleet mechanics: conservation of requests, billing from creation, draining, failures."""

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


def test_scale_in_drains_queued_work_and_bills_until_the_pod_exits() -> None:
    trace = burst(10, at=0.5, duration=100.0)  # 10 one-second requests on 2 replicas
    result = run(trace, SLOW, ScriptedPolicy(2, {2.0: 1}), routing="least-outstanding")
    assert result.failed == 0
    # The removed pod finished its 5 requests (t = 5.5 s) before exiting.
    assert result.gpu_hours == pytest.approx((100 + 5.5) / 3600)
    assert result.p99_ms == pytest.approx(5000.0)


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
