"""Which runs the benchmark reports show and how they judge them, and which runs they take
from an earlier JSON.

Shared by ``suite.py``, ``llm.py`` and ``external.py``: the cheapest run meeting the
attainment target, a reference's run, the best baseline at its one setting, when one
run is no dearer than another or dominates it, a run's setting as a cell reads it, and
what ``--reuse-baselines`` reuses and reruns. Each script keeps its own run type (the
LLM suite's carries TTFT and ITL p95s); these read only what every run has.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

ATTAINMENT = 0.99
"""The share of requests within the target (both targets, for an LLM) that meets it."""
COST_TOLERANCE = 1.03
"""gpufleet may cost this much more than a baseline and still count as no dearer."""


class Run(Protocol):
    """One policy at one setting on one scenario."""

    @property
    def scenario(self) -> str: ...
    @property
    def policy(self) -> str: ...
    @property
    def knob(self) -> float | None: ...
    @property
    def within_slo(self) -> float: ...
    @property
    def gpu_hours(self) -> float: ...


R = TypeVar("R", bound=Run)


def cheapest_meeting(runs: Iterable[R]) -> R | None:
    """The cheapest run meeting the target; ``None`` when none does."""
    meeting = [r for r in runs if r.within_slo >= ATTAINMENT]
    return min(meeting, key=lambda r: r.gpu_hours) if meeting else None


def reference_run(runs: Iterable[R], policy: str) -> R | None:
    """A reference's cheapest run meeting the target, else its best-attaining one;
    ``None`` when ``runs`` hold none of it."""
    mine = [r for r in runs if r.policy == policy]
    return cheapest_meeting(mine) or max(mine, key=lambda r: r.within_slo, default=None)


def best_at_settings(runs: Iterable[R], settings: Mapping[str, float | None]) -> R:
    """The highest-attaining run among each policy's one setting (the cheaper on a tie)."""
    at_settings = [r for r in runs if r.policy in settings and r.knob == settings[r.policy]]
    return max(at_settings, key=lambda r: (r.within_slo, -r.gpu_hours))


def no_dearer(run: Run, than: Run) -> bool:
    """``run`` costs at most ``COST_TOLERANCE`` times ``than``'s GPU-hours."""
    return run.gpu_hours <= COST_TOLERANCE * than.gpu_hours


def dominates(run: Run, other: Run) -> bool:
    """At least ``other``'s attainment, at no more of its GPU-hours."""
    return run.within_slo >= other.within_slo and no_dearer(run, other)


def setting(run: Run) -> str:
    """The policy and its setting, as a report's cell names them."""
    return run.policy if run.knob is None else f"{run.policy} {run.knob:g}"


def cell(run: Run) -> str:
    """A run as a report's cell reads it: setting: within the target, GPU-hours."""
    return f"{setting(run)}: {run.within_slo:.1%}, {run.gpu_hours:.2f}"


def policies_to_run(all_policies: tuple[str, ...], reused: Iterable[str]) -> tuple[str, ...]:
    """gpufleet always, and every other policy an earlier JSON does not hold."""
    held = set(reused)
    return tuple(p for p in all_policies if p == "gpufleet" or p not in held)


def reusable_runs(
    path: Path,
    scenarios: Mapping[str, object],
    run: Callable[..., R],
    saved: Callable[[dict[str, Any]], object] = lambda entry: entry,
) -> list[R]:
    """Every run but gpufleet's from an earlier JSON, which must hold these scenarios.

    ``scenarios``: each scenario's label and the scenario as compared; ``saved``: the
    JSON's entry for a scenario as compared; ``run``: a run from the JSON's fields.
    """
    data = json.loads(path.read_text())
    earlier = {d["label"]: saved(d) for d in data["scenarios"]}
    for label, scenario in scenarios.items():
        if earlier.get(label) != scenario:
            raise SystemExit(f"{path} does not hold scenario {label!r} as defined now")
    return [
        run(**r) for r in data["runs"] if r["policy"] != "gpufleet" and r["scenario"] in scenarios
    ]
