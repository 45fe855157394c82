"""Check the policy against its target in the simulator, on several load shapes.

Target (issue "Autoscaler"): with default settings and a 60 s cold start,
gpufleet keeps >= 99 % of requests within the latency target, its GPU-hours
above the oracle's are at most half those of the best baseline (HPA, KEDA, KPA
at their cheapest SLO-meeting setting), and it stays within 1.25x the oracle.

    .venv/bin/python benchmarks/policy/sim_check.py [--out docs/benchmarks/policy-sim.json]

Prints one row per scenario; exits 1 when a scenario misses the target.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from gpufleet.sim.compare import check_targets, compare
from gpufleet.sim.scenario import ScenarioInputs, build

REPO = Path(__file__).resolve().parents[2]
AZURE = REPO.parent / "shared" / "data" / "azure-llm-2023-conv.csv"
BASELINES = ("hpa", "keda", "kpa")


@dataclass(frozen=True)
class Scenario:
    name: str
    trace: str
    rate_scale: float = 1.0


SCENARIOS = (
    Scenario("azure-x3", str(AZURE), 3.0),
    # The simulator's own benchmark shapes (benchmarks/sim/compare.py).
    Scenario("step", "synthetic:step?base=5&peak=25&at=1200&duration=3600"),
    Scenario("ramp", "synthetic:ramp?base=5&peak=25&start=600&end=2400&duration=3600"),
    Scenario("diurnal", "synthetic:diurnal?base=5&peak=25&period=1800&duration=3600"),
    Scenario("bursty", "synthetic:bursty?base=5&peak=25&burst=120&every=600&duration=3600"),
)


def check(scenario: Scenario, seed: int) -> dict[str, object]:
    setup, settings = build(
        ScenarioInputs(trace=scenario.trace, rate_scale=scenario.rate_scale, seed=seed)
    )
    outcomes = compare(setup, settings, ["gpufleet", *BASELINES, "oracle"], sweep=True)
    target = check_targets(outcomes, settings.attainment_target, BASELINES)
    ours, best, best_over = target.ours, target.best_baseline, target.best_over_oracle
    return {
        "scenario": scenario.name,
        "seed": seed,
        "within_slo": round(ours.within_slo, 4),
        "gpu_hours": round(ours.gpu_hours, 3),
        "oracle_gpu_hours": round(target.oracle_gpu_hours, 3),
        "best_baseline": None if best is None else f"{best.policy} {best.knob}",
        "best_baseline_gpu_hours": None if best is None else round(best.gpu_hours, 3),
        "over_oracle": round(target.over_oracle, 3),
        "best_over_oracle": None if best_over is None else round(best_over, 3),
        "x_oracle": round(target.x_oracle, 3),
        "meets_target": target.met,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    args = parser.parse_args()
    wanted = {n for n in args.only.split(",") if n}
    rows = []
    for scenario in SCENARIOS:
        if wanted and scenario.name not in wanted:
            continue
        if scenario.trace == str(AZURE) and not AZURE.exists():
            print(f"skip {scenario.name}: {AZURE} absent", file=sys.stderr)
            continue
        for seed in range(args.seeds):
            row = check(scenario, seed)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["meets_target"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
