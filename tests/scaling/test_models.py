"""The queueing and batching models against closed forms and their own promises."""

from __future__ import annotations

import math

import pytest

from gpufleet.domain.scaling.batching import ReplicaModel
from gpufleet.domain.scaling.queueing import erlang_b, erlang_c, wait_p95_ms


def test_erlang_c_of_one_server_is_its_utilisation() -> None:
    # M/M/1: a request waits with probability rho.
    assert erlang_c(1, 0.7, erlang_b(1, 0.7)) == pytest.approx(0.7)


def test_erlang_c_textbook_value() -> None:
    # 10 servers offered 8 Erlang wait with probability 0.409 (standard tables).
    assert erlang_c(10, 8.0, erlang_b(10, 8.0)) == pytest.approx(0.409, abs=1e-3)


def test_mm1_wait_tail_matches_the_closed_form() -> None:
    lam, mu = 7.0, 10.0  # P(W > t) = rho e^{-(mu - lam) t}
    expected = math.log(0.7 / 0.05) / (mu - lam) * 1000.0
    assert wait_p95_ms(1, lam, mu, erlang_b(1, lam / mu)) == pytest.approx(expected)


def test_overload_waits_forever() -> None:
    assert math.isinf(wait_p95_ms(3, 40.0, 10.0, erlang_b(3, 4.0)))


MODEL = ReplicaModel(fixed_ms=600.0, per_request_ms=300.0, max_batch=4.0, tail_factor=2.0)


def test_batch_settles_where_one_batch_gathers_the_next() -> None:
    rate = 1.5  # per replica: b = r*a / (1 - r*c) = 0.9 / 0.55
    batch = 1.5 * 0.6 / (1 - 1.5 * 0.3)
    assert MODEL.batch_ms(rate) == pytest.approx(600 + 300 * batch)
    assert batch == pytest.approx(rate * MODEL.batch_ms(rate) / 1000.0)


def test_beyond_the_largest_batch_is_overload() -> None:
    assert MODEL.max_rate == pytest.approx(4 / 1.8)
    assert math.isinf(MODEL.batch_ms(MODEL.max_rate * 1.01))


def test_sized_fleet_meets_the_target_and_one_less_does_not() -> None:
    for rate in (3.0, 12.0, 40.0, 150.0):
        n = MODEL.replicas_for(rate, 3000.0, max_utilization=0.9, limit=500)
        assert MODEL.p95_ms(n, rate) <= 3000.0
        assert n == 1 or MODEL.p95_ms(n - 1, rate) > 3000.0 or rate / (n - 1) > 0.9 * MODEL.max_rate


def test_more_load_never_needs_fewer_replicas() -> None:
    needs = [MODEL.replicas_for(r / 2, 3000.0, 0.9, 500) for r in range(0, 200)]
    assert needs == sorted(needs)


def test_an_unreachable_target_sizes_for_speed() -> None:
    # Two batch times of one request (2 x 900 ms) exceed a 1 s target whatever the fleet.
    n = MODEL.replicas_for(10.0, 1000.0, 0.9, 500)
    assert n >= 10.0 / (0.45 * MODEL.max_rate)
