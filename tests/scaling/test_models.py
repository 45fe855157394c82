"""The queueing and batching models against closed forms and their own promises."""

from __future__ import annotations

import math

import pytest

from gpufleet.domain.scaling.batching import ReplicaModel
from gpufleet.domain.scaling.queueing import erlang_b, erlang_c, wait_quantile_ms


def test_erlang_c_of_one_server_is_its_utilisation() -> None:
    # M/M/1: a request waits with probability rho.
    assert erlang_c(1, 0.7, erlang_b(1, 0.7)) == pytest.approx(0.7)


def test_erlang_c_textbook_value() -> None:
    # 10 servers offered 8 Erlang wait with probability 0.409 (standard tables).
    assert erlang_c(10, 8.0, erlang_b(10, 8.0)) == pytest.approx(0.409, abs=1e-3)


def test_mm1_wait_tail_matches_the_closed_form() -> None:
    lam, mu = 7.0, 10.0  # P(W > t) = rho e^{-(mu - lam) t}
    expected = math.log(0.7 / 0.05) / (mu - lam) * 1000.0
    assert wait_quantile_ms(1, lam, mu, erlang_b(1, lam / mu)) == pytest.approx(expected)


def test_overload_waits_forever() -> None:
    assert math.isinf(wait_quantile_ms(3, 40.0, 10.0, erlang_b(3, 4.0)))


MODEL = ReplicaModel(fixed_ms=600.0, per_request_ms=300.0, max_batch=4.0, tail_factor=2.0)


def test_batch_settles_where_one_batch_gathers_the_next() -> None:
    rate = 1.5  # per replica: b = r*a / (1 - r*c) = 0.9 / 0.55
    batch = 1.5 * 0.6 / (1 - 1.5 * 0.3)
    assert MODEL.batch_ms(rate) == pytest.approx(600 + 300 * batch)
    assert batch == pytest.approx(rate * MODEL.batch_ms(rate) / 1000.0)


def test_beyond_the_largest_batch_is_overload() -> None:
    assert MODEL.max_rate == pytest.approx(4 / 1.8)
    assert math.isinf(MODEL.batch_ms(MODEL.max_rate * 1.01))


def test_a_replica_at_its_rate_within_the_target_meets_it_and_a_little_more_does_not() -> None:
    for target in (2000.0, 3000.0, 6000.0):
        rate = MODEL.rate_within(target)
        assert 0.0 < rate < MODEL.max_rate
        assert MODEL.replica_p95_ms(rate) <= target
        assert MODEL.replica_p95_ms(rate * 1.01) > target


def test_a_looser_target_lets_a_replica_carry_more() -> None:
    rates = [MODEL.rate_within(t) for t in (2000.0, 2500.0, 3000.0, 6000.0, 60000.0)]
    assert rates == sorted(rates)


def test_requests_queue_per_replica_so_the_fleet_p95_does_not_pool() -> None:
    """A Service routes at random: 10 replicas at 1 req/s each answer like one at 1 req/s."""
    assert MODEL.p95_ms(10, 10.0) == pytest.approx(MODEL.p95_ms(1, 1.0))


@pytest.mark.parametrize("max_batch", [1.0, 2.0, 4.0, 16.0])
def test_a_loose_target_allows_almost_full_batches_and_never_fails(max_batch: float) -> None:
    model = ReplicaModel(600.0, 300.0, max_batch, 2.0)
    rate = model.rate_within(600_000.0)
    assert 0.0 < rate < model.max_rate
    assert math.isinf(model.replica_p95_ms(model.max_rate))


def test_an_unreachable_target_leaves_no_rate() -> None:
    # One request alone takes 900 ms: an 800 ms target is missed whatever the load.
    assert MODEL.rate_within(800.0) == 0.0


def test_a_mostly_idle_replica_answers_in_its_own_batch_time() -> None:
    """Busy 4 % of the time: 96 % of requests find no batch in flight, so the p95 is one
    request's own 900 ms. Busy all the time, it is two batch times (the tail factor)."""
    assert MODEL.replica_p95_ms(0.04 / 0.9) == pytest.approx(900.0)
    busy = MODEL.replica_p95_ms(1.5)
    assert busy >= 2.0 * MODEL.batch_ms(1.5)


def test_a_target_just_above_one_request_is_met_at_a_light_load() -> None:
    """A 1 s target, 900 ms a request: met while few requests find a batch in flight
    (before, the model's two batch times said no load at all could meet it)."""
    rate = MODEL.rate_within(1000.0)
    assert 0.0 < rate < 0.2
    assert MODEL.replica_p95_ms(rate) <= 1000.0


@pytest.mark.parametrize(
    ("rate", "md1_p95_ms"),
    # M/D/1 with 500 ms requests: p95 of wait + service from a Lindley recursion over
    # 400,000 Poisson arrivals (an independent reference, not this model).
    [(1.5, 3070.0), (1.7, 4960.0)],
)
def test_a_server_of_one_request_at_a_time_waits_like_md1(rate: float, md1_p95_ms: float) -> None:
    """One request at a time: the wait for the request in flight is the queue's wait,
    counted once (the tail factor's own wait for a batch in flight is not added to it)."""
    model = ReplicaModel(fixed_ms=250.0, per_request_ms=250.0, max_batch=1.0, tail_factor=2.0)
    assert model.replica_p95_ms(rate) == pytest.approx(md1_p95_ms, rel=0.10)
