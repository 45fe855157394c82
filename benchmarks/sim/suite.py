"""The policy on traffic it was not tuned on: six families, one setting per policy.

Twenty-four scenarios, four in each of six traffic families -- the Azure LLM
conversation trace; bursts shorter than the cold start with clumped arrivals and
idle gaps; a flash crowd (x10 within 10 s, decaying over minutes); on-off;
diurnal; a slow ramp -- crossed with cold starts from 30 to 300 s (fixed and
lognormal), latency targets from 1.5x to 10x one request's service time, three
batching profiles (max batch 1, 4, 16) and token-sized requests. Every policy
runs at one setting across the suite (what a user does) and, per scenario, each
baseline is swept to find its cheapest setting that meets the target with
hindsight. Writes ``docs/benchmarks/sim-suite.md`` and a JSON of every run.

    python benchmarks/sim/suite.py [--out docs/benchmarks/sim-suite.md] [--workers 2]
                                   [--families azure,flash] [--quick]
                                   [--reuse-baselines docs/benchmarks/sim-suite.json]

``--reuse-baselines`` takes every run but gpufleet's from an earlier JSON of the same
scenarios and runs gpufleet alone (seconds instead of minutes, while tuning the
policy); the JSON is stale once the simulator changes, and ``make bench`` rewrites it.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from selection import (
    ATTAINMENT,
    COST_TOLERANCE,
    best_at_settings,
    cell,
    cheapest_meeting,
    dominates,
    no_dearer,
    policies_to_run,
    reference_run,
    reusable_runs,
)

from gpufleet.sim.catalog import make_policy, sweep_grid
from gpufleet.sim.engine import simulate
from gpufleet.sim.profile import DEFAULT_PROFILE_PATH, load_profile
from gpufleet.sim.report import where_misses_fall
from gpufleet.sim.scenario import ScenarioInputs, build

REPO = Path(__file__).resolve().parents[2]
AZURE = REPO / ".." / "shared" / "data" / "azure-llm-2023-conv.csv"
HERE = Path(__file__).resolve().parent
PROFILES = {
    "b1": HERE / "profiles" / "batch1.yaml",
    "b4": DEFAULT_PROFILE_PATH,
    "b16": HERE / "profiles" / "batch16.yaml",
}
ORACLE_FACTOR = 1.2
"""gpufleet's mean GPU-hours over the oracle's, on scenarios some baseline meets."""
BASELINES = ("hpa", "keda", "kpa")
"""The autoscalers a user would otherwise run; each has one suite-wide setting."""
HINDSIGHT = (*BASELINES, "static")
"""Baselines swept per scenario with hindsight (static: replicas sized by hand)."""
SYNTHETIC_S = 2400.0
FAMILIES = ("azure", "bursty", "flash", "onoff", "diurnal", "ramp")


@dataclass(frozen=True)
class Scenario:
    family: str
    label: str
    trace: str
    profile: str
    cold_start: str
    slo_x: float
    """Latency target as a multiple of one request's service time alone."""
    rate_scale: float = 1.0
    token_sized: bool = False
    seed: int = 0

    def service_ms(self) -> float:
        profile = load_profile(PROFILES[self.profile])
        return profile.a_ms + profile.c_ms

    def inputs(self) -> ScenarioInputs:
        return ScenarioInputs(
            trace=self.trace,
            rate_scale=self.rate_scale,
            cold_start=self.cold_start,
            profile=PROFILES[self.profile],
            slo_ms=round(self.slo_x * self.service_ms()),
            token_sized=self.token_sized,
            seed=self.seed,
        )


def _rate(profile: str, replicas: float) -> float:
    """Requests/s that ``replicas`` replicas serve at full-batch throughput."""
    return round(replicas * load_profile(PROFILES[profile]).max_throughput_rps, 2)


def _synthetic(
    shape: str, profile: str, base: float, peak: float, tokens: bool, **kw: float
) -> str:
    """A shape whose base and peak are given in replicas' worth of load."""
    params = {"base": _rate(profile, base), "peak": _rate(profile, peak), **kw}
    params["duration"] = kw.get("duration", SYNTHETIC_S)
    query = "&".join(f"{k}={v:g}" for k, v in params.items())
    return f"synthetic:{shape}?{query}" + ("&sizes=exp" if tokens else "")


def _label(family: str, detail: str, s: tuple[str, str, float, bool]) -> str:
    profile, cold, slo_x, tokens = s
    cold_text = cold if ":" in cold else f"{cold} s"
    size = ", token-sized" if tokens else ""
    return f"{family} {detail}; {profile}, cold {cold_text}, target {slo_x:g}x{size}"


def suite() -> list[Scenario]:
    """The scenarios: (profile, cold start, target multiple, token-sized) crossed with shapes.

    The axes rotate across families so each family sees every profile, short and long,
    fixed and lognormal cold starts, tight and loose targets; token sizes only with
    targets of 5x or more (a request 4x the mean cannot meet 3x the mean's time).
    """
    out: list[Scenario] = []

    def add(
        family: str, detail: str, trace: str, s: tuple[str, str, float, bool], scale: float = 1.0
    ) -> None:
        profile, cold, slo_x, tokens = s
        label = _label(family, detail, s)
        # Synthetic traces carry their sizes (sizes=exp); files need token_sized.
        token_sized = tokens and not trace.startswith("synthetic:")
        out.append(Scenario(family, label, trace, profile, cold, slo_x, scale, token_sized))

    azure = str(AZURE)
    for scale, s in (
        (3.0, ("b4", "60", 3.0, False)),
        (2.5, ("b1", "lognormal:120:0.5", 1.5, False)),
        (3.5, ("b16", "300", 10.0, True)),
        (3.0, ("b4", "30", 5.0, True)),
    ):
        add("azure", f"x{scale:g}", azure, s, scale)

    # Spikes of 20-60 s, shorter than the cold start; clumps of 4-10 requests.
    for s, base, peak, burst, every, clump in (
        (("b4", "60", 10.0, False), 0.0, 10.0, 30.0, 180.0, 8.0),
        (("b1", "120", 5.0, True), 0.5, 10.0, 45.0, 300.0, 4.0),
        (("b16", "lognormal:90:0.4", 3.0, False), 0.0, 12.0, 20.0, 150.0, 10.0),
        (("b4", "300", 1.5, False), 0.3, 10.0, 60.0, 400.0, 6.0),
    ):
        trace = _synthetic("bursty", s[0], base, peak, s[3], burst=burst, every=every, clump=clump)
        add("bursty", f"{burst:g} s spikes every ~{every:g} s", trace, s)

    for s, decay in (
        (("b4", "30", 5.0, False), 300.0),
        (("b1", "120", 5.0, True), 600.0),
        (("b16", "lognormal:60:0.5", 10.0, False), 180.0),
        (("b4", "300", 2.0, False), 900.0),
    ):
        trace = _synthetic("flash", s[0], 1.2, 12, s[3], at=600, rise=10, decay=decay)
        add("flash", f"x10 in 10 s, decay {decay:g} s", trace, s)

    for s, on, off in (
        (("b1", "60", 3.0, False), 300.0, 300.0),
        (("b4", "120", 10.0, True), 600.0, 600.0),
        (("b16", "30", 5.0, False), 120.0, 240.0),
        (("b4", "lognormal:180:0.5", 1.5, False), 900.0, 300.0),
    ):
        trace = _synthetic("onoff", s[0], 0.2, 10, s[3], on=on, off=off)
        add("onoff", f"{on:g} s on / {off:g} s off", trace, s)

    for s, period in (
        (("b4", "60", 3.0, False), 2400.0),
        (("b16", "300", 5.0, True), 2400.0),
        (("b1", "30", 10.0, False), 1200.0),
        (("b4", "lognormal:120:0.3", 2.0, False), 2400.0),
    ):
        trace = _synthetic("diurnal", s[0], 2, 12, s[3], period=period)
        add("diurnal", f"period {period:g} s", trace, s)

    for s, base, peak in (
        (("b4", "120", 3.0, False), 2.0, 12.0),
        (("b1", "300", 5.0, True), 2.0, 12.0),
        (("b16", "60", 1.5, False), 2.0, 12.0),
        (("b4", "30", 10.0, False), 12.0, 2.0),
    ):
        trace = _synthetic("ramp", s[0], base, peak, s[3], start=300, end=2100)
        direction = "up" if peak > base else "down"
        add("ramp", f"{direction} over 30 min", trace, s)
    return out


@dataclass(frozen=True)
class Run:
    scenario: str
    policy: str
    knob: float | None
    gpu_hours: float
    within_slo: float
    failed: int
    mean_replicas: float
    misses: str | None = None
    """gpufleet's runs: where their misses fell (``gpufleet.sim.report.where_misses_fall``)."""


REFERENCES = ("oracle", "reactive")
"""Reported, never targets: the oracle knows every future arrival; the reactive reference
sees each 10 s of arrivals the moment it ends (no metrics, no rate window) and sizes for
the last cold start's busiest bin -- what any policy that orders pods after the load
shows up can do at best. Both are swept with hindsight."""
ALL_POLICIES = ("gpufleet", *HINDSIGHT, *REFERENCES)


def run_scenario(job: tuple[Scenario, tuple[str, ...]]) -> list[Run]:
    """Every setting of ``policies`` on one scenario (the trace is built once)."""
    scenario, policies = job
    setup, settings = build(scenario.inputs())
    runs = []
    for name in policies:
        for knob in sweep_grid(name, setup):
            result = simulate(setup.trace, setup.profile, settings, make_policy(name, setup, knob))
            misses = where_misses_fall(result) if name == "gpufleet" else None
            runs.append(
                Run(scenario.label, name, result.knob, result.gpu_hours, result.within_slo,
                    result.failed, result.mean_replicas, misses)
            )  # fmt: skip
    return runs


@dataclass(frozen=True)
class Verdict:
    scenario: Scenario
    ours: Run
    oracle: Run
    """The oracle's cheapest run meeting the target; its best-attaining one if none does."""
    hindsight: Run | None
    """The cheapest baseline run meeting the target, tuned for this scenario."""
    reactive: Run | None
    """The reactive reference's cheapest run meeting the target; its best-attaining one if
    none does (``None`` when an earlier JSON holds no reactive runs)."""
    best_fixed: Run
    """The best of HPA, KEDA, KPA at their suite-wide settings here (highest attainment)."""

    @property
    def feasible(self) -> bool:
        return self.hindsight is not None

    @property
    def passed(self) -> bool:
        ours = self.ours
        if self.hindsight is not None:
            return ours.within_slo >= ATTAINMENT and no_dearer(ours, self.hindsight)
        return dominates(ours, self.best_fixed)


def suite_wide_settings(runs: list[Run], scenarios: int) -> dict[str, float | None]:
    """Each baseline's one setting: the most scenarios meeting the target, then the
    highest mean attainment (what a user would pick after trying them all)."""
    by: dict[tuple[str, float | None], list[Run]] = defaultdict(list)
    for r in runs:
        if r.policy in BASELINES:
            by[(r.policy, r.knob)].append(r)
    chosen: dict[str, float | None] = {}
    for policy in BASELINES:
        options = [(k, g) for (p, k), g in by.items() if p == policy and len(g) == scenarios]
        if options:
            knob, _ = max(
                options,
                key=lambda kg: (
                    sum(r.within_slo >= ATTAINMENT for r in kg[1]),
                    statistics.mean(r.within_slo for r in kg[1]),
                ),
            )
            chosen[policy] = knob
    return chosen


def verdicts(
    scenarios: list[Scenario],
    runs: list[Run],
    fixed: dict[str, float | None],
    hindsight: tuple[str, ...] = HINDSIGHT,
) -> list[Verdict]:
    """Each scenario judged against the cheapest run of ``hindsight``'s policies that meets
    the target there, else against the best of the baselines at their suite-wide settings."""
    by_scenario: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        by_scenario[r.scenario].append(r)
    out = []
    for s in scenarios:
        mine = by_scenario[s.label]
        oracle = reference_run(mine, "oracle")
        if oracle is None:
            raise SystemExit(f"no oracle run for {s.label!r}")
        out.append(
            Verdict(
                scenario=s,
                ours=next(r for r in mine if r.policy == "gpufleet"),
                oracle=oracle,
                hindsight=cheapest_meeting(r for r in mine if r.policy in hindsight),
                reactive=reference_run(mine, "reactive"),
                best_fixed=best_at_settings(mine, fixed),
            )
        )
    return out


def markdown(
    scenarios: list[Scenario],
    runs: list[Run],
    fixed: dict[str, float | None],
    results: list[Verdict],
    command: str,
    elapsed_s: float,
    reused_from: Path | None = None,
    peers: list[Verdict] | None = None,
) -> str:
    """The report. ``peers``: the verdicts with HPA, KEDA and KPA alone as the baselines
    tuned with hindsight -- the issue calls the scenarios none meets those where "no peer
    setting reaches 99 %", and a static fleet sized for the peak in advance is no
    autoscaler -- reported beside the verdict, which counts the static fleet."""
    families = Counter(s.family for s in scenarios)
    feasible = [v for v in results if v.feasible]
    x_oracle = [
        v.ours.gpu_hours / v.oracle.gpu_hours for v in feasible if v.oracle.within_slo >= ATTAINMENT
    ]
    lines = [
        "# The policy across six traffic families",
        "",
        f"Produced by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({platform.machine()}, CPython {platform.python_version()}) in {elapsed_s:.0f} s, "
        f"at {source_state()}. "
        + (
            "Each number below is from the run that wrote this file."
            if reused_from is None
            else f"gpufleet ran in this run; every other run was reused from `{reused_from}` "
            "(the same scenarios; baselines do not depend on the policy)."
        ),
        "",
        f"{len(scenarios)} scenarios: "
        + ", ".join(f"{f} {n} ({n / len(scenarios):.0%})" for f, n in families.items())
        + ". Axes rotate across families: cold starts 30-300 s, fixed and lognormal; "
        "latency targets 1.5x-10x one request's service time alone; replica profiles with "
        "max batch 1 (`b1`: 500 ms a request), 4 (`b4`: the default, 0.9 s alone, 1.8 s "
        "for 4) and 16 (`b16`: 2.25 s alone, 6 s for 16); token-sized requests (the Azure "
        "trace's GeneratedTokens, exponential sizes elsewhere). Synthetic shapes run 40 "
        "minutes with a peak of 10-12 replicas' worth of full-batch throughput; the Azure "
        "trace is compressed x2.5-x3 (peak minute ~8-12 replicas). A ClusterIP Service "
        "routes at random; scale-in follows the ReplicaSet controller; 60 s request "
        "timeout ([simulator.md](../simulator.md)).",
        "",
        (
            ""
            if len(scenarios) == len(suite())
            else f"A subset of the suite's {len(suite())} scenarios: the suite-wide settings "
            "below are chosen on these alone. "
        )
        + "Every policy runs at one setting across the suite. Each baseline's suite-wide "
        "setting is the one that meets the target (>= 99 % of requests within it) on the "
        "most scenarios, then the highest mean attainment: "
        + ", ".join(f"{p} {k:g}" for p, k in fixed.items() if k is not None)
        + ". Per scenario, each baseline (and a static fleet) is also swept with hindsight "
        "for its cheapest setting that meets the target. The oracle knows every future "
        "arrival and is swept likewise; it is a reference, never a target to tune to.",
        "",
        "Verdict (issue 11): where some baseline tuned with hindsight meets the target, "
        f"gpufleet's defaults must meet it too at no more than {COST_TOLERANCE:.2f}x that "
        "baseline's GPU-hours; elsewhere gpufleet must match the best of HPA, KEDA and KPA "
        "at their suite-wide settings (at least its attainment, at no more than "
        f"{COST_TOLERANCE:.2f}x its GPU-hours).",
        "",
        "## Scenario by scenario",
        "",
        "Cells: setting: share of requests within the target, GPU-hours. The oracle and "
        "the reactive reference: their cheapest setting meeting the target, else their "
        "best-attaining one. The reactive reference sees each 10 s of arrivals the moment "
        "it ends and sizes for the last cold start's busiest 10 s: the most any policy that "
        "orders pods after the load shows up can do.",
        "",
        "| scenario | gpufleet | cheapest hindsight baseline >= 99 % | oracle "
        "| reactive reference | best suite-wide baseline | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in results:
        hind = "none" if v.hindsight is None else cell(v.hindsight)
        kind = "meets & no dearer" if v.feasible else "dominates best fixed"
        lines.append(
            f"| {v.scenario.label} | {v.ours.within_slo:.1%}, {v.ours.gpu_hours:.2f} | {hind} "
            f"| {cell(v.oracle)} | {'-' if v.reactive is None else cell(v.reactive)} "
            f"| {cell(v.best_fixed)} "
            f"| {'pass' if v.passed else 'FAIL'} ({kind}) |"
        )
    lines += _where_misses_fall(results)
    lines += [
        "",
        "## By family",
        "",
        "| family | scenarios | some baseline meets the target | gpufleet passes there "
        "| gpufleet passes elsewhere | gpufleet within target, mean | GPU-h / oracle's, mean |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for family in families:
        group = [v for v in results if v.scenario.family == family]
        feas = [v for v in group if v.feasible]
        rest = [v for v in group if not v.feasible]
        ratio = [
            v.ours.gpu_hours / v.oracle.gpu_hours
            for v in group
            if v.oracle.within_slo >= ATTAINMENT
        ]
        lines.append(
            f"| {family} | {len(group)} | {len(feas)} | {sum(v.passed for v in feas)} of "
            f"{len(feas)} | {sum(v.passed for v in rest)} of {len(rest)} "
            f"| {statistics.mean(v.ours.within_slo for v in group):.1%} "
            f"| {_mean(ratio)} |"
        )
    lines += [
        "",
        "## Every setting across the suite",
        "",
        "| policy | setting | scenarios >= 99 % | within target, mean | worst | "
        "GPU-h / oracle's, mean |",
        "|---|---|--:|--:|--:|--:|",
    ]
    oracle_h = {v.scenario.label: v.oracle.gpu_hours for v in results}
    by_setting: dict[tuple[str, float | None], list[Run]] = defaultdict(list)
    for r in runs:
        if r.policy in ("gpufleet", *BASELINES):
            by_setting[(r.policy, r.knob)].append(r)
    for (policy, knob), same in sorted(
        by_setting.items(), key=lambda kv: (kv[0][0] != "gpufleet", kv[0][0], kv[0][1] or 0.0)
    ):
        mark = " (suite-wide)" if policy in fixed and fixed[policy] == knob else ""
        lines.append(
            f"| {policy} | {'defaults' if knob is None else f'{knob:g}'}{mark} "
            f"| {sum(r.within_slo >= ATTAINMENT for r in same)} of {len(same)} "
            f"| {statistics.mean(r.within_slo for r in same):.1%} "
            f"| {min(r.within_slo for r in same):.1%} "
            f"| {statistics.mean(r.gpu_hours / oracle_h[r.scenario] for r in same):.2f}x |"
        )
    passed = sum(v.passed for v in results)
    lines += [
        "",
        "## Verdict",
        "",
        f"- gpufleet passes {passed} of {len(results)} scenarios: "
        f"{sum(v.passed for v in feasible)} of {len(feasible)} where some baseline meets "
        f"the target with hindsight, {sum(v.passed for v in results if not v.feasible)} of "
        f"{len(results) - len(feasible)} elsewhere.",
        *_peers_only(peers),
        f"- On the scenarios some baseline meets (and the oracle too), gpufleet uses "
        f"{_mean(x_oracle)} the oracle's GPU-hours on average (target <= {ORACLE_FACTOR:g}x).",
        "- Where no baseline reaches 99 %, the misses come from load that arrives faster "
        "than a cold start: a reactive policy orders pods after it sees the load, and they "
        "arrive one cold start later; the oracle orders them a cold start before a spike it "
        "knows is coming. Only capacity already running absorbs such a spike.",
    ]
    lines += reactive_findings(feasible)
    return "\n".join(lines) + "\n"


def _peers_only(peers: list[Verdict] | None) -> list[str]:
    """The verdict with the autoscalers alone tuned with hindsight (``peers``), if given."""
    if peers is None:
        return []
    met = [v for v in peers if v.feasible]
    return [
        f"- Read with {', '.join(b.upper() for b in BASELINES)} alone as the baselines tuned "
        "with hindsight (the static fleet then a reference, like the oracle): gpufleet "
        f"passes {sum(v.passed for v in peers)} of {len(peers)}, "
        f"{sum(v.passed for v in met)} of {len(met)} where one of them meets the target, "
        f"{sum(v.passed for v in peers if not v.feasible)} of {len(peers) - len(met)} "
        "elsewhere. The verdict above counts the static fleet."
    ]


def _where_misses_fall(results: list[Verdict]) -> list[str]:
    """For each scenario gpufleet keeps under 99 % within: when its misses arrived."""
    missed = [v for v in results if v.ours.within_slo < ATTAINMENT and v.ours.misses]
    if not missed:
        return []
    lines = [
        "",
        "## Where gpufleet's misses fall",
        "",
        "Each scenario gpufleet keeps under 99 % within the target: how many of its requests "
        "missed, by when half of those had arrived, and the minute that missed the most "
        "(the opening spike, a rise, or spread over the run).",
        "",
    ]
    lines += [
        f"- {v.scenario.label} ({v.ours.within_slo:.1%} within): {v.ours.misses}" for v in missed
    ]
    return lines


def reactive_findings(feasible: list[Verdict]) -> list[str]:
    """Where a target met with hindsight is out of reach of any policy that reacts."""
    judged = [v for v in feasible if v.reactive is not None]
    if not judged:
        return []
    out_of_reach = [v for v in judged if v.reactive and v.reactive.within_slo < ATTAINMENT]
    reachable = [v for v in judged if v not in out_of_reach]
    lines = [
        f"- Of the {len(judged)} scenarios some baseline meets with hindsight, the reactive "
        f"reference meets the target at some setting on {len(reachable)}; gpufleet passes "
        f"{sum(v.passed for v in reachable)} of those.",
    ]
    if out_of_reach:
        best = max(v.reactive.within_slo for v in out_of_reach if v.reactive is not None)
        kinds = Counter(v.hindsight.policy for v in out_of_reach if v.hindsight is not None)
        lines.append(
            f"- On the other {len(out_of_reach)}, no setting of the reactive reference meets "
            f"it (at best {best:.1%}): the load there rises faster than pods start, and what "
            "meets it is capacity standing before the load comes ("
            + ", ".join(f"{n} {p}" for p, n in kinds.most_common())
            + " with hindsight; a static fleet is sized for the peak from the first second). "
            "A policy that scales on what it measures misses there on a load's first rise; "
            "what it can do is keep the pods once a load has shown it returns "
            "(`recurring-spikes`)."
        )
    return lines


def _mean(values: list[float]) -> str:
    return f"{statistics.mean(values):.2f}x" if values else "-"


def _portable(scenario: dict[str, Any]) -> dict[str, object]:
    """A scenario as compared across checkouts: its fields alone (the JSON's entry adds
    its results) and a trace file by its name (the JSON holds the absolute path of the
    checkout that wrote it)."""
    fields: dict[str, object] = {k: scenario[k] for k in Scenario.__dataclass_fields__}
    trace = str(fields["trace"])
    if not trace.startswith("synthetic:"):
        fields["trace"] = Path(trace).name
    return fields


def source_state() -> str:
    """The commit the numbers come from, and whether the policy or simulator differed."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "an unknown commit"
    paths = (
        "operator/gpufleet/domain/scaling",
        "operator/gpufleet/sim",
        "operator/gpufleet/metrics",
    )
    dirty = git("status", "--porcelain", "--", *paths)
    return f"commit {head}" + (" with uncommitted policy/simulator changes" if dirty else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "sim-suite.md")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--families", default="", help="Comma-separated subset of families.")
    parser.add_argument("--quick", action="store_true", help="Two scenarios per family.")
    parser.add_argument("--reuse-baselines", type=Path, help="Earlier JSON: rerun gpufleet only.")
    args = parser.parse_args()
    if not AZURE.exists():
        print(f"shared Azure trace not found at {AZURE}", file=sys.stderr)
        return 2
    scenarios = suite()
    if args.families:
        wanted = set(args.families.split(","))
        scenarios = [s for s in scenarios if s.family in wanted]
    if args.quick:
        firsts = {f: [s for s in scenarios if s.family == f][:2] for f in FAMILIES}
        scenarios = [s for s in scenarios if s in firsts.get(s.family, [])]
    reused: list[Run] = []
    if args.reuse_baselines:
        now = {s.label: _portable(asdict(s)) for s in scenarios}
        reused = reusable_runs(args.reuse_baselines, now, Run, saved=_portable)
    policies = policies_to_run(ALL_POLICIES, (r.policy for r in reused))
    started = time.perf_counter()
    jobs = [(s, policies) for s in scenarios]
    with ProcessPoolExecutor(args.workers) as pool:
        runs = [r for batch in pool.map(run_scenario, jobs) for r in batch] + reused
    elapsed = time.perf_counter() - started
    fixed = suite_wide_settings(runs, len(scenarios))
    results = verdicts(scenarios, runs, fixed)
    command = shlex.join(["python", "benchmarks/sim/suite.py", *sys.argv[1:]])
    reused_from = args.reuse_baselines if reused else None
    peers = verdicts(scenarios, runs, fixed, hindsight=BASELINES)
    args.out.write_text(
        markdown(scenarios, runs, fixed, results, command, elapsed, reused_from, peers)
    )
    data = {
        "command": command,
        "suite_wide": fixed,
        "scenarios": [
            {
                **asdict(s),
                "slo_ms": s.inputs().slo_ms,
                "passed": v.passed,
                "feasible": v.feasible,
                "gpufleet": asdict(v.ours),
                "hindsight": None if v.hindsight is None else asdict(v.hindsight),
                "oracle": asdict(v.oracle),
                "best_fixed": asdict(v.best_fixed),
            }
            for s, v in zip(scenarios, results, strict=True)
        ],
        "runs": [asdict(r) for r in runs],
    }
    args.out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
