"""Comparison output: a terminal table, JSON and CSV."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from gpufleet.sim.compare import PolicyOutcome
from gpufleet.sim.result import RunResult

COLUMNS = (
    "policy",
    "knob",
    "gpu_hours",
    "cost_usd",
    "within_slo",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "failed",
    "scale_events",
    "max_replicas",
)


def _unmeasured(value: Any) -> bool:
    """No measurement: ``None``, or the NaN a quantile of nothing is (an ITL p95 of a run
    whose requests all have one output token has no gap to take it of)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value: Any, digits: int = 1) -> str:
    if _unmeasured(value):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(
    outcomes: Sequence[PolicyOutcome],
    attainment: float,
    oracle_hours: float | None,
    *,
    swept: bool,
) -> Table:
    title = (
        f"Cheapest setting per policy with >= {attainment:.1%} of requests within the target"
        if swept
        else f"Each policy at its default setting (target: {attainment:.1%} within the SLO)"
    )
    out = Table(title=title)
    llm = any(o.best.ttft_p95_ms is not None for o in outcomes)
    latency = (
        ("TTFT p95 ms", "TPOT p95 ms", "ITL p95 ms", "p95 ms")
        if llm
        else ("p50 ms", "p95 ms", "p99 ms")
    )
    for name in (
        "policy",
        "setting",
        "GPU-h",
        "over oracle",
        "cost $",
        "within SLO",
        *latency,
        "failed",
        "scale events",
        "meets",
    ):
        out.add_column(name, justify="left" if name in ("policy", "setting") else "right")
    for o in outcomes:
        r = o.best
        extra = None if oracle_hours is None else r.gpu_hours - oracle_hours
        out.add_row(
            r.policy,
            "default" if r.knob is None else f"{r.knob_name}={r.knob:g}",
            _fmt(r.gpu_hours, 2),
            _fmt(extra, 2),
            _fmt(r.cost_usd, 2),
            f"{r.within_slo:.2%}",
            *(
                (
                    _fmt(r.ttft_p95_ms, 0),
                    _fmt(r.tpot_p95_ms, 1),
                    _fmt(r.itl_p95_ms, 1),
                    _fmt(r.p95_ms, 0),
                )
                if llm
                else (_fmt(r.p50_ms, 0), _fmt(r.p95_ms, 0), _fmt(r.p99_ms, 0))
            ),
            str(r.failed),
            str(r.scale_events),
            "yes" if o.meets_target else "no",
        )
    return out


def oracle_gpu_hours(outcomes: Sequence[PolicyOutcome]) -> float | None:
    return next((o.best.gpu_hours for o in outcomes if o.policy == "oracle"), None)


def to_json(outcomes: Sequence[PolicyOutcome], meta: dict[str, Any], path: Path) -> None:
    doc = {
        **meta,
        "policies": [
            {
                "policy": o.policy,
                "meets_target": o.meets_target,
                "best": o.best.summary(),
                "runs": [r.summary() for r in o.runs],
                "decisions": o.best.decisions,
                "timeline": {
                    "at": o.best.timeline.at,
                    "replicas": o.best.timeline.replicas,
                    "ready": o.best.timeline.ready,
                    "in_system": o.best.timeline.in_system,
                    "demand_rps": o.best.timeline.demand_rps,
                    "missed": o.best.timeline.missed,
                },
            }
            for o in outcomes
        ],
    }
    # NaN is no JSON: strict parsers (jq, JSON.parse, Go's encoding/json) refuse the file.
    path.write_text(json.dumps(_measured_only(doc), indent=2, allow_nan=False))


def _measured_only(value: Any) -> Any:
    """``value`` with every number JSON cannot hold (NaN: unmeasured) as ``None``, at any
    depth."""
    if isinstance(value, dict):
        return {k: _measured_only(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_measured_only(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_csv(outcomes: Sequence[PolicyOutcome], path: Path) -> None:
    runs: list[tuple[RunResult, bool]] = [(r, r is o.best) for o in outcomes for r in o.runs]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*COLUMNS, "knob_name", "requests", "best"])
        for run, best in runs:
            row = _measured_only(run.summary())
            writer.writerow([*(row[c] for c in COLUMNS), run.knob_name, run.requests, best])


MINUTE_S = 60.0


def where_misses_fall(run: RunResult) -> str | None:
    """When a run's misses arrived, in words: the time by which half of them had, and the
    minute that missed the most (whether they are the opening, a rise, or spread over the
    run); ``None`` without misses."""
    tl = run.timeline
    total = sum(tl.missed)
    if total == 0 or len(tl.at) < 2:
        return None
    step = tl.at[1] - tl.at[0]
    seen, half_by = 0, None
    minutes: dict[int, list[int]] = {}
    for at, missed, rps in zip(tl.at, tl.missed, tl.demand_rps, strict=True):
        seen += missed
        if half_by is None and 2 * seen >= total:
            half_by = at
        # An interval (at - step, at] belongs to the minute its start is in.
        counts = minutes.setdefault(max(0, int((at - step) // MINUTE_S)), [0, 0])
        counts[0] += missed
        counts[1] += round(rps * step)
    minute, (worst, arrived) = max(minutes.items(), key=lambda kv: kv[1][0])
    start = minute * MINUTE_S
    return (
        f"{total:,} missed; half of them arrived by {half_by:g} s (of "
        f"{run.duration_s:.0f} s); the worst minute, {start:g}-{start + MINUTE_S:g} s, "
        f"missed {worst:,} of {arrived:,}"
    )
