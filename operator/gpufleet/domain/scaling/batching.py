"""Latency of a fleet of dynamic-batching replicas, and how many keep p95 under a target.

A replica runs one batch at a time; a batch of ``b`` requests takes ``a + c*b`` ms.
Under a per-replica arrival rate ``r`` the batch size settles where one batch's
time gathers the next batch: ``b = r * (a + c*b)``, i.e. ``b = r*a / (1 - r*c)``
and a batch time of ``a / (1 - r*c)`` (at least one request's, ``a + c``). The
load a replica can carry is bounded by the largest batch it can run.

A request that arrives while a batch runs waits for it and then runs in its own, so
on a busy replica its p95 is about ``tail_factor`` batch times (2 for a uniformly
distributed residual; learned from the measured p95, see
``prior.learn_tail_factor``); on a replica mostly idle few requests find a batch in
flight, and the p95 falls toward one batch time. Plus queueing
in its replica when arrivals outrun full batches (``_wait_ms``: a Service routes
at random, so queues are per replica, not pooled). Replicas are independent, so a
fleet needs ``ceil(rate / rate_within(target))`` of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpufleet.domain.scaling.queueing import erlang_b, wait_quantile_ms

WAIT_SCALE = 0.5
"""Allen-Cunneen factor (ca^2 + cs^2) / 2 on the M/M/c wait: Poisson arrivals, fixed batch time."""
RATE_SEARCH_STEPS = 12
"""Bisection steps for the rate within a target: a 4096th of the range searched."""


@dataclass(frozen=True, slots=True)
class ReplicaModel:
    fixed_ms: float
    """``a``: the part of a batch's time that does not grow with its size."""
    per_request_ms: float
    """``c``: what each request adds to its batch's time."""
    max_batch: float
    """Largest batch the replica is believed to run."""
    tail_factor: float
    """p95 latency in batch times, without queueing behind full batches."""
    tail_mass: float = 0.05
    """Share of requests the queueing wait may leave above the target (0.05: a p95)."""

    @property
    def max_rate(self) -> float:
        """Requests/s one replica serves at most (full batches)."""
        return 1000.0 * self.max_batch / (self.fixed_ms + self.per_request_ms * self.max_batch)

    def batch_ms(self, per_replica_rate: float) -> float:
        """Settled batch time (ms) at this per-replica load; ``inf`` beyond capacity."""
        single = self.fixed_ms + self.per_request_ms
        if per_replica_rate <= 0.0:
            return single
        rate_per_ms = per_replica_rate / 1000.0
        busy = rate_per_ms * self.per_request_ms
        if busy >= 1.0:
            return math.inf
        batch = rate_per_ms * self.fixed_ms / (1.0 - busy)
        if batch > self.max_batch:
            return math.inf
        return max(single, self.fixed_ms / (1.0 - busy))

    def replica_p95_ms(self, per_replica_rate: float) -> float:
        """Predicted p95 (ms) of one replica given ``per_replica_rate`` req/s; ``inf``
        beyond what it can serve."""
        batch = self.batch_ms(per_replica_rate)
        if math.isinf(batch) or per_replica_rate <= 0.0:
            return batch
        in_flight = self._in_flight_ms(per_replica_rate, batch)
        wait = self._wait_ms(per_replica_rate)
        if round(self.max_batch) <= 1:
            # One request at a time: the M/D/1 wait already holds the residual of the
            # request in flight -- the larger of the two, not both.
            return batch + max(in_flight, wait)
        # B servers of a full batch each stand in for one batching server: a request that
        # finds a "server" free still waits for the batch in flight, so both count.
        return batch + in_flight + wait

    def _in_flight_ms(self, per_replica_rate: float, batch_ms: float) -> float:
        """The wait for the batch in flight that all but ``tail_mass`` of requests stay
        within. A request waits for one only when it arrives while one runs -- with the
        replica's busy share as probability, then a uniform residual of the batch -- so a
        replica busy less than ``tail_mass`` of the time answers in its own batch's time.
        Busy all the time, the wait is the tail factor's (``tail_factor - 1`` batches)."""
        busy = min(1.0, per_replica_rate * batch_ms / 1000.0)
        mass = self.tail_mass
        if busy <= mass:
            return 0.0
        share = (1.0 - mass / busy) / (1.0 - mass)
        return (self.tail_factor - 1.0) * batch_ms * share

    def _wait_ms(self, per_replica: float) -> float:
        """Wait in one replica's own queue that all but ``tail_mass`` of requests stay
        within. A Service routes each connection at random, so every replica sees its
        own Poisson share and no queue is pooled across replicas; a replica running
        batches of up to ``B`` queues like ``B`` servers of one full batch's time each
        (the bulk-service M/D/B approximation)."""
        servers = max(1, round(self.max_batch))
        mu = self.max_rate / servers
        blocking = erlang_b(servers, per_replica / mu)
        return WAIT_SCALE * wait_quantile_ms(servers, per_replica, mu, blocking, self.tail_mass)

    def rate_within(self, target_ms: float) -> float:
        """Largest per-replica rate whose predicted p95 stays within ``target_ms``; 0 when
        even an idle replica is slower."""
        if self.replica_p95_ms(0.0) > target_ms:
            return 0.0
        # A request's own batch alone is closed-form: an upper bound to search below.
        no_wait = 1000.0 * (1.0 - self.fixed_ms / target_ms) / self.per_request_ms
        low, high = 0.0, min(self.max_rate, max(no_wait, 0.0))
        if high < self.max_rate and self.replica_p95_ms(high) <= target_ms:
            return high
        for _ in range(RATE_SEARCH_STEPS):
            mid = (low + high) / 2.0
            if self.replica_p95_ms(mid) <= target_ms:
                low = mid
            else:
                high = mid
        return low

    def p95_ms(self, replicas: int, rate: float) -> float:
        """Predicted fleet p95 (ms) at ``rate`` req/s over ``replicas``; ``inf`` if overloaded."""
        if rate <= 0.0:
            return self.batch_ms(0.0)
        if replicas <= 0:
            return math.inf
        return self.replica_p95_ms(rate / replicas)
