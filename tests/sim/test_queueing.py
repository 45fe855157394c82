"""Steady Poisson load on fixed replicas, batching off: the simulator matches queueing theory.

Tolerances: 50k-100k requests at 50 % utilisation give a relative standard error
of the mean response time of about 1-2 %; we allow 6 %.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpufleet.sim.engine import simulate
from gpufleet.sim.policies.static import StaticPolicy
from gpufleet.sim.profile import ServiceProfile
from gpufleet.sim.result import RunResult
from gpufleet.sim.settings import SimSettings
from gpufleet.sim.synthetic import synthetic_trace

TOLERANCE = 0.06
MU = 10.0  # services per second of one replica (100 ms mean service)
NO_BATCHING = ServiceProfile(a_ms=0.0, c_ms=1000.0 / MU, max_batch=1, max_queue_delay_ms=0.0)


def run_fixed(
    replicas: int, rate: float, *, exp_sizes: bool, routing: str, seconds: float = 10_000
) -> RunResult:
    sizes = "&sizes=exp" if exp_sizes else ""
    trace = synthetic_trace(f"synthetic:constant?rate={rate}&duration={seconds}{sizes}", seed=7)
    settings = SimSettings(routing=routing, request_timeout_s=1e6, seed=7, max_replicas=64)
    return simulate(trace, NO_BATCHING, settings, StaticPolicy(replicas))


def erlang_c_wait(servers: int, rate: float, mu: float) -> float:
    """Mean wait in queue of an M/M/c queue (Erlang C)."""
    a = rate / mu
    rho = a / servers
    top = a**servers / math.factorial(servers) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(servers)) + top)
    return p_wait / (servers * mu - rate)


def mean_s(result: RunResult) -> float:
    assert result.mean_ms is not None
    return result.mean_ms / 1000.0


def test_mm1_mean_response_time() -> None:
    result = run_fixed(1, 5.0, exp_sizes=True, routing="least-outstanding")
    expected = 1.0 / (MU - 5.0)  # M/M/1: W = 1 / (mu - lambda)
    assert mean_s(result) == pytest.approx(expected, rel=TOLERANCE)


def test_md1_mean_response_time() -> None:
    result = run_fixed(1, 5.0, exp_sizes=False, routing="least-outstanding")
    rho = 5.0 / MU
    expected = 1 / MU + rho / (2 * MU * (1 - rho))  # Pollaczek-Khinchine, deterministic service
    assert mean_s(result) == pytest.approx(expected, rel=TOLERANCE)


def test_random_routing_splits_into_independent_mm1_queues() -> None:
    # Random routing thins Poisson arrivals: 4 replicas at 20/s are 4 M/M/1 queues at 5/s.
    result = run_fixed(4, 20.0, exp_sizes=True, routing="random", seconds=5_000)
    assert mean_s(result) == pytest.approx(1.0 / (MU - 5.0), rel=TOLERANCE)


def test_least_outstanding_lies_between_mmc_and_random_routing() -> None:
    least = mean_s(run_fixed(4, 20.0, exp_sizes=True, routing="least-outstanding", seconds=5_000))
    random = mean_s(run_fixed(4, 20.0, exp_sizes=True, routing="random", seconds=5_000))
    central_queue = 1 / MU + erlang_c_wait(4, 20.0, MU)  # M/M/4: the best any router can do
    assert central_queue * (1 - TOLERANCE) <= least < random
    assert least == pytest.approx(central_queue, rel=0.25)


def test_littles_law_holds() -> None:
    result = run_fixed(2, 12.0, exp_sizes=True, routing="least-outstanding")
    in_system = float(np.mean(result.timeline.in_system))  # sampled every 5 s
    arrival_rate = result.requests / result.duration_s
    assert in_system == pytest.approx(arrival_rate * mean_s(result), rel=0.08)
