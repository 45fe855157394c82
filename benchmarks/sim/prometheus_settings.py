"""The suite under other Prometheus settings: what a longer scrape interval and rate window do.

The suite runs with the operator's defaults: Prometheus scraping the model pods every
5 s, the operator's ``rate()`` and latency quantiles over 30 s. Many clusters scrape
every 15 or 30 s (kube-prometheus-stack's default is 30 s), and then ``rate()`` needs a
window of at least two intervals -- four is the usual advice. This runs the suite's 24
scenarios (seed 0) under three settings, gpufleet at its defaults and the baselines at
their suite-wide settings (``SUITE_WIDE``, as ``sim-suite.md`` chose them). KEDA on the
queue decides as the HPA here (its cells are the HPA's); KPA reads its own
concurrency metrics, not Prometheus, so its cells do not move. Writes
``docs/benchmarks/sim-prometheus-settings.md``.

    python benchmarks/sim/prometheus_settings.py [--workers 2] [--out PATH]
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from selection import ATTAINMENT, COST_TOLERANCE, best_at_settings, dominates
from suite import REPO, Scenario, source_state, suite

from gpufleet.sim.catalog import make_policy
from gpufleet.sim.engine import simulate
from gpufleet.sim.scenario import build

OUT = REPO / "docs" / "benchmarks" / "sim-prometheus-settings.md"
SETTINGS = ((None, None), (15.0, 60.0), (30.0, 120.0))
"""(scrape interval s, rate window s); None: the operator's defaults (5 s, 30 s)."""
SUITE_WIDE = {"gpufleet": None, "hpa": 0.5, "kpa": 0.5}
"""Each policy's one setting across the suite (sim-suite.md's choice for the baselines)."""
BASELINES = {p: knob for p, knob in SUITE_WIDE.items() if p != "gpufleet"}

Setting = tuple[float | None, float | None]


@dataclass(frozen=True)
class Run:
    """One policy at its suite-wide setting on one scenario under one Prometheus setting
    (``selection.Run``)."""

    scenario: str
    setting: Setting
    policy: str
    knob: float | None
    within_slo: float
    gpu_hours: float


def _label(setting: Setting) -> str:
    scrape, window = setting
    if scrape is None:
        return "scrape 5 s, window 30 s (defaults)"
    return f"scrape {scrape:g} s, window {window:g} s"


def run(job: tuple[Scenario, Setting, str]) -> Run:
    scenario, setting, policy = job
    scrape, window = setting
    inputs = replace(scenario.inputs(), scrape_interval_s=scrape, rate_window_s=window)
    setup, settings = build(inputs)
    knob = SUITE_WIDE[policy]
    result = simulate(setup.trace, setup.profile, settings, make_policy(policy, setup, knob))
    return Run(scenario.label, setting, policy, knob, result.within_slo, result.gpu_hours)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    started = time.perf_counter()
    scenarios = suite()
    jobs = [(sc, s, p) for s in SETTINGS for p in SUITE_WIDE for sc in scenarios]
    with ProcessPoolExecutor(args.workers) as pool:
        runs = {(r.scenario, r.setting, r.policy): r for r in pool.map(run, jobs)}
    n = len(scenarios)

    def summary(setting: Setting, policy: str) -> str:
        mine = [runs[(sc.label, setting, policy)] for sc in scenarios]
        within = 100 * sum(r.within_slo for r in mine) / n
        met = sum(r.within_slo >= ATTAINMENT for r in mine)
        return f"{within:.2f} %, {sum(r.gpu_hours for r in mine):.2f}, {met}"

    aggregate = []
    for setting in SETTINGS:
        wins = sum(
            dominates(
                runs[(sc.label, setting, "gpufleet")],
                best_at_settings((runs[(sc.label, setting, p)] for p in BASELINES), BASELINES),
            )
            for sc in scenarios
        )
        aggregate.append(
            f"| {_label(setting)} | "
            + " | ".join(summary(setting, p) for p in SUITE_WIDE)
            + f" | {wins} of {n} |"
        )
    rows = []
    for sc in scenarios:
        row = [sc.label]
        for setting in SETTINGS:
            ours = runs[(sc.label, setting, "gpufleet")]
            row.append(f"{100 * ours.within_slo:.1f}%, {ours.gpu_hours:.2f}")
        rows.append("| " + " | ".join(row) + " |")
    command = shlex.join(["python", *sys.argv])
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    elapsed = time.perf_counter() - started
    policies = ", ".join(p if knob is None else f"{p} {knob:g}" for p, knob in SUITE_WIDE.items())
    lines = [
        "# The suite under other Prometheus settings",
        "",
        f"Produced by `{command}` on {now} ({platform.machine()}, CPython "
        f"{platform.python_version()}) in {elapsed:.0f} s, at {source_state()}.",
        "",
        "The suite's 24 scenarios ([sim-suite.md](sim-suite.md), seed 0) with Prometheus "
        "scraping the model pods every 5, 15 or 30 s and the operator's rate window "
        "(`GPUFLEET_RATE_WINDOW_SECONDS`, also the latency quantiles' window) four times "
        "that at the longer intervals (`gpufleet sim --scrape-interval-s --rate-window-s`). "
        f"Policies at their one suite-wide setting: {policies}. KEDA on the queue decides "
        "as the HPA here; KPA reads its own concurrency metrics, not Prometheus, so its "
        "cells do not move.",
        "",
        "Cells: share of requests within the target on average over the scenarios, "
        "GPU-hours in all, scenarios kept >= 99 % within. 'gpufleet dominates': scenarios "
        "where gpufleet keeps at least the attainment of the best of the HPA and KPA at no "
        f"more than {COST_TOLERANCE:g}x its GPU-hours.",
        "",
        "| Prometheus | " + " | ".join(SUITE_WIDE) + " | gpufleet dominates |",
        "|---" * (len(SUITE_WIDE) + 2) + "|",
        *aggregate,
        "",
        "gpufleet scenario by scenario (within the target, GPU-hours):",
        "",
        "| scenario | " + " | ".join(_label(s) for s in SETTINGS) + " |",
        "|---" * (len(SETTINGS) + 1) + "|",
        *rows,
        "",
        "How to read it: a longer window reads a spike shorter than itself as a fraction of "
        "its height and reads every change later, whichever policy reads it; the "
        "policies that read Prometheus lose attainment or spend more. The operator's "
        "settle time after a change in the ready count (`PolicyTuning.settle_s`) is at "
        "least two rate windows: a p95 read sooner still holds the requests the previous "
        "fleet size served (docs/benchmarks/policy-experiments.md, session 38).",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
