"""Which runs the benchmark reports show, and which they take from an earlier JSON.

Shared by ``suite.py`` and ``llm.py``: the cheapest run meeting the attainment target,
a reference's run, and what ``--reuse-baselines`` reuses and reruns. Each script keeps
its own run type (the LLM suite's carries TTFT and ITL p95s); these read only what
every run has.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

ATTAINMENT = 0.99
"""The share of requests within the target (both targets, for an LLM) that meets it."""


class Run(Protocol):
    """One policy at one setting on one scenario."""

    @property
    def scenario(self) -> str: ...
    @property
    def policy(self) -> str: ...
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
