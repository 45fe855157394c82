"""The simulated pods export Triton's metrics with Triton's semantics.

The pending gauge counts requests waiting to execute, not those executing; the
compute-duration counter grows per request, each request of a batch adding the
whole batch's compute time; the execution counter counts batches.
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
