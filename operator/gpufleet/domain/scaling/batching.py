"""Latency of a fleet of dynamic-batching replicas, and how many keep p95 under a target.

A replica runs one batch at a time; a batch of ``b`` requests takes ``a + c*b`` ms.
Under a per-replica arrival rate ``r`` the batch size settles where one batch's
time gathers the next batch: ``b = r * (a + c*b)``, i.e. ``b = r*a / (1 - r*c)``
and a batch time of ``a / (1 - r*c)`` (at least one request's, ``a + c``). The
load a replica can carry is bounded by the largest batch it can run.

A request waits for the batch in flight and then runs in its own, so its p95 is
about ``tail_factor`` batch times (2 for a uniformly distributed residual;
learned from the measured p95, see ``capacity.learn_tail_factor``), plus queueing
when the fleet as a whole runs short, which the M/M/c wait at full-batch
throughput covers (``queueing.py``, scaled by ``WAIT_SCALE``).

The sizing loop walks up from the utilisation floor with the Erlang B recursion,
so finding the replica count is O(replicas) per call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpufleet.domain.scaling.queueing import erlang_b, wait_p95_ms

WAIT_SCALE = 0.5
"""Allen-Cunneen factor (ca^2 + cs^2) / 2 on the M/M/c wait: Poisson arrivals, fixed batch time."""


@dataclass(frozen=True, slots=True)
class ReplicaModel:
    fixed_ms: float
    """``a``: the part of a batch's time that does not grow with its size."""
    per_request_ms: float
    """``c``: what each request adds to its batch's time."""
    max_batch: float
    """Largest batch the replica is believed to run."""
    tail_factor: float
    """p95 latency in batch times, without fleet-wide queueing."""

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

    def rate_within(self, target_ms: float) -> float:
        """Per-replica rate at which ``tail_factor`` batch times reach ``target_ms``."""
        budget = target_ms / self.tail_factor
        if budget <= self.fixed_ms + self.per_request_ms:
            return 0.0
        by_latency = 1000.0 * (1.0 - self.fixed_ms / budget) / self.per_request_ms
        return min(by_latency, self.max_rate)

    def p95_ms(self, replicas: int, rate: float) -> float:
        """Predicted fleet p95 (ms) at ``rate`` req/s over ``replicas``; ``inf`` if overloaded."""
        if rate <= 0.0:
            return self.tail_factor * self.batch_ms(0.0)
        if replicas <= 0:
            return math.inf
        own = self.tail_factor * self.batch_ms(rate / replicas)
        if math.isinf(own):
            return own
        blocking = erlang_b(replicas, rate / self.max_rate)
        return own + WAIT_SCALE * wait_p95_ms(replicas, rate, self.max_rate, blocking)

    def replicas_for(
        self, rate: float, target_ms: float, max_utilization: float, limit: int
    ) -> int:
        """Fewest replicas with predicted p95 within target (``limit + 1`` if none).

        Never above ``max_utilization`` of full-batch throughput. A target below
        what an idle replica achieves cannot be met by scaling: then the fleet is
        sized for half that utilisation, as fast as it gets.
        """
        if rate <= 0.0:
            return 0
        load = rate / self.max_rate
        if self.tail_factor * self.batch_ms(0.0) >= target_ms:
            return min(limit + 1, max(1, math.ceil(load / (max_utilization / 2.0))))
        floor = max(1, math.ceil(load / max_utilization))
        blocking = 1.0
        for k in range(1, limit + 1):
            blocking = load * blocking / (k + load * blocking)
            if k < floor:
                continue
            own = self.tail_factor * self.batch_ms(rate / k)
            if math.isinf(own) or own > target_ms:
                continue
            if own + WAIT_SCALE * wait_p95_ms(k, rate, self.max_rate, blocking) <= target_ms:
                return k
        return limit + 1
