"""What the operator writes after a decision: status fields, conditions and Events."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpufleet.domain.scaling.policy import decide
from gpufleet.domain.scaling.report import build_report
from gpufleet.domain.scaling.types import ScalerHistory
from tests.scaling.builders import fleet, load, spec, unknown


def test_errors_show_apart_from_the_requests_and_hold_the_fleet() -> None:
    s = spec()
    obs = replace(load(1000.0, 8.0, batch=2.0), error_rate=12.0)
    d = decide(s, fleet(16), obs, ScalerHistory(), 1000.0)
    report = build_report(
        s, d, obs, previous_status=None, replicas_before=16, generation=1, now=1000.0
    )
    assert (report.status_patch["requestRate"], report.status_patch["errorRate"]) == (8.0, 12.0)
    assert d.reason_code.value == "ErrorsHold"
    assert report.status_patch["desiredReplicas"] == 16


def test_a_scale_up_reports_status_conditions_and_one_event() -> None:
    s = spec(budget=100.0)
    obs = load(1000.0, 20.0, batch=2.0, queue=4.0, p95_ms=4100.0)
    d = decide(s, fleet(3), obs, ScalerHistory(), 1000.0)
    report = build_report(
        s, d, obs, previous_status=None, replicas_before=3, generation=7, now=1000.0
    )
    status = report.status_patch
    assert status["desiredReplicas"] == d.desired_replicas > 3
    assert status["requestRate"] == 20.0
    assert status["queueDepth"] == 4.0
    assert status["p95LatencyMs"] == 4100.0
    assert status["predictedP95LatencyMs"] == d.predicted_p95_ms
    assert status["lastScaleTime"] == "1970-01-01T00:16:40Z"
    assert status["lastScaleReason"] == d.reason
    assert status["metricsUnknown"] is None
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["SLOMet"]["status"] == "False"
    assert conditions["SLOMet"]["message"] == "p95 4100 ms > 3000 ms target"
    assert conditions["CostCapped"]["status"] == "False"
    assert conditions["MetricsAvailable"]["status"] == "True"
    assert all(c["observedGeneration"] == 7 for c in conditions.values())
    scale_events = [e for e in report.events if e.reason == "ScaleUpLoad"]
    assert len(scale_events) == 1
    assert scale_events[0].message == d.reason
    warnings = {e.reason for e in report.events if e.type == "Warning"}
    assert "LatencyAboveTarget" in warnings


def test_a_steady_tick_posts_no_events() -> None:
    s = spec(budget=100.0)
    obs = load(1000.0, 20.0, batch=2.0)
    first = decide(s, fleet(12), obs, ScalerHistory(), 1000.0)
    r1 = build_report(
        s, first, obs, previous_status=None, replicas_before=12, generation=1, now=1000.0
    )
    obs2 = load(1005.0, 20.5, batch=2.0, p95_ms=2500.0)  # numbers move, statuses do not
    second = decide(s, fleet(first.desired_replicas), obs2, first.history, 1005.0)
    r2 = build_report(
        s,
        second,
        obs2,
        previous_status=r1.status_patch,
        replicas_before=first.desired_replicas,
        generation=1,
        now=1005.0,
    )
    assert r2.events == ()
    by_type = {c["type"]: c for c in r2.status_patch["conditions"]}
    assert by_type["SLOMet"]["lastTransitionTime"] == "1970-01-01T00:16:40Z"


def test_budget_cap_and_metrics_loss_raise_conditions() -> None:
    s = spec(budget=5.0)
    obs = load(0.0, 100.0, batch=2.0)
    capped = decide(s, fleet(2), obs, ScalerHistory(), 0.0)
    r1 = build_report(
        s, capped, obs, previous_status=None, replicas_before=2, generation=None, now=0.0
    )
    cost = {c["type"]: c for c in r1.status_patch["conditions"]}["CostCapped"]
    assert cost["status"] == "True"
    assert "maxHourlyCost 5 $/h" in cost["message"]

    lost = unknown(10.0)
    blind = decide(s, fleet(capped.desired_replicas), lost, capped.history, 10.0)
    r2 = build_report(
        s,
        blind,
        lost,
        previous_status=r1.status_patch,
        replicas_before=capped.desired_replicas,
        generation=None,
        now=10.0,
    )
    metrics = {c["type"]: c for c in r2.status_patch["conditions"]}["MetricsAvailable"]
    assert metrics["status"] == "False"
    assert "Prometheus unreachable" in metrics["message"]
    assert r2.status_patch["requestRate"] is None
    assert r2.status_patch["metricsUnknown"]["request_rate"].startswith("Prometheus unreachable")
    assert r2.status_patch["lastScaleReason"] == capped.reason
    assert any(e.reason == "MetricsUnknown" and e.type == "Warning" for e in r2.events)


@pytest.mark.parametrize(
    ("ttft_ms", "status", "message"),
    [
        (300.0, "True", "TTFT p95 300 ms <= 1000 ms target; ITL p95 33 ms <= 100 ms target"),
        (1400.0, "False", "TTFT p95 1400 ms > 1000 ms target; ITL p95 33 ms <= 100 ms target"),
    ],
)
def test_an_llm_fleet_is_judged_on_its_ttft_and_itl_targets(
    ttft_ms: float, status: str, message: str
) -> None:
    """A spec with TTFT and ITL targets and no request p95 target, on an engine that
    also exports whole-request latency (vLLM's e2e histogram): SLOMet reads the two
    targets the spec sets, and the report is written."""
    s = spec(budget=100.0, slo={"ttftP95Ms": 1000.0, "itlP95Ms": 100.0})
    obs = replace(
        load(1000.0, 4.0, p95_ms=9000.0),
        ttft_p95_ms=ttft_ms,
        itl_p95_ms=33.0,
        running_requests=8.0,
        generation_tokens_rate=600.0,
        prompt_tokens_rate=2400.0,
    )
    d = decide(s, fleet(3), obs, ScalerHistory(), 1000.0)
    report = build_report(
        s, d, obs, previous_status=None, replicas_before=3, generation=1, now=1000.0
    )
    conditions = {c["type"]: c for c in report.status_patch["conditions"]}
    assert conditions["SLOMet"]["status"] == status
    assert conditions["SLOMet"]["message"] == message
