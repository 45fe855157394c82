"""What one simulated run reports: cost, SLO attainment, latency, failures, scaling."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gpufleet.sim.request_log import RequestLog

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class FleetTimeline:
    """The simulated fleet over time, one point every ``SimSettings.timeline_s``."""

    at: list[float] = field(default_factory=list)
    replicas: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    in_system: list[int] = field(default_factory=list)
    """Requests queued or executing in the fleet at that instant."""
    demand_rps: list[float] = field(default_factory=list)
    """Arrival rate over the preceding interval."""
    missed: list[int] = field(default_factory=list)
    """Requests that arrived over the preceding interval and missed the target (late,
    failed or never answered): where a run's misses fall."""


@dataclass(frozen=True)
class RunResult:
    policy: str
    knob: float | None
    knob_name: str
    trace: str
    duration_s: float
    requests: int
    served: int
    failed: int
    """Not answered in time: refused (no ready pod), dropped after the timeout, or late."""
    answered: int
    """Answered by a server (Triton's success counter), late ones included."""
    dropped: int
    """Refused or dropped by the fleet (Triton's failure counter)."""
    within_slo: float
    """Fraction of all requests answered within the latency target (failures count as misses)."""
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    gpu_hours: float
    cost_usd: float
    scale_events: int
    mean_replicas: float
    max_replicas: int
    wall_s: float
    timeline: FleetTimeline
    decisions: list[dict[str, Any]] = field(default_factory=list)
    """The policy's own account of its ticks, when it gives one (gpufleet does)."""
    ttft_p95_ms: float | None = None
    """LLM runs: p95 time to first token of answered requests."""
    tpot_p95_ms: float | None = None
    """LLM runs: p95 over answered requests of their time per output token (mean gap)."""
    itl_p95_ms: float | None = None
    """LLM runs: p95 of every gap between two tokens (vLLM's ITL)."""

    def meets(self, attainment: float) -> bool:
        return self.within_slo >= attainment

    def summary(self) -> dict[str, Any]:
        """Flat fields for tables, CSV and JSON (no timeline)."""
        data = asdict(self)
        data.pop("timeline")
        data.pop("decisions")
        return data


def latency_stats(
    log: RequestLog,
    slo_ms: float,
    ttft_ms: float | None = None,
    itl_ms: float | None = None,
    tpot_ms: float | None = None,
) -> dict[str, Any]:
    """Attainment and percentiles (``within_target`` says which requests count)."""
    latency_ms = np.asarray(log.latency, dtype=np.float64) * 1000.0
    served = _served(log)
    n = len(latency_ms)
    within = int(np.count_nonzero(within_target(log, slo_ms, ttft_ms, itl_ms, tpot_ms)))
    llm: dict[str, Any] = {}
    if _llm_targets(log, ttft_ms, itl_ms, tpot_ms) and served.any():
        assert log.ttft is not None
        assert log.tpot is not None
        ttft = np.asarray(log.ttft, dtype=np.float64) * 1000.0
        tpot = np.asarray(log.tpot, dtype=np.float64) * 1000.0
        llm = {
            "ttft_p95_ms": float(np.percentile(ttft[served], 95)),
            "tpot_p95_ms": float(np.percentile(tpot[served], 95)),
        }
    ok = latency_ms[served]
    pct = np.percentile(ok, [50, 95, 99]) if len(ok) else [None, None, None]
    return {
        "requests": n,
        "served": int(np.count_nonzero(served)),
        "failed": int(n - np.count_nonzero(served)),
        "within_slo": within / n if n else 1.0,
        "mean_ms": float(ok.mean()) if len(ok) else None,
        "p50_ms": None if pct[0] is None else float(pct[0]),
        "p95_ms": None if pct[1] is None else float(pct[1]),
        "p99_ms": None if pct[2] is None else float(pct[2]),
        **llm,
    }


def _served(log: RequestLog) -> BoolArray:
    served: BoolArray = ~np.asarray(log.failed, dtype=bool) & ~np.isnan(
        np.asarray(log.latency, dtype=np.float64)
    )
    return served


def _llm_targets(
    log: RequestLog, ttft_ms: float | None, itl_ms: float | None, tpot_ms: float | None
) -> bool:
    return log.ttft is not None and log.tpot is not None and bool(ttft_ms or itl_ms or tpot_ms)


def within_target(
    log: RequestLog,
    slo_ms: float,
    ttft_ms: float | None = None,
    itl_ms: float | None = None,
    tpot_ms: float | None = None,
) -> BoolArray:
    """Each request: answered within the target. An LLM request is within target when
    its TTFT and its time per output token are within theirs, and, for an ITL target (a
    p95 of every gap), when no more than 5 % of its gaps are slower (each target that is
    set); a failed request never is."""
    ok = _served(log)
    if not _llm_targets(log, ttft_ms, itl_ms, tpot_ms):
        within: BoolArray = ok & (np.asarray(log.latency, dtype=np.float64) * 1000.0 <= slo_ms)
        return within
    assert log.ttft is not None
    assert log.tpot is not None
    if ttft_ms:
        ok &= np.asarray(log.ttft, dtype=np.float64) * 1000.0 <= ttft_ms
    if tpot_ms:
        ok &= np.asarray(log.tpot, dtype=np.float64) * 1000.0 <= tpot_ms
    if itl_ms:
        ok &= _gaps_within(log)
    return ok


ITL_QUANTILE = 0.95
"""An ITL target is a p95 of gaps: a stream meets it when this share of its gaps do."""


def _gaps_within(log: RequestLog) -> BoolArray:
    """Each request: at most ``1 - ITL_QUANTILE`` of its gaps slower than the ITL target."""
    assert log.slow_gaps is not None
    assert log.output_tokens is not None
    slow = np.asarray(log.slow_gaps, dtype=np.float64)
    gaps = np.maximum(np.asarray(log.output_tokens, dtype=np.float64) - 1.0, 1.0)
    within: BoolArray = slow <= (1.0 - ITL_QUANTILE) * gaps + 1e-9
    return within
