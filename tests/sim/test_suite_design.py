"""The benchmark suite (benchmarks/sim/suite.py) covers what issue 11 asks, and judges
gpufleet by the issue's rule."""

from __future__ import annotations

from collections import Counter

import pytest

from gpufleet.sim.profile import load_profile
from gpufleet.sim.settings import ColdStart
from tests.sim import bench_scripts

suite = bench_scripts.load("suite")
SCENARIOS = suite.suite()


def test_six_families_none_more_than_a_quarter() -> None:
    families = Counter(s.family for s in SCENARIOS)
    assert set(families) >= {"azure", "bursty", "flash", "onoff", "diurnal", "ramp"}
    assert max(families.values()) <= len(SCENARIOS) / 4


def test_axes_span_what_the_issue_asks() -> None:
    colds = [ColdStart.parse(s.cold_start) for s in SCENARIOS]
    assert min(c.seconds for c in colds) == 30
    assert max(c.seconds for c in colds) == 300
    assert {c.distribution for c in colds} == {"fixed", "lognormal"}
    assert min(s.slo_x for s in SCENARIOS) == 1.5
    assert max(s.slo_x for s in SCENARIOS) == 10
    batches = {load_profile(suite.PROFILES[s.profile]).max_batch for s in SCENARIOS}
    assert batches == {1, 4, 16}
    token_sized = [s for s in SCENARIOS if s.token_sized or "sizes=exp" in s.trace]
    assert {s.family for s in token_sized} >= {"azure", "bursty", "flash"}


def test_labels_are_unique() -> None:
    assert len({s.label for s in SCENARIOS}) == len(SCENARIOS)


def run(policy: str, within: float, hours: float, knob: float | None = None) -> object:
    return suite.Run("s", policy, knob, hours, within, 0, 1.0)


@pytest.mark.parametrize(
    ("ours", "hindsight", "best_fixed", "passed"),
    [
        # Some baseline meets the target: gpufleet must too, at <= 1.03x its GPU-hours.
        ((0.995, 10.2), (0.99, 10.0), (0.999, 30.0), True),
        ((0.995, 10.4), (0.99, 10.0), (0.999, 30.0), False),  # 4 % dearer
        ((0.985, 8.0), (0.99, 10.0), (0.999, 30.0), False),  # cheaper, but misses
        # No baseline meets it: gpufleet must match the best suite-wide baseline.
        ((0.90, 10.0), None, (0.88, 10.0), True),
        ((0.87, 5.0), None, (0.88, 10.0), False),  # less attainment, however cheap
        ((0.95, 12.0), None, (0.88, 10.0), False),  # better, but 20 % dearer
    ],
)
def test_verdict_follows_the_issue(
    ours: tuple[float, float],
    hindsight: tuple[float, float] | None,
    best_fixed: tuple[float, float],
    passed: bool,
) -> None:
    verdict = suite.Verdict(
        scenario=SCENARIOS[0],
        ours=run("gpufleet", *ours),
        oracle=run("oracle", 1.0, 5.0, 0.8),
        hindsight=None if hindsight is None else run("static", *hindsight, 12.0),
        reactive=None,
        best_fixed=run("kpa", *best_fixed, 1.0),
    )
    assert verdict.passed is passed


def test_the_report_says_where_no_reactive_policy_meets_the_target() -> None:
    def verdict(reactive_within: float, passed_within: float) -> object:
        return suite.Verdict(
            scenario=SCENARIOS[0],
            ours=run("gpufleet", passed_within, 10.0),
            oracle=run("oracle", 0.995, 5.0, 0.8),
            hindsight=run("static", 0.991, 10.0, 12.0),
            reactive=run("reactive", reactive_within, 8.0, 0.7),
            best_fixed=run("kpa", 0.98, 30.0, 1.0),
        )

    reached, first_rise = verdict(0.992, 0.995), verdict(0.962, 0.95)
    lines = suite.reactive_findings([reached, first_rise])
    assert "the reactive reference meets the target at some setting on 1" in lines[0]
    assert "gpufleet passes 1 of those" in lines[0]
    assert (
        "On the other 1, no setting of the reactive reference meets it (at best 96.2%)"
        in (lines[1])
    )
    assert "1 static with hindsight" in lines[1]
    # An earlier JSON without reactive runs: nothing is claimed.
    unknown = suite.Verdict(**{**vars(reached), "reactive": None})
    assert suite.reactive_findings([unknown]) == []


def test_the_report_says_where_gpufleets_misses_fall() -> None:
    def verdict(within: float, misses: str | None) -> object:
        ours = suite.Run(SCENARIOS[0].label, "gpufleet", None, 10.0, within, 0, 1.0, misses)
        return suite.Verdict(
            scenario=SCENARIOS[0],
            ours=ours,
            oracle=run("oracle", 0.995, 5.0, 0.8),
            hindsight=None,
            reactive=None,
            best_fixed=run("kpa", 0.98, 30.0, 1.0),
        )

    missed = verdict(0.95, "50 missed; half of them arrived by 65 s (of 1000 s); x")
    met = verdict(0.995, "5 missed; half of them arrived by 500 s (of 1000 s); y")
    report = suite.markdown([SCENARIOS[0]], [missed.ours], {}, [missed, met], "cmd", 1.0)
    section = report.split("## Where gpufleet's misses fall")[1].split("## By family")[0]
    assert f"- {SCENARIOS[0].label} (95.0% within): 50 missed; half of them arrived by 65 s" in (
        section
    )
    assert "5 missed" not in section  # a scenario kept at >= 99 % is not listed
    quiet = suite.markdown([SCENARIOS[0]], [met.ours], {}, [met], "cmd", 1.0)
    assert "## Where gpufleet's misses fall" not in quiet


def test_with_the_autoscalers_alone_a_scenario_only_a_static_fleet_meets_is_elsewhere() -> None:
    label = SCENARIOS[0].label
    runs = [
        suite.Run(label, "gpufleet", None, 12.0, 0.95, 0, 1.0),
        suite.Run(label, "oracle", 0.8, 5.0, 0.995, 0, 1.0),
        suite.Run(label, "static", 14.0, 10.0, 0.991, 0, 1.0),
        suite.Run(label, "kpa", 0.5, 20.0, 0.90, 0, 1.0),
    ]
    fixed: dict[str, float | None] = {"kpa": 0.5}
    (strict,) = suite.verdicts([SCENARIOS[0]], runs, fixed)
    (peers,) = suite.verdicts([SCENARIOS[0]], runs, fixed, hindsight=suite.BASELINES)
    # The static fleet meets it, gpufleet misses: failed. No autoscaler meets it and gpufleet
    # keeps more than KPA at fewer GPU-hours: passed, read with them alone.
    assert strict.feasible
    assert not strict.passed
    assert not peers.feasible
    assert peers.passed
    report = suite.markdown([SCENARIOS[0]], runs, fixed, [strict], "cmd", 1.0, peers=[peers])
    assert "gpufleet passes 0 of 1 scenarios" in report
    assert "KPA alone as the baselines tuned with hindsight" in report
    assert "gpufleet passes 1 of 1, 0 of 0 where one of them meets the target, 1 of 1" in report
