"""Run several policies (each swept over its main setting) and pick, with hindsight,
the cheapest setting of each that keeps the SLO attainment target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gpufleet.sim.catalog import Setup, make_policy, sweep_grid
from gpufleet.sim.engine import simulate
from gpufleet.sim.result import RunResult
from gpufleet.sim.settings import SimSettings

OnRun = Callable[[str, float | None, float], None]
"""Progress: (policy, knob, fraction of that run done)."""


@dataclass(frozen=True)
class PolicyOutcome:
    policy: str
    runs: tuple[RunResult, ...]
    best: RunResult
    """Cheapest run meeting the attainment target; the best-attaining one if none does."""
    meets_target: bool


def pick_best(runs: list[RunResult], attainment: float) -> tuple[RunResult, bool]:
    meeting = [r for r in runs if r.meets(attainment)]
    if meeting:
        return min(meeting, key=lambda r: (r.gpu_hours, -r.within_slo)), True
    return max(runs, key=lambda r: (r.within_slo, -r.gpu_hours)), False


def compare(
    setup: Setup,
    settings: SimSettings,
    policies: list[str],
    *,
    sweep: bool,
    on_run: OnRun | None = None,
) -> list[PolicyOutcome]:
    outcomes: list[PolicyOutcome] = []
    for name in policies:
        grid = sweep_grid(name, setup) if sweep else (None,)
        runs: list[RunResult] = []
        for knob in grid:
            policy = make_policy(name, setup, knob)

            def progress(done: float, name: str = name, knob: float | None = knob) -> None:
                if on_run is not None:
                    on_run(name, knob, done)

            runs.append(simulate(setup.trace, setup.profile, settings, policy, progress))
        best, ok = pick_best(runs, settings.attainment_target)
        outcomes.append(PolicyOutcome(name, tuple(runs), best, ok))
    return outcomes
