"""LLM fleets in the simulator: TTFT and TPOT targets on the token-level replica model.

The Azure conversation trace with its own token counts (ContextTokens,
GeneratedTokens; time-compressed so the peak needs >= 10 replicas) and five of the
suite's traffic families with drawn token counts, on the shipped LLM profile
(``operator/gpufleet/sim/profiles/llm-default.yaml``). Policies: gpufleet's
defaults; HPA on ``vllm:num_requests_waiting`` (KEDA on the same query behaves
identically while Prometheus answers, so it is not run twice); Knative's KPA on
in-flight requests; llm-d's WVA in saturation mode; a static fleet; the oracle.
Each baseline is swept and its cheapest setting meeting the target is kept
(hindsight). Writes ``docs/benchmarks/sim-llm.md`` and a JSON beside it.

    python benchmarks/sim/llm.py [--out docs/benchmarks/sim-llm.md] [--workers 2]
                                 [--reuse-baselines docs/benchmarks/sim-llm.json]
                                 [--families azure,flash] [--gap-target tpot|itl]
                                 [--seed N] [--routing random|least-outstanding]

``--reuse-baselines`` takes every run but gpufleet's from an earlier JSON of the same
scenarios and runs gpufleet alone (a minute instead of several, while tuning the
policy); the JSON is stale once the simulator changes. ``--families`` runs a subset.
``--gap-target itl`` sets the target on every gap instead of each request's mean
(``docs/benchmarks/sim-llm-itl.md``). ``--seed N`` draws the scenarios anew: seed 0 is
the one every LLM policy change was measured on, others are held out
(``docs/benchmarks/sim-llm-seed*.md``). ``--routing least-outstanding`` sends each request
to the pod with the fewest outstanding, as a load-aware gateway in front of the fleet does,
instead of to a random pod, as the ClusterIP Service the operator creates does
(``docs/benchmarks/sim-llm-gateway.md``)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from selection import (
    ATTAINMENT,
    COST_TOLERANCE,
    cell,
    cheapest_meeting,
    no_dearer,
    policies_to_run,
    reference_run,
    reusable_runs,
)
from suite import source_state  # the sibling script, shared by both reports

from gpufleet.sim.catalog import make_policy, sweep_grid
from gpufleet.sim.engine import simulate
from gpufleet.sim.llm import LlmProfile
from gpufleet.sim.profile import DEFAULT_PROFILE_PATH, load_any_profile
from gpufleet.sim.report import where_misses_fall
from gpufleet.sim.scenario import ScenarioInputs, build

REPO = Path(__file__).resolve().parents[2]
AZURE = REPO / ".." / "shared" / "data" / "azure-llm-2023-conv.csv"
PROFILE = DEFAULT_PROFILE_PATH.with_name("llm-default.yaml")
TTFT_MS = 2000.0
GAP_MS = 100.0
"""The target on the gaps between a stream's tokens: by default on each request's mean
gap, its time per output token (``slo.tpotP95Ms``, vLLM's
``request_time_per_output_token_seconds``); with ``--gap-target itl`` on every gap
(``slo.itlP95Ms``, vLLM's ``inter_token_latency_seconds``), which a request meets when
95 % of its gaps do."""
GAP_TARGETS = {
    "tpot": "a request's time per output token (its mean gap between tokens, TPOT)",
    "itl": "95 % of a request's gaps between two tokens (ITL, every gap)",
}
ROUTING_SENTENCES = {
    "random": "Each request goes to a ready pod at random, as the ClusterIP Service the "
    "operator creates spreads them. ",
    "least-outstanding": "Each request goes to the ready pod with the fewest requests "
    "outstanding, as a load-aware gateway in front of the fleet sends them (a "
    "least-request proxy, the Gateway API Inference Extension's endpoint picker); the "
    "operator's Service alone spreads them at random. ",
}
"""The report's sentence for each ``--routing``, one per routing the simulator has
(``gpufleet.sim.cli.ROUTINGS``)."""
ORACLE_FACTOR = 1.25
BASELINES = ("hpa", "kpa", "wva", "static")
GRIDS: dict[str, tuple[float, ...]] = {
    "hpa": (0.5, 1.0, 2.0, 4.0, 8.0),
    "kpa": (8.0, 16.0, 24.0, 32.0, 48.0),
    "wva": (0.5, 0.6, 0.7, 0.8, 0.9),
    "oracle": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    "reactive": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
}
"""Coarser than `gpufleet sim`'s grids: an LLM run costs more than a request-level one."""


@dataclass(frozen=True)
class Scenario:
    family: str
    label: str
    trace: str
    cold_start: str
    rate_scale: float = 1.0
    gap_target: str = "tpot"
    seed: int = 0
    """Draws arrivals of the synthetic families, token counts, cold starts and routing."""
    routing: str = "random"
    """Which ready pod a request goes to (``gpufleet sim --routing``)."""

    def inputs(self) -> ScenarioInputs:
        return ScenarioInputs(
            trace=self.trace,
            rate_scale=self.rate_scale,
            cold_start=self.cold_start,
            seed=self.seed,
            routing=self.routing,
            profile=PROFILE,
            ttft_ms=TTFT_MS,
            tpot_ms=GAP_MS if self.gap_target == "tpot" else None,
            itl_ms=GAP_MS if self.gap_target == "itl" else None,
        )


def _rps(replicas: float) -> float:
    """Requests/s of synthetic requests (1,000 + 200 tokens on average) that
    ``replicas`` replicas serve at a full batch."""
    profile = load_any_profile(PROFILE)
    assert isinstance(profile, LlmProfile)
    full = profile.full_batch(1200.0)
    work_s = (1000 * profile.prefill_ms_per_token) / 1000 + 200 * (
        profile.decode_base_ms / full + profile.decode_ms_per_seq
    ) / 1000
    return round(replicas / work_s, 2)


def scenarios(gap_target: str = "tpot", seed: int = 0, routing: str = "random") -> list[Scenario]:
    lo, hi = _rps(1.5), _rps(12)
    return [replace(s, gap_target=gap_target, seed=seed, routing=routing) for s in [
        Scenario("azure", "Azure x2 (own tokens), cold 60 s", str(AZURE), "60", 2.0),
        Scenario("azure", "Azure x2 (own tokens), cold lognormal:180:0.4", str(AZURE),
                 "lognormal:180:0.4", 2.0),
        Scenario("flash", "flash x8 in 10 s, decay 300 s, cold 60 s",
                 f"synthetic:flash?base={lo}&peak={hi}&at=600&rise=10&decay=300&duration=2400",
                 "60"),
        Scenario("bursty", "bursty 30 s spikes, clumps of 4, cold 120 s",
                 f"synthetic:bursty?base={lo}&peak={hi}&burst=30&every=240&clump=4&duration=2400",
                 "120"),
        Scenario("diurnal", "diurnal period 2400 s, cold 60 s",
                 f"synthetic:diurnal?base={lo}&peak={hi}&period=2400&duration=2400", "60"),
        Scenario("onoff", "on-off 300 s / 300 s, cold 30 s",
                 f"synthetic:onoff?base={lo}&peak={hi}&on=300&off=300&duration=2400", "30"),
        Scenario("ramp", "ramp up over 30 min, cold 300 s",
                 f"synthetic:ramp?base={lo}&peak={hi}&start=300&end=2100&duration=2400", "300"),
    ]]  # fmt: skip


@dataclass(frozen=True)
class Run:
    scenario: str
    policy: str
    knob: float | None
    gpu_hours: float
    within_slo: float
    ttft_p95_ms: float | None
    tpot_p95_ms: float | None
    failed: int
    misses: str | None = None
    """gpufleet's runs: where their misses fell (``gpufleet.sim.report.where_misses_fall``)."""


REFERENCES = ("oracle", "reactive")
"""Reported, never targets: the oracle knows every future arrival; the reactive reference
sees each 10 s of token work the moment it ends and sizes for the last cold start's
busiest bin -- the most a policy that orders pods after the load shows up can do."""
ALL_POLICIES = ("gpufleet", *BASELINES, *REFERENCES)


def run_scenario(job: tuple[Scenario, tuple[str, ...]]) -> list[Run]:
    scenario, policies = job
    setup, settings = build(scenario.inputs())
    runs = []
    for name in policies:
        for knob in GRIDS.get(name) or sweep_grid(name, setup):
            r = simulate(setup.trace, setup.profile, settings, make_policy(name, setup, knob))
            misses = where_misses_fall(r) if name == "gpufleet" else None
            runs.append(
                Run(scenario.label, name, r.knob, r.gpu_hours, r.within_slo, r.ttft_p95_ms,
                    r.tpot_p95_ms, r.failed, misses)
            )  # fmt: skip
    return runs


def _portable(scenario: Scenario) -> dict[str, object]:
    """The scenario as the JSON keeps it: a trace file relative to the repository (the
    report names no machine's paths)."""
    data = asdict(scenario)
    if scenario.trace.startswith(str(REPO)):
        data["trace"] = os.path.relpath(scenario.trace, REPO)
    return data


def _saved(entry: dict[str, object]) -> dict[str, object]:
    """A JSON's scenario as ``_portable`` writes it now: one written before ``--routing``
    ran at random."""
    return {"routing": "random", **entry}


def _p95s(run: Run) -> str:
    return f"{run.ttft_p95_ms or 0:.0f} ms, {run.tpot_p95_ms or 0:.0f} ms"


def _cell(run: Run | None) -> str:
    if run is None:
        return "none"
    return f"{cell(run)} ({_p95s(run)})"


def _p95s_met(run: Run) -> bool:
    return (run.ttft_p95_ms or 0.0) <= TTFT_MS and (run.tpot_p95_ms or 0.0) <= GAP_MS


def markdown(
    scenarios_: list[Scenario],
    runs: list[Run],
    command: str,
    elapsed: float,
    reused_from: Path | None = None,
) -> str:
    gap = scenarios_[0].gap_target if scenarios_ else "tpot"
    seed = scenarios_[0].seed if scenarios_ else 0
    routing = scenarios_[0].routing if scenarios_ else "random"
    lines = [
        f"# LLM fleets: TTFT and {gap.upper()} targets on the token-level replica model",
        "",
        f"Produced by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({platform.machine()}, CPython {platform.python_version()}) in {elapsed:.0f} s, "
        f"at {source_state()}."
        + (
            ""
            if reused_from is None
            else f" gpufleet ran in this run; every other run was reused from `{reused_from}` "
            "(the same scenarios; baselines do not depend on the policy)."
        ),
        "",
        f"Targets: TTFT <= {TTFT_MS:g} ms and {GAP_TARGETS[gap]} <= {GAP_MS:g} ms "
        f"(`slo.ttftP95Ms`, `slo.{gap}P95Ms`); a request counts when it meets both. "
        "Replica: the shipped LLM "
        "profile (`llm-default.yaml`: iteration 30 ms + 1 ms per running sequence + 0.3 ms "
        "per prompt token prefilled; KV cache 32,768 tokens, held as sequences grow, the "
        "newest preempted when it runs out and recomputed past what the prefix cache kept "
        "of it; 64 sequences; 2,048 tokens an "
        "iteration, longer prompts prefilled in chunks; all as vLLM V1 does). HPA reads "
        "`vllm:num_requests_waiting` (queue/pod), KPA in-flight requests (concurrency), WVA "
        "KV usage and the queue (KV threshold); KEDA on the waiting query equals the HPA "
        "while Prometheus answers and is not run twice. Each baseline's cheapest setting "
        "that keeps >= 99 % within both targets is found with hindsight. "
        + ROUTING_SENTENCES[routing]
        + (
            "Seed 0: the draws every LLM policy change was measured on."
            if seed == 0
            else f"Seed {seed}: draws held out from the policy's tuning (seed 0)."
        ),
        "",
        "| scenario | gpufleet (within, GPU-h, TTFT p95, TPOT p95) | p95s within targets "
        "| cheapest baseline >= 99 % (TTFT p95, TPOT p95) | oracle | reactive reference "
        "| verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    ratios = []
    passed = 0
    reactives: list[Run] = []
    for s in scenarios_:
        mine = [r for r in runs if r.scenario == s.label]
        ours = next(r for r in mine if r.policy == "gpufleet")
        hind = cheapest_meeting(r for r in mine if r.policy in BASELINES)
        oracle = reference_run(mine, "oracle")
        if oracle is None:
            raise SystemExit(f"no oracle run for {s.label!r}")
        reactive = reference_run(mine, "reactive")
        if reactive is not None:
            reactives.append(reactive)
        ok = ours.within_slo >= ATTAINMENT and (hind is None or no_dearer(ours, hind))
        if oracle.within_slo >= ATTAINMENT:
            ratios.append(ours.gpu_hours / oracle.gpu_hours)
        passed += ok
        verdict = "pass" if ok else "FAIL"
        if oracle.within_slo < ATTAINMENT and hind is None:
            verdict += " (the oracle cannot either)"
        lines.append(
            f"| {s.label} | {ours.within_slo:.1%}, {ours.gpu_hours:.2f}, {_p95s(ours)} "
            f"| {'yes' if _p95s_met(ours) else 'no'} | {_cell(hind)} | {_cell(oracle)} "
            f"| {'-' if reactive is None else _cell(reactive)} | {verdict} |"
        )
    missed = [r for r in runs if r.policy == "gpufleet" and r.within_slo < ATTAINMENT and r.misses]
    if missed:
        lines += [
            "",
            "Where gpufleet's misses fall (the requests that missed TTFT or the gap target, "
            "by when they arrived):",
            "",
            *(f"- {r.scenario} ({r.within_slo:.1%} within): {r.misses}" for r in missed),
        ]
    mean_ratio = f"{sum(ratios) / len(ratios):.2f}x" if ratios else "-"
    lines += [
        "",
        f"gpufleet's defaults pass {passed} of {len(scenarios_)} (>= 99 % within both "
        f"targets, at no more than {COST_TOLERANCE:.2f}x the cheapest baseline meeting them); "
        f"{mean_ratio} the oracle's GPU-hours on average where the oracle meets the targets "
        f"(issue 13's target: <= {ORACLE_FACTOR:g}x).",
        "",
        *_reactive_finding(reactives),
        "How to read it. gpufleet sizes an LLM fleet in tokens (`tokens.py`, "
        "`token_capacity.py`, `llm_rules.py`): generated tokens/s over what one replica "
        "generates with its running batch bounded so that a replica at the 99th "
        "percentile of the random spread keeps TPOT p95 and its KV cache within target, "
        "and so that the fleet's "
        "TTFT and TPOT p99s stay within the targets -- each p99 fitted as a line in the "
        "running sequences per replica, learned on a settled, steady fleet with no "
        "backlog -- as far as that is worth its GPUs: at most 1.8x the replicas the p95s "
        "need (the 4 % of streams the p99s save, at the ski rental's price of a miss). "
        "The spec's targets are p95s (the 'p95s within targets' column says "
        "whether gpufleet held them); the verdict asks 99 % of requests within both, "
        "which the p99s aim at. A prompt's prefill, in one iteration or in chunks of "
        "2,048 tokens over a few, stalls every sequence on its "
        "replica: prompts arrive in proportion to the sequences a replica runs, so these "
        "stalls (the line's slope) shrink with more replicas, while a long prompt's own "
        "prefill (the line at no load) does not: where that alone nearly fills the "
        "TTFT target (a prompt of about 4,100 tokens, 5 % of the Azure mix, prefills "
        "for about 1.3 s of the 1.8 s aim), the p99 asks for more replicas than it is "
        "worth. What is left is mostly time: the "
        "misses before the tails are learned (the first settled points come minutes "
        "into a run, from the warm default fleet), and load that rises faster than a "
        "cold start (flash, bursty, on-off's first rise, the ramp's 300 s and the "
        "lognormal cold starts), which a reactive policy meets a cold start late; "
        "the oracle knows the future.",
    ]
    if gap == "itl":
        lines += [
            "",
            "Against an ITL target (every gap) a prefill's stall is a gap of its own: the "
            "shipped profile prefills a 2,048-token chunk in 644 ms, every stream on the "
            "replica waits for it, and the ITL p95 is that stall once more than 5 % of the "
            "gaps wait for one. A replica running n sequences admits a prompt every "
            "output-tokens / n iterations, so the share of the fleet's gaps that wait is "
            "(n + 1) / output tokens (the +1: the random spread) times the iterations a "
            "prompt stalls over the target, calibrated where the measured ITL p95 and p99 "
            "cross it: gpufleet keeps that share under 5 % (the spec's p95) and, as far as "
            "it is worth its GPUs, under 1 % (`token_capacity._stall_bound`). A stream "
            "meets the verdict when 95 % of its own gaps do, which a fleet-wide 5 % of "
            "stalled gaps leaves to chance for many streams: no policy, the oracle "
            "included, keeps 99 % of streams within.",
        ]
    return "\n".join(lines) + "\n"


def _reactive_finding(reactives: list[Run]) -> list[str]:
    """How many scenarios a policy that reacts can meet at all, from the reactive
    reference's run per scenario (nothing without its runs)."""
    if not reactives:
        return []
    short_of = [r.within_slo for r in reactives if r.within_slo < ATTAINMENT]
    line = (
        f"The reactive reference (every 10 s of token work seen the moment it ends, "
        f"utilization picked with hindsight) keeps >= 99 % within both targets on "
        f"{len(reactives) - len(short_of)} of {len(reactives)} scenarios"
    )
    if short_of:
        line += (
            f"; on the other {len(short_of)} it keeps at most {max(short_of):.1%}: there "
            "the load rises faster than pods start, and only capacity standing before it "
            "comes meets the targets"
        )
    return [line + ".", ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "sim-llm.md")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse-baselines", type=Path, help="Earlier JSON: rerun gpufleet only.")
    parser.add_argument("--families", help="Comma-separated families to run (default: all).")
    parser.add_argument(
        "--gap-target",
        choices=sorted(GAP_TARGETS),
        default="tpot",
        help="The gap target: each request's mean gap (tpot) or every gap (itl).",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="Draws of the scenarios (0: the policy's tuning draws; others: held out).",
    )
    parser.add_argument(
        "--routing",
        choices=sorted(ROUTING_SENTENCES),
        default="random",
        help="Which ready pod a request goes to: at random (the operator's Service) or the "
        "one with the fewest outstanding (a load-aware gateway).",
    )
    args = parser.parse_args()
    if not AZURE.exists():
        print(f"shared Azure trace not found at {AZURE}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    todo = scenarios(args.gap_target, args.seed, args.routing)
    if args.families:
        wanted = set(args.families.split(","))
        todo = [s for s in todo if s.family in wanted]
    reused: list[Run] = []
    if args.reuse_baselines:
        reused = reusable_runs(
            args.reuse_baselines, {s.label: _portable(s) for s in todo}, Run, _saved
        )
    policies = policies_to_run(ALL_POLICIES, (r.policy for r in reused))
    with ProcessPoolExecutor(args.workers) as pool:
        jobs = [(s, policies) for s in todo]
        runs = [r for batch in pool.map(run_scenario, jobs) for r in batch] + reused
    elapsed = time.perf_counter() - started
    command = shlex.join(["python", "benchmarks/sim/llm.py", *sys.argv[1:]])
    reused_from = args.reuse_baselines if reused else None
    args.out.write_text(markdown(todo, runs, command, elapsed, reused_from))
    data = {"command": command, "scenarios": [_portable(s) for s in todo],
            "runs": [asdict(r) for r in runs]}  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
