"""What one scaling tick writes to status, from the real policy's decision."""

from __future__ import annotations

from gpufleet.domain.scaling.policy import decide
from gpufleet.domain.scaling.tuning import DEFAULT_TUNING
from gpufleet.domain.scaling.types import FleetState, Observations, ScalerHistory
from gpufleet.domain.spec import parse_spec
from gpufleet.services.autoscale import TickOutcome
from tests.operator.specs import minimal_spec


def test_llm_latencies_are_reported_as_measured() -> None:
    spec = parse_spec(minimal_spec(slo={"ttftP95Ms": 500, "itlP95Ms": 50, "tpotP95Ms": 40}))
    fleet = FleetState(replicas=2, ready_replicas=2, gpus_per_replica=1, gpu_hourly_price=1.0)
    obs = Observations(
        at=1000.0,
        request_rate=3.0,
        queue_depth=0.0,
        ttft_p95_ms=321.0,
        itl_p95_ms=27.5,
        tpot_p95_ms=22.0,
        pods_reporting=2,
    )
    decision = decide(spec, fleet, obs, ScalerHistory(), 1000.0)
    change = TickOutcome(spec, decision, obs, 2, False, DEFAULT_TUNING).status(1, 1000.0, 0.0)({})
    assert change is not None
    assert (change.fields["ttftP95Ms"], change.fields["itlP95Ms"]) == (321.0, 27.5)
    assert change.fields["tpotP95Ms"] == 22.0
    # Why this many replicas, answered from status: the deciding rule and its sentence.
    assert change.fields["decision"]["rule"] == decision.rule
    assert change.fields["decision"]["reason"] == decision.reason
    assert "2 replicas" in decision.reason
    assert change.fields["decision"]["decidedAt"] == "1970-01-01T00:16:40Z"


def test_pods_the_scheduler_cannot_place_are_a_metric() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from gpufleet.observability.metrics import OperatorMetrics

    metrics = OperatorMetrics()
    metrics.set_state(
        "models",
        "llama",
        desired_replicas=4,
        ready_replicas=2,
        hourly_cost=4.0,
        max_hourly_cost=8.0,
        p95_latency_ms=None,
        slo_target_ms=None,
        slo_met=None,
        metrics_available=True,
        cost_capped=False,
        unschedulable_replicas=2,
    )
    samples = {
        (s.name, s.labels.get("modeldeployment")): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
    }
    assert samples[("gpufleet_modeldeployment_unschedulable_replicas", "llama")] == 2
