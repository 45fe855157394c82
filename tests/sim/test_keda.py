"""KEDA's ``ignoreNullValues`` trap (kedacore/keda#3065), end to end in the simulator.

During a Prometheus outage the query comes back empty. KEDA reports 0, so the HPA
behind it scales the busy fleet down to minReplicas once its 300 s window has
passed; a plain HPA (Prometheus adapter: empty result = error) does not scale.
"""

from __future__ import annotations

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


def test_keda_scales_a_busy_fleet_down_when_the_metric_goes_empty() -> None:
    result = run(KedaPolicy(threshold=1.0))
    before = replicas_between(result, OUTAGE[0] - 60, OUTAGE[0])
    assert min(before) >= 3  # 30 requests/s need at least 3 replicas
    # The 300 s scale-down window holds the fleet at first ...
    assert min(replicas_between(result, OUTAGE[0], OUTAGE[0] + 280)) >= min(before)
    # ... then the HPA believes the zeros: minReplicas while the fleet is overloaded.
    assert set(replicas_between(result, OUTAGE[0] + 360, OUTAGE[1])) == {1}
    assert result.within_slo < 0.9


def test_hpa_does_not_scale_when_the_metric_is_missing() -> None:
    result = run(HpaPolicy(target_per_pod=1.0))
    before = replicas_between(result, OUTAGE[0] - 20, OUTAGE[0])[-1]
    assert set(replicas_between(result, OUTAGE[0] + 20, OUTAGE[1])) == {before}


def test_keda_without_ignore_null_values_holds_like_the_hpa() -> None:
    result = run(KedaPolicy(threshold=1.0, ignore_null_values=False))
    assert min(replicas_between(result, OUTAGE[0], OUTAGE[1])) >= 3
