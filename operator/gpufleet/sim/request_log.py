"""What happened to every request, as the clients saw it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpufleet.sim.trace import Trace


@dataclass(slots=True)
class RequestLog:
    arrivals: list[float]
    sizes: list[float] | None
    latency: list[float]
    """Seconds from arrival to answer; NaN while pending or when never answered."""
    failed: list[bool]
    answered: int = 0
    """Answered by a server, late ones included."""
    dropped: int = 0
    """Refused (no ready pod) or dropped by a server after the timeout."""

    @classmethod
    def for_trace(cls, trace: Trace) -> RequestLog:
        n = len(trace)
        return cls(
            arrivals=trace.arrivals.tolist(),
            sizes=None if trace.sizes is None else trace.sizes.tolist(),
            latency=[math.nan] * n,
            failed=[False] * n,
        )

    def drop(self, rid: int) -> None:
        self.failed[rid] = True
        self.dropped += 1
