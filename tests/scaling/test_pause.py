"""A person pauses autoscaling with an annotation: the fleet holds, and status says why."""

from __future__ import annotations

import pytest

from gpufleet.domain.scaling.pause import Pause, pause_of, paused
from gpufleet.domain.scaling.policy import as_applied, decide
from gpufleet.domain.scaling.types import Bound, ReasonCode, ScalerHistory
from tests.scaling.builders import fleet, load, spec


@pytest.mark.parametrize(
    ("annotations", "replicas", "problem"),
    [
        pytest.param({"gpufleet.io/paused-replicas": "3"}, 3, None, id="a count"),
        pytest.param({"gpufleet.io/paused-replicas": " 0 "}, 0, None, id="zero, spaced"),
        pytest.param({"gpufleet.io/paused": "true"}, None, None, id="hold the current"),
        pytest.param({"gpufleet.io/paused": "True"}, None, None, id="any case"),
        pytest.param(
            {"gpufleet.io/paused-replicas": "2", "gpufleet.io/paused": "true"},
            2,
            None,
            id="the count wins",
        ),
        pytest.param({"gpufleet.io/paused-replicas": "-1"}, None, "whole number", id="negative"),
        pytest.param({"gpufleet.io/paused-replicas": "2.5"}, None, "whole number", id="fraction"),
        pytest.param({"gpufleet.io/paused-replicas": "three"}, None, "whole number", id="a word"),
        pytest.param(
            {"gpufleet.io/paused-replicas": "\u0663"}, None, "whole number", id="not ASCII"
        ),
        pytest.param({"gpufleet.io/paused": "yes"}, None, "neither", id="not a boolean"),
    ],
)
def test_annotations_that_pause(
    annotations: dict[str, str], replicas: int | None, problem: str | None
) -> None:
    pause = pause_of(annotations)
    assert pause is not None
    assert pause.replicas == replicas
    assert (pause.problem is None) == (problem is None)
    if problem is not None:
        assert pause.problem is not None
        assert problem in pause.problem


@pytest.mark.parametrize(
    "annotations",
    [None, {}, {"gpufleet.io/paused": "false"}, {"autoscaling.keda.sh/paused": "true"}],
)
def test_annotations_that_do_not_pause(annotations: dict[str, str] | None) -> None:
    assert pause_of(annotations) is None


def test_a_pause_sets_its_count_and_keeps_the_policys_in_the_sentence() -> None:
    policy = decide(spec(), fleet(4), load(0, 100.0, batch=2.0), ScalerHistory(), 0.0)
    assert policy.desired_replicas > 4
    pause = pause_of({"gpufleet.io/paused-replicas": "2"})
    assert pause is not None
    d = paused(policy, pause, spec(), fleet(4))
    assert d.desired_replicas == 2
    assert d.reason_code is ReasonCode.PAUSED
    assert d.rule == "paused"
    assert d.reason.startswith(
        "autoscaling paused by annotation gpufleet.io/paused-replicas='2': scaled 4\u21922; "
        f"the policy would set {policy.desired_replicas}: "
    )
    assert d.reason.endswith(policy.reason)
    assert d.hourly_cost == pytest.approx(2.0)
    assert d.predicted_p95_ms is None  # predicted for the policy's count, not this one


def test_holding_the_current_count_below_min_replicas_is_allowed() -> None:
    s = spec(minReplicas=2)
    policy = decide(s, fleet(1), load(0, 0.1), ScalerHistory(), 0.0)
    d = paused(policy, Pause("gpufleet.io/paused-replicas='0'", 0), s, fleet(1))
    assert d.desired_replicas == 0
    assert d.bounds_hit == frozenset()


@pytest.mark.parametrize(
    ("limits", "bound", "says"),
    [
        pytest.param({"budget": 5.0}, Bound.BUDGET, "the budget allows 5", id="budget"),
        pytest.param({"maxReplicas": 5}, Bound.MAX_REPLICAS, "maxReplicas allows 5", id="max"),
    ],
)
def test_a_pause_never_exceeds_the_spec_limits(
    limits: dict[str, float], bound: Bound, says: str
) -> None:
    s = spec(**limits)  # type: ignore[arg-type]
    policy = decide(s, fleet(4), load(0, 1.0), ScalerHistory(), 0.0)
    d = paused(policy, Pause("gpufleet.io/paused-replicas='9'", 9), s, fleet(4))
    assert d.desired_replicas == 5
    assert d.bounds_hit == {bound}
    assert f"(9 asked for; {says})" in d.reason


def test_an_annotation_not_understood_holds_the_current_count_and_says_why() -> None:
    pause = pause_of({"gpufleet.io/paused-replicas": "lots"})
    assert pause is not None
    policy = decide(spec(), fleet(4), load(0, 100.0, batch=2.0), ScalerHistory(), 0.0)
    d = paused(policy, pause, spec(), fleet(4))
    assert d.desired_replicas == 4
    assert d.reason.startswith(
        "autoscaling paused: annotation gpufleet.io/paused-replicas='lots' is not a whole "
        "number of replicas; holding 4 replicas until it is fixed or removed"
    )


def test_a_pause_records_the_change_it_made_not_the_policys() -> None:
    """Status's lastScaleTime and the pods the policy waits for follow what was done."""
    before = ScalerHistory()
    policy = decide(spec(), fleet(4), load(0, 100.0, batch=2.0), before, 10.0)
    assert policy.history.last_scale_time == 10.0  # the policy wanted more pods
    hold = pause_of({"gpufleet.io/paused": "true"})
    assert hold is not None
    held = as_applied(paused(policy, hold, spec(), fleet(4)), before, 4, 10.0)
    assert held.history.last_scale_time is None
    assert held.history.scale_ups == ()
    more = pause_of({"gpufleet.io/paused-replicas": "6"})
    assert more is not None
    raised = as_applied(paused(policy, more, spec(), fleet(4)), before, 4, 10.0)
    assert raised.history.scale_ups == ((10.0, 2),)
    assert raised.history.last_scale_reason == raised.reason
