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


TARGET_X_ORACLE = 1.25
"""gpufleet's GPU-hours at most this many times the oracle's."""


@dataclass(frozen=True)
class TargetCheck:
    """gpufleet against the issue's target, from one comparison's outcomes."""

    ours: RunResult
    oracle_gpu_hours: float
    best_baseline: RunResult | None
    """The cheapest baseline run meeting the attainment target; ``None``: none does."""
    attainment: float

    @property
    def attainment_met(self) -> bool:
        return self.ours.within_slo >= self.attainment

    @property
    def x_oracle(self) -> float:
        return self.ours.gpu_hours / self.oracle_gpu_hours

    @property
    def over_oracle(self) -> float:
        return self.ours.gpu_hours - self.oracle_gpu_hours

    @property
    def best_over_oracle(self) -> float | None:
        best = self.best_baseline
        return None if best is None else best.gpu_hours - self.oracle_gpu_hours

    @property
    def within_oracle_factor(self) -> bool:
        return self.ours.gpu_hours <= TARGET_X_ORACLE * self.oracle_gpu_hours

    @property
    def half_the_best_excess(self) -> bool | None:
        """Over the oracle by at most half the best baseline's excess; ``None``: no baseline."""
        best = self.best_over_oracle
        return None if best is None else self.over_oracle <= 0.5 * best

    @property
    def met(self) -> bool:
        return (
            self.attainment_met
            and self.within_oracle_factor
            and self.half_the_best_excess is not False
        )


def check_targets(
    outcomes: list[PolicyOutcome], attainment: float, baselines: tuple[str, ...]
) -> TargetCheck:
    """The target check of ``outcomes`` (which hold gpufleet, the oracle and ``baselines``)."""
    by = {o.policy: o for o in outcomes}
    meeting = [by[b].best for b in baselines if by[b].meets_target]
    return TargetCheck(
        ours=by["gpufleet"].best,
        oracle_gpu_hours=by["oracle"].best.gpu_hours,
        best_baseline=min(meeting, key=lambda r: r.gpu_hours) if meeting else None,
        attainment=attainment,
    )
