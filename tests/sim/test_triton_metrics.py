"""The simulated pods export Triton's metrics with Triton's semantics.

The pending gauge counts requests waiting to execute, not those executing; the
compute-duration counter grows per request, each request of a batch adding the
whole batch's compute time (the model's execution, not HTTP or the queue); the
request-duration counter holds each request's whole latency; the execution counter
counts batches.
"""

from __future__ import annotations

import numpy as np
import pytest

from gpufleet.sim.engine import simulate
from gpufleet.sim.metrics import PodSample
from gpufleet.sim.policies.base import PolicyContext
from gpufleet.sim.profile import ServiceProfile
from gpufleet.sim.settings import SimSettings
from gpufleet.sim.trace import Trace
from tests.sim.scripted import ScriptedPolicy

ONE_AT_A_TIME = ServiceProfile(a_ms=0.0, c_ms=1000.0, max_batch=1)
"""Each request takes 1 s, alone."""
ALL_AT_ONCE = ServiceProfile(a_ms=1000.0, c_ms=1e-6, max_batch=4, max_queue_delay_ms=100.0)
"""A batch of up to 4 takes 1 s, whatever its size."""


class Scrapes(ScriptedPolicy):
    """Holds one pod and records each scrape of it (one a second), by scrape time."""

    def __init__(self) -> None:
        super().__init__(1, {})
        self.seen: dict[float, PodSample] = {}

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        scrape = ctx.metrics.latest(now, 300.0)
        if scrape is not None and 0 in scrape.pods:
            self.seen[scrape.at] = scrape.pods[0]
        return None


def scrape_three_requests(profile: ServiceProfile) -> dict[float, PodSample]:
    trace = Trace("three", np.full(3, 0.5), duration=10.0)
    probe = Scrapes()
    simulate(trace, profile, SimSettings(scrape_interval_s=1.0, request_timeout_s=60.0), probe)
    return probe.seen


@pytest.mark.parametrize(
    ("profile", "pending", "executions", "compute_s"),
    [
        # One executes while two wait, then one waits, then none.
        (ONE_AT_A_TIME, {1.0: 2, 2.0: 1, 3.0: 0, 4.0: 0}, 3, 3.0),
        # All three execute together: none waits; one execution credited to 3 requests.
        (ALL_AT_ONCE, {1.0: 0, 2.0: 0}, 1, 3.0),
    ],
    ids=["batch-1", "batch-of-3"],
)
def test_pending_counts_waiting_requests_and_compute_is_credited_per_request(
    profile: ServiceProfile, pending: dict[float, int], executions: int, compute_s: float
) -> None:
    seen = scrape_three_requests(profile)
    assert {at: seen[at].pending for at in pending} == pending
    final = seen[max(seen)]
    assert final.success == 3
    assert final.executions == executions
    assert final.inferences == 3
    assert final.compute_s == pytest.approx(compute_s)


@pytest.mark.parametrize(
    ("profile", "compute_s_per_request", "request_s_per_request"),
    [
        # Each request takes 1 s end to end, 0.6 s of it the model's: served one after
        # the other, the three wait 1, 2 and 3 s; compute holds 0.6 s of each.
        (ONE_AT_A_TIME.model_copy(update={"compute_a_ms": 0.0, "compute_c_ms": 600.0}), 0.6, 2.0),
        # A batch of three: the 0.1 s batcher wait plus 1 s; each request is credited the
        # batch's 0.7 s of compute.
        (ALL_AT_ONCE.model_copy(update={"compute_a_ms": 700.0, "compute_c_ms": 0.0}), 0.7, 1.1),
        # A profile without the compute fit credits the whole batch time to compute.
        (ONE_AT_A_TIME, 1.0, 2.0),
        (ALL_AT_ONCE, 1.0, 1.1),
    ],
    ids=["batch-1-compute-fit", "batch-of-3-compute-fit", "batch-1-old", "batch-of-3-old"],
)
def test_compute_counter_holds_the_models_time_and_request_duration_the_rest(
    profile: ServiceProfile, compute_s_per_request: float, request_s_per_request: float
) -> None:
    seen = scrape_three_requests(profile)
    final = seen[max(seen)]
    assert final.success == 3
    assert final.compute_s / final.success == pytest.approx(compute_s_per_request, abs=1e-6)
    assert final.request_s / final.success == pytest.approx(request_s_per_request, abs=1e-6)
