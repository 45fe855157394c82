"""gpufleet's defaults against the issue's targets, family by family, in the simulator.

Per scenario: gpufleet at its defaults; HPA, KEDA (queue per pod) and KPA
(concurrency) at each setting of a small grid; the oracle swept with hindsight.

- Where some baseline setting keeps >= 99 % within the target (with hindsight for
  that scenario): gpufleet must keep >= 99 % at <= 1.03x the cheapest such setting's
  GPU-hours, and <= 1.2x the oracle's on average over these scenarios.
- Elsewhere: gpufleet must dominate the best of HPA, KEDA and KPA at their one
  suite-wide setting (each family's setting meeting the target on most scenarios):
  at least its attainment at <= 1.03x its GPU-hours.

Baseline runs do not depend on gpufleet: ``--baselines-cache`` keeps them between
runs of the same simulator (delete the file after a simulator change).

    .venv/bin/python benchmarks/policy/families.py [--workers 2] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from gpufleet.domain.scaling import policy as scaling_policy
from gpufleet.domain.scaling.tuning import DEFAULT_TUNING
from gpufleet.sim.catalog import make_policy
from gpufleet.sim.compare import compare
from gpufleet.sim.engine import simulate
from gpufleet.sim.scenario import ScenarioInputs, build

REPO = Path(__file__).resolve().parents[2]
AZURE = str(REPO.parent / "shared" / "data" / "azure-llm-2023-conv.csv")
ATTAINMENT = 0.99
TOLERANCE = 1.03
GRID = {"hpa": (1.0, 2.0, 3.0, 4.0, 6.0), "keda": (1.0, 2.0, 3.0, 4.0, 6.0),
        "kpa": (1.0, 2.0, 3.0, 4.0, 6.0)}  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    family: str
    label: str
    trace: str
    rate_scale: float = 1.0
    cold_start: str = "60"
    slo_ms: float = 3000.0
    seed: int = 0

    def inputs(self) -> ScenarioInputs:
        return ScenarioInputs(
            trace=self.trace,
            rate_scale=self.rate_scale,
            cold_start=self.cold_start,
            slo_ms=self.slo_ms,
            seed=self.seed,
        )


def scenarios() -> list[Scenario]:
    h = "duration=3600"
    out = [
        Scenario("azure", f"azure x{s:g} cold {c}", AZURE, s, c)
        for s, c in ((2.5, "90"), (3.0, "60"), (4.0, "30"), (5.0, "120"))
    ]
    out += [
        Scenario("bursty-short", f"spikes 30s/150s cold {c} seed {sd}",
                 f"synthetic:bursty?base=0.5&peak=20&burst=30&every=150&{h}", 1.0, c, 3000.0, sd)
        for c in ("60", "120") for sd in (0, 1)
    ]  # fmt: skip
    out += [
        Scenario("on-off", f"on-off 300s/900s cold {c}",
                 f"synthetic:bursty?base=1&peak=25&burst=300&every=900&{h}", 1.0, c)
        for c in ("60", "120")
    ]  # fmt: skip
    out += [
        Scenario("flash", f"step x8 cold {c}", f"synthetic:step?base=3&peak=24&at=1200&{h}",
                 1.0, c)
        for c in ("30", "90")
    ]  # fmt: skip
    out += [
        Scenario("diurnal", f"diurnal cold {c} slo {slo:g}",
                 f"synthetic:diurnal?base=5&peak=25&period=1800&{h}", 1.0, c, slo)
        for c, slo in (("60", 3000.0), ("120", 3000.0), ("60", 9000.0), ("120", 1500.0))
    ]  # fmt: skip
    out += [
        Scenario("ramp", f"ramp cold {c} slo {slo:g}",
                 f"synthetic:ramp?base=5&peak=25&start=600&end=2400&{h}", 1.0, c, slo)
        for c, slo in (("60", 3000.0), ("120", 3000.0), ("90", 1500.0))
    ]  # fmt: skip
    return out


@dataclass(frozen=True)
class Run:
    scenario: str
    policy: str
    knob: float | None
    gpu_hours: float
    within_slo: float


def run_one(job: tuple[Scenario, str, float | None]) -> Run:
    scenario, policy, knob = job
    setup, settings = build(scenario.inputs())
    result = simulate(setup.trace, setup.profile, settings, make_policy(policy, setup, knob))
    return Run(scenario.label, policy, knob, result.gpu_hours, result.within_slo)


def run_oracle(scenario: Scenario) -> Run:
    setup, settings = build(scenario.inputs())
    (oracle,) = compare(setup, settings, ["oracle"], sweep=True)
    return Run(scenario.label, "oracle", oracle.best.knob, oracle.best.gpu_hours,
               oracle.best.within_slo)  # fmt: skip


def use_tuning(pairs: list[str]) -> None:
    """Run gpufleet with these ``knob=value`` changes to its PolicyTuning (experiments)."""
    kinds = {f.name: type(getattr(DEFAULT_TUNING, f.name)) for f in fields(DEFAULT_TUNING)}
    changes = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        changes[name] = kinds[name](value)
    scaling_policy.decide.__defaults__ = (replace(DEFAULT_TUNING, **changes),)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baselines-cache", type=Path, default=Path("/tmp/families-base.json"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--family", default=None, help="run only this family")
    parser.add_argument("--tuning", nargs="*", default=[], help="knob=value (experiments)")
    args = parser.parse_args()
    started = time.perf_counter()
    suite = [s for s in scenarios() if args.family in (None, s.family)]
    cache: dict[str, list[dict[str, object]]] = {}
    if args.baselines_cache.exists():
        cache = json.loads(args.baselines_cache.read_text())
    base_jobs = [
        (s, p, k) for s in suite if s.label not in cache for p, ks in GRID.items() for k in ks
    ]
    missing = [s for s in suite if s.label not in cache]
    with ProcessPoolExecutor(args.workers, initializer=use_tuning, initargs=(args.tuning,)) as pool:
        ours = list(pool.map(run_one, [(s, "gpufleet", None) for s in suite]))
        base = list(pool.map(run_one, base_jobs)) + list(pool.map(run_oracle, missing))
    for run in base:
        cache.setdefault(run.scenario, []).append(asdict(run))
    args.baselines_cache.write_text(json.dumps(cache))
    runs = {s.label: [Run(**r) for r in cache[s.label]] for s in suite}  # type: ignore[arg-type]

    # Each baseline family's one suite-wide setting: the one meeting the target most often.
    wide: dict[str, float] = {}
    for policy, knobs in GRID.items():
        wide[policy] = max(
            knobs,
            key=lambda k: sum(
                r.within_slo >= ATTAINMENT
                for rs in runs.values()
                for r in rs
                if r.policy == policy and r.knob == k
            ),
        )
    rows = []
    x_oracle_peer: list[float] = []
    by_family: dict[str, list[bool]] = defaultdict(list)
    for s, mine in zip(suite, ours, strict=True):
        rs = runs[s.label]
        oracle = next(r for r in rs if r.policy == "oracle")
        meeting = [r for r in rs if r.policy in GRID and r.within_slo >= ATTAINMENT]
        if meeting:
            cheapest = min(meeting, key=lambda r: r.gpu_hours)
            ok = mine.within_slo >= ATTAINMENT and mine.gpu_hours <= TOLERANCE * cheapest.gpu_hours
            x_oracle_peer.append(mine.gpu_hours / oracle.gpu_hours)
            vs = f"peer {cheapest.policy}={cheapest.knob:g} {cheapest.gpu_hours:.2f}h"
        else:
            fixed = [r for r in rs if r.policy in GRID and r.knob == wide[r.policy]]
            best = max(fixed, key=lambda r: (r.within_slo, -r.gpu_hours))
            ok = mine.within_slo >= best.within_slo and mine.gpu_hours <= TOLERANCE * best.gpu_hours
            vs = f"fixed {best.policy}={best.knob:g} {best.within_slo:.2%} {best.gpu_hours:.2f}h"
        by_family[s.family].append(ok)
        rows.append({"scenario": s.label, "family": s.family, "ok": ok,
                     "within": mine.within_slo, "gpu_h": mine.gpu_hours,
                     "x_oracle": mine.gpu_hours / oracle.gpu_hours, "vs": vs})  # fmt: skip
        print(
            f"{'OK ' if ok else 'MISS'} {s.label:34} {mine.within_slo:7.2%} {mine.gpu_hours:6.2f}h "
            f"x{mine.gpu_hours / oracle.gpu_hours:4.2f} oracle | {vs}"
        )
    for family, oks in by_family.items():
        print(f"family {family:13} {sum(oks)}/{len(oks)} meet the target")
    if x_oracle_peer:
        print(f"mean x oracle where a peer meets 99 %: {statistics.mean(x_oracle_peer):.3f}")
    print(f"suite-wide baseline settings: {wide}; {time.perf_counter() - started:.0f} s")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
