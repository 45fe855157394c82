"""A GPU node lost under load: what each autoscaler does until Kubernetes replaces its pods.

Each scenario runs without and with a node loss (``--node-loss AT:PODS`` of ``gpufleet
sim``): what the lost pods hold fails, the Service sends them requests for the node
lifecycle controller's grace period, then they are not Ready -- asked for, billed,
serving nothing -- until evicted 300 s later and replaced by the ReplicaSet. Every policy
at its default setting. "gpufleet, lost pods counted as replicas" is gpufleet's policy
handed a fleet whose lost pods count as replicas like any other pod (what an autoscaler
that does not read pod readiness sees): the same policy without its replacement of lost
pods. Writes ``docs/benchmarks/sim-node-loss.md``.

    python benchmarks/sim/node_loss.py [--out docs/benchmarks/sim-node-loss.md]
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from suite import AZURE, REPO, source_state

from gpufleet.sim.catalog import make_policy
from gpufleet.sim.engine import simulate
from gpufleet.sim.fleet import Fleet
from gpufleet.sim.policies.base import PolicyContext
from gpufleet.sim.policies.gpufleet import GpufleetPolicy
from gpufleet.sim.scenario import ScenarioInputs, build

OUT = REPO / "docs" / "benchmarks" / "sim-node-loss.md"
BASELINES = ("hpa", "kpa", "oracle")
"""KEDA on the queue decides as the HPA here (its rows are the HPA's)."""


@dataclass(frozen=True)
class Scenario:
    label: str
    loss_label: str
    inputs: ScenarioInputs
    loss: tuple[float, int]


SCENARIOS = (
    Scenario(
        "Azure x3, cold 60 s",
        "6 pods lost at 600 s",
        ScenarioInputs(trace=str(AZURE), rate_scale=3.0, cold_start="60"),
        (600.0, 6),
    ),
    Scenario(
        "15 req/s steady, cold 120 s",
        "10 pods lost at 900 s",
        ScenarioInputs(trace="synthetic:constant?rate=15&duration=2400", cold_start="120"),
        (900.0, 10),
    ),
    Scenario(
        "2 req/s steady, cold 120 s",
        "the fleet's one node lost at 600 s (all its pods)",
        ScenarioInputs(trace="synthetic:constant?rate=2&duration=1800", cold_start="120"),
        (600.0, 8),
    ),
)


class _LostCountedAsReplicas:
    """The fleet as an autoscaler that does not read pod readiness sees it: a lost node's
    pods are replicas like any other."""

    lost_replicas = 0

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fleet, name)


class LostPodsCounted(GpufleetPolicy):
    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        hiding: Any = _LostCountedAsReplicas(ctx.fleet)
        return super().decide(now, replace(ctx, fleet=hiding))


COLUMNS = ("gpufleet", "gpufleet, lost pods counted as replicas", *BASELINES)


SETTINGS: dict[str, str] = {}
"""Each baseline's default setting, as its runs report it (for the table's header)."""


def run(inputs: ScenarioInputs) -> dict[str, str]:
    """Each column's cell: within the target, GPU-hours, failed requests."""
    setup, settings = build(inputs)
    cells = {}
    for column in COLUMNS:
        if column == COLUMNS[1]:
            if not inputs.node_losses:
                cells[column] = "-"
                continue
            policy = LostPodsCounted(setup.spec, setup.operator)
        else:
            policy = make_policy(column, setup)
        result = simulate(setup.trace, setup.profile, settings, policy)
        if result.knob is not None:
            SETTINGS[column] = f"{column} ({result.knob_name} {result.knob:g})"
        cells[column] = (
            f"{100 * result.within_slo:.2f} %, {result.gpu_hours:.2f}, {result.failed:,}"
        )
    return cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for scenario in SCENARIOS:
        for label, inputs in (
            (f"{scenario.label}: no loss", scenario.inputs),
            (
                f"the same, {scenario.loss_label}",
                replace(scenario.inputs, node_losses=(scenario.loss,)),
            ),
        ):
            cells = run(inputs)
            rows.append(f"| {label} | " + " | ".join(cells[c] for c in COLUMNS) + " |")
            print(rows[-1], flush=True)
    command = shlex.join(["python", *sys.argv])
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    elapsed = time.perf_counter() - started
    lines = [
        "# A GPU node lost under load: what each autoscaler does until Kubernetes replaces "
        "its pods",
        "",
        f"Produced by `{command}` on {now} ({platform.machine()}, CPython "
        f"{platform.python_version()}) in {elapsed:.0f} s, at {source_state()}.",
        "",
        "Each scenario runs without and with a node loss (`gpufleet sim --node-loss AT:PODS`; "
        "[simulator.md](../simulator.md)): a GPU node stops answering with PODS of the "
        "fleet's ready pods on it. What those pods hold fails; the Service sends them "
        "requests for the node lifecycle controller's grace period (50 s), which fail too; "
        "then they are not Ready -- asked for, billed, serving nothing -- until the taint "
        "manager evicts them 300 s later and the ReplicaSet creates their replacements, a "
        "cold start away. Each policy at its default setting, the default replica profile, "
        "target p95 3000 ms (the scenarios are `SCENARIOS` in the script).",
        "",
        "Cells: share of requests within the target, GPU-hours, failed requests. KEDA on "
        "the queue decides as the HPA here (its rows are the HPA's). \"gpufleet, lost pods "
        'counted as replicas" is the same policy handed a fleet whose lost pods count as '
        "replicas like any other pod -- what an autoscaler that does not read pod "
        "readiness sees, as the HPA: gpufleet without its replacement of lost pods.",
        "",
        "| scenario | " + " | ".join(SETTINGS.get(c, c) for c in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
        *rows,
        "",
        "How to read it:",
        "",
        "- A fleet all on one node loses every pod: an autoscaler that counts them as "
        "replicas waits for their eviction, 350 s after the node went, and for their "
        "replacements' cold start. gpufleet reads them as pods whose node stopped "
        "answering (the node lifecycle controller turned their Ready condition while their "
        "containers still read ready) and, blind -- no pod left to scrape -- orders their "
        "replacements at once.",
        "- A fleet losing part of its pods carries the load on its headroom for a while; "
        "replacing the lost pods costs GPU-hours only while they are lost (the replacements "
        "run beside them until their eviction). A fleet above its need and scaling in "
        "loses nothing by the loss beyond what the node held: scale-in removes unready "
        "pods first.",
        "- During the grace period the lost pods still read ready and answer no scrape: "
        "gpufleet sees pods missing from its metrics, holds, and never scales down on it.",
        "- No autoscaler avoids the failures of the requests the node held and of those the "
        "Service sent it before Kubernetes noticed.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
