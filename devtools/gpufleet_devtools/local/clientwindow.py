"""What the load generator saw over the last seconds: one row of the demo's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

LATENCY_WINDOW_S = 5.0
"""Latency percentiles of a sampled second cover the requests (tokens) of the last 5 s."""


@dataclass(frozen=True, slots=True)
class ClientWindow:
    sent_rps: float
    """Requests (streams) sent in the last second."""
    ok_rps: float
    """Requests (streams) that completed in the last second."""
    failed_total: int
    in_flight: int
    p95_ms: float | None
    """Whole requests: client-side p95 of those finished in the window (None for streams)."""
    ttft_p95_ms: float | None = None
    """Streams: p95 time to first token over the window."""
    itl_p95_ms: float | None = None
    """Streams: p95 gap between tokens received in the window."""
    tokens_per_s: float | None = None
    """Streams: tokens received in the last second."""


class LoadClient(Protocol):
    """A load generator the timeline can sample."""

    def elapsed(self) -> float: ...

    def window(self, now: float) -> ClientWindow: ...


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]
