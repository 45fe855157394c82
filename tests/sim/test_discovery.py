"""The simulated Prometheus scrapes a pod only once it has discovered it.

Prometheus's discovery manager hands target changes to the scrapers on a 5 s throttle,
so a pod joins the scrapes up to 5 s after its creation. A pod that starts faster than
that serves a few seconds unscraped; a fleet started just before the load is blind at
first. The operator's reader allows for this (``gpufleet.metrics.reader``); the
simulator must not see pods sooner than a real Prometheus would.
"""

from __future__ import annotations

import numpy as np

from gpufleet.metrics.reader import DISCOVERY_DELAY_S
from gpufleet.sim.engine import simulate
from gpufleet.sim.policies.base import PolicyContext
from gpufleet.sim.profile import ServiceProfile
from gpufleet.sim.settings import ColdStart, SimSettings
from gpufleet.sim.trace import Trace
from tests.sim.scripted import ScriptedPolicy

PROFILE = ServiceProfile(a_ms=0.0, c_ms=100.0, max_batch=1)
SCRAPE_S = 0.5
COLD_S = 0.5
"""Shorter than the discovery throttle, as the local fleet's pods start."""


class FirstScrapes(ScriptedPolicy):
    """Follows a plan of replicas, and notes when each pod first appears in a scrape."""

    tick_seconds = SCRAPE_S

    def __init__(self, initial: int, plan: dict[float, int]) -> None:
        super().__init__(initial, plan)
        self.first_seen: dict[int, float] = {}

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        scrape = ctx.metrics.latest(now, 300.0)
        for pod in () if scrape is None else scrape.pods:
            self.first_seen.setdefault(pod, scrape.at if scrape else now)
        return super().decide(now, ctx)


def first_scrapes(
    plan: dict[float, int], *, seed: int = 0, initial_pod_age_s: float | None = None
) -> dict[int, float]:
    trace = Trace("steady", np.arange(0.0, 60.0, 0.5), duration=60.0)
    probe = FirstScrapes(1, plan)
    settings = SimSettings(
        scrape_interval_s=SCRAPE_S,
        cold_start=ColdStart(seconds=COLD_S),
        seed=seed,
        initial_pod_age_s=initial_pod_age_s,
        request_timeout_s=60.0,
    )
    simulate(trace, PROFILE, settings, probe)
    return probe.first_seen


def test_a_new_pod_is_scraped_within_the_discovery_throttle_of_its_creation() -> None:
    # One pod more every 2 s from t=2: pod n is created at 2n s and ready 0.5 s later.
    plan = {2.0 * n: 1 + n for n in range(1, 21)}
    seen = first_scrapes(plan)
    created = {n: 2.0 * n for n in range(1, 21)}
    assert set(seen) >= set(created)
    for pod, at in created.items():
        assert at + COLD_S <= seen[pod] <= at + DISCOVERY_DELAY_S + SCRAPE_S
    # Not at the first scrape after it is ready, as an immediate discovery would have it:
    # the throttle's phase differs from pod to pod.
    late = [p for p, at in created.items() if seen[p] > at + COLD_S + 2 * SCRAPE_S]
    assert len(late) >= len(created) // 2


def test_a_fleet_started_just_before_the_load_goes_unscraped_at_first() -> None:
    started_now = [first_scrapes({}, seed=s, initial_pod_age_s=0.0)[0] for s in range(8)]
    assert all(at <= DISCOVERY_DELAY_S + SCRAPE_S for at in started_now)
    assert max(started_now) >= 2.0
    # A pod created long enough before t=0 is scraped from the first scrape, as is the
    # default fleet, running long before the trace.
    assert first_scrapes({}, initial_pod_age_s=DISCOVERY_DELAY_S)[0] == 0.0
    assert first_scrapes({})[0] == 0.0
