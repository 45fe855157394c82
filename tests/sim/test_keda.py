"""KEDA's ``ignoreNullValues`` trap (kedacore/keda#3065), end to end in the simulator.

During a Prometheus outage the query comes back empty. KEDA reports 0, so the HPA
behind it scales the busy fleet down to minReplicas once its 300 s window has
passed; a plain HPA (Prometheus adapter: empty result = error) does not scale, nor
does KEDA with ``ignoreNullValues: false``.
"""

from __future__ import annotations

import pytest

from gpufleet.sim.engine import simulate
from gpufleet.sim.policies.base import Policy
from gpufleet.sim.policies.hpa import HpaPolicy
from gpufleet.sim.policies.keda import KedaPolicy
from gpufleet.sim.profile import ServiceProfile
from gpufleet.sim.result import RunResult
from gpufleet.sim.settings import SimSettings
from gpufleet.sim.synthetic import synthetic_trace

PROFILE = ServiceProfile(a_ms=0.0, c_ms=100.0, max_batch=1)  # 10 requests/s per replica
OUTAGE = (600.0, 1500.0)


def run(policy: Policy) -> RunResult:
    trace = synthetic_trace("synthetic:constant?rate=30&duration=1800", seed=3)
    settings = SimSettings(metrics_outages=(OUTAGE,), initial_replicas=4, seed=3)
    return simulate(trace, PROFILE, settings, policy)


def replicas_between(result: RunResult, start: float, end: float) -> list[int]:
    tl = result.timeline
    return [n for at, n in zip(tl.at, tl.replicas, strict=True) if start <= at < end]


def test_keda_scales_a_busy_fleet_down_to_one_replica_when_the_metric_goes_empty() -> None:
    result = run(KedaPolicy(threshold=1.0))
    # Once the 300 s scale-down window has forgotten the last real value, the HPA
    # believes the zeros: minReplicas while 30 requests/s need 3 replicas or more.
    assert set(replicas_between(result, OUTAGE[0] + 360, OUTAGE[1])) == {1}
    held = run(KedaPolicy(threshold=1.0, ignore_null_values=False))
    assert result.within_slo < held.within_slo - 0.1


@pytest.mark.parametrize(
    "policy",
    [HpaPolicy(target_per_pod=1.0), KedaPolicy(threshold=1.0, ignore_null_values=False)],
    ids=["hpa", "keda-without-ignoreNullValues"],
)
def test_a_missing_metric_freezes_the_fleet(policy: Policy) -> None:
    result = run(policy)
    before = replicas_between(result, OUTAGE[0] - 20, OUTAGE[0])[-1]
    assert set(replicas_between(result, OUTAGE[0] + 20, OUTAGE[1])) == {before}


@pytest.mark.parametrize(
    "shape",
    [
        "synthetic:step?base=10&peak=40&at=300&duration=900",
        "synthetic:bursty?base=5&peak=40&burst=60&every=200&duration=900",
    ],
)
def test_while_prometheus_answers_keda_scales_exactly_as_the_hpa(shape: str) -> None:
    # KEDA's HPA asks for the metric at every 15 s sync (useCachedMetrics off), so it
    # sees the queue as soon as the HPA would: no 30 s polling delay on the way up.
    trace = synthetic_trace(shape, seed=4)
    settings = SimSettings(initial_replicas=2, seed=4)
    keda = simulate(trace, PROFILE, settings, KedaPolicy(threshold=2.0))
    hpa = simulate(trace, PROFILE, settings, HpaPolicy(target_per_pod=2.0))
    assert keda.timeline.replicas == hpa.timeline.replicas
    assert max(keda.timeline.replicas) > 2
