"""The policy on a trace of your own: gpufleet's defaults against what you would otherwise run.

``suite.py`` judges the policy on this repository's scenarios; a policy is only as good
as it is on traffic it was not shaped on. This replays one trace file -- any format
``gpufleet sim --trace`` reads -- across cold starts, latency targets and rate scales:
gpufleet at its defaults; HPA, KEDA and KPA at the one setting ``suite.py`` chose for the
whole suite (read from its JSON: what a user who tried them all would run); and, swept
with hindsight per combination, a static fleet and the reactive reference (every 10 s
of arrivals seen the moment it ends: the most a policy that orders pods after the load
shows up can do). Writes a markdown report and a JSON of every run.

    python benchmarks/sim/external.py --trace FILE --out REPORT.md
        [--cold-starts 30,120,300,lognormal:90:0.5] [--targets-ms 5000,10000]
        [--scales 1,2] [--token-sized] [--time-unit s|ms|us] [--workers 2]
        [--suite-json docs/benchmarks/sim-suite.json] [--source TEXT]

The trace is named in the report by its file name and SHA-256, so a reader can check
that they replay the same file; ``--source`` says where it came from.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import suite
from selection import (
    ATTAINMENT,
    COST_TOLERANCE,
    best_at_settings,
    cell,
    cheapest_meeting,
    dominates,
    reference_run,
)

from gpufleet.sim.catalog import make_policy, sweep_grid
from gpufleet.sim.engine import simulate
from gpufleet.sim.report import where_misses_fall
from gpufleet.sim.scenario import ScenarioInputs, build
from gpufleet.sim.settings import ColdStart
from gpufleet.sim.trace_files import TIME_UNITS, load_trace

SWEPT = ("static", "reactive")
"""Swept with hindsight per combination: references, never settings a user could pick."""


@dataclass(frozen=True)
class Combination:
    cold_start: str
    target_ms: float
    scale: float

    @property
    def label(self) -> str:
        return f"x{self.scale:g}, cold {self.cold_start} s, target {self.target_ms / 1000:g} s"


@dataclass(frozen=True)
class Run:
    scenario: str
    policy: str
    knob: float | None
    within_slo: float
    gpu_hours: float
    failed: int
    misses: str | None = None
    """gpufleet's runs: where their misses fell (``gpufleet.sim.report.where_misses_fall``)."""


@dataclass(frozen=True)
class TraceFile:
    path: str
    token_sized: bool
    time_unit: str


def run_combination(
    job: tuple[TraceFile, Combination, tuple[tuple[str, float | None], ...]],
) -> list[Run]:
    """gpufleet, the suite-wide baseline settings and the swept references on one
    combination (the trace is built once)."""
    trace, combo, fixed = job
    inputs = ScenarioInputs(
        trace=trace.path,
        time_unit=trace.time_unit,
        rate_scale=combo.scale,
        token_sized=trace.token_sized,
        slo_ms=combo.target_ms,
        cold_start=combo.cold_start,
    )
    setup, settings = build(inputs)
    jobs = [*fixed, *((p, k) for p in SWEPT for k in sweep_grid(p, setup))]
    runs = []
    for name, knob in jobs:
        result = simulate(setup.trace, setup.profile, settings, make_policy(name, setup, knob))
        misses = where_misses_fall(result) if name == "gpufleet" else None
        runs.append(
            Run(combo.label, name, result.knob, result.within_slo, result.gpu_hours,
                result.failed, misses)
        )  # fmt: skip
    return runs


def _cell(run: Run | None) -> str:
    return "none" if run is None else cell(run)


def markdown(
    combos: Sequence[Combination],
    runs: list[Run],
    fixed: dict[str, float | None],
    trace: Path,
    digest: str,
    source: str,
    command: str,
    elapsed_s: float,
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    settings = ", ".join(f"{p} {k:g}" for p, k in fixed.items() if k is not None)
    lines = [
        f"# gpufleet on {trace.name}",
        "",
        f"Produced by `{command}` on {now} in {elapsed_s:.0f} s, at {suite.source_state()}.",
        "",
        f"Trace: `{trace.name}`, SHA-256 `{digest}`" + (f"; {source}." if source else "."),
        "",
        "gpufleet runs at its defaults; HPA, KEDA and KPA at the settings `suite.py` chose "
        f"for the whole suite ({settings}); the static fleet and the reactive reference are "
        "swept with hindsight for each row. Cells: setting: share of requests within the "
        "target, GPU-hours. A row is met at >= 99 % within the target.",
        "",
        "| trace scale, cold start, target | gpufleet (within, GPU-h, failed) | best suite-wide "
        "baseline | gpufleet dominates it | cheapest static >= 99 % | cheapest static at "
        "gpufleet's attainment | reactive reference |",
        "|---|---|---|---|---|---|---|",
    ]
    dominated = beaten_by_static = 0
    for combo in combos:
        mine = [r for r in runs if r.scenario == combo.label]
        ours = next(r for r in mine if r.policy == "gpufleet")
        best = best_at_settings(mine, fixed)
        statics = [r for r in mine if r.policy == "static"]
        matching = [r for r in statics if r.within_slo >= ours.within_slo]
        static_as_good = min(matching, key=lambda r: r.gpu_hours) if matching else None
        beats = dominates(ours, best)
        dominated += beats
        cheaper_static = static_as_good is not None and static_as_good.gpu_hours < ours.gpu_hours
        beaten_by_static += cheaper_static
        lines.append(
            f"| {combo.label} | {ours.within_slo:.1%}, {ours.gpu_hours:.2f}, {ours.failed} "
            f"| {_cell(best)} | {'yes' if beats else 'no'} "
            f"| {_cell(cheapest_meeting(statics))} "
            f"| {_cell(static_as_good)}{' (cheaper)' if cheaper_static else ''} "
            f"| {_cell(reference_run(mine, 'reactive'))} |"
        )
    ours_all = [r for r in runs if r.policy == "gpufleet"]
    met = sum(r.within_slo >= ATTAINMENT for r in ours_all)
    lines += [
        "",
        f"- gpufleet keeps {sum(r.within_slo for r in ours_all) / len(ours_all):.1%} of "
        f"requests within the target on average, and >= 99 % in {met} of {len(combos)} rows.",
        f"- It dominates the best of HPA, KEDA and KPA at their suite-wide settings (at least "
        f"its attainment, at no more than {COST_TOLERANCE:g}x its GPU-hours) in "
        f"{dominated} of {len(combos)} rows.",
        f"- A static fleet sized with hindsight keeps at least gpufleet's attainment at fewer "
        f"GPU-hours in {beaten_by_static} of {len(combos)} rows: the fleet a user could have "
        "run had they known the trace in advance.",
    ]
    missed = [r for r in ours_all if r.within_slo < ATTAINMENT and r.misses]
    if missed:
        lines += ["", "Where gpufleet's misses fall, row by row:", ""]
        lines += [f"- {r.scenario}: {r.misses}" for r in missed]
    return "\n".join(lines) + "\n"


def _combinations(args: argparse.Namespace) -> list[Combination]:
    """Every scale x cold start x target; ``ValueError`` naming the option on bad input."""
    for cold in args.cold_starts.split(","):
        try:
            ColdStart.parse(cold)
        except ValueError as err:
            raise ValueError(f"--cold-starts: {err}") from err
    for option, text in (("--targets-ms", args.targets_ms), ("--scales", args.scales)):
        try:
            numbers = [float(v) for v in text.split(",")]
        except ValueError:
            numbers = []
        if not numbers or min(numbers) <= 0.0:
            raise ValueError(f"{option}: expected comma-separated positive numbers, got {text!r}")
    return [
        Combination(cold, float(target), float(scale))
        for scale in args.scales.split(",")
        for cold in args.cold_starts.split(",")
        for target in args.targets_ms.split(",")
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--trace", type=Path, required=True, help="A trace file.")
    parser.add_argument("--out", type=Path, required=True, help="The markdown report.")
    parser.add_argument("--cold-starts", default="30,120,300,lognormal:90:0.5")
    parser.add_argument("--targets-ms", default="5000,10000")
    parser.add_argument("--scales", default="1,2", help="Rate scales (--rate-scale).")
    parser.add_argument("--token-sized", action="store_true")
    parser.add_argument(
        "--time-unit", choices=sorted(TIME_UNITS), default="s",
        help="Unit of the trace's numeric timestamps (Mooncake's: ms).",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--suite-json", type=Path, default=suite.REPO / "docs" / "benchmarks" / "sim-suite.json"
    )
    parser.add_argument("--source", default="", help="Where the trace came from.")
    args = parser.parse_args(argv)
    if not args.trace.is_file():
        parser.error(f"--trace: no file at {args.trace}")
    try:
        combos = _combinations(args)
    except ValueError as err:
        parser.error(str(err))
    fixed = json.loads(args.suite_json.read_text())["suite_wide"]
    policies = (("gpufleet", None), *((p, k) for p, k in fixed.items() if k is not None))
    trace = args.trace.resolve()
    source = TraceFile(str(trace), args.token_sized, args.time_unit)
    try:
        # Read once here, so that a file the workers cannot read is refused by its line.
        load_trace(source.path, token_sized=source.token_sized, time_unit=source.time_unit)
    except ValueError as err:
        parser.error(f"--trace: {err}")
    started = time.perf_counter()
    jobs = [(source, c, policies) for c in combos]
    with ProcessPoolExecutor(args.workers) as pool:
        runs = [r for batch in pool.map(run_combination, jobs) for r in batch]
    elapsed = time.perf_counter() - started
    given = list(argv) if argv is not None else sys.argv[1:]
    command = shlex.join(["python", "benchmarks/sim/external.py", *given])
    digest = hashlib.sha256(trace.read_bytes()).hexdigest()
    report = markdown(combos, runs, fixed, trace, digest, args.source, command, elapsed)
    args.out.write_text(report)
    data = {
        "command": command,
        "trace": trace.name,
        "sha256": digest,
        "combinations": [asdict(c) for c in combos],
        "runs": [asdict(r) for r in runs],
    }
    args.out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
