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
    prompt_tokens: list[float] | None = None
    output_tokens: list[float] | None = None
    ttft: list[float] | None = None
    """LLM requests: seconds from arrival to the first token (NaN if none came)."""
    tpot: list[float] | None = None
    """LLM requests: time per output token, the mean seconds between their tokens after
    the first (vLLM's TPOT; 0 for a single token)."""
    slow_gap_s: float | None = None
    """LLM: a gap between two tokens longer than this is counted in ``slow_gaps`` (the ITL
    target; None: not counted)."""
    slow_gaps: list[int] | None = None
    """LLM requests: their gaps between two tokens longer than ``slow_gap_s``."""

    @classmethod
    def for_trace(cls, trace: Trace, slow_gap_s: float | None = None) -> RequestLog:
        n = len(trace)
        llm = trace.prompt_tokens is not None and trace.output_tokens is not None
        return cls(
            arrivals=trace.arrivals.tolist(),
            sizes=None if trace.sizes is None else trace.sizes.tolist(),
            latency=[math.nan] * n,
            failed=[False] * n,
            prompt_tokens=trace.prompt_tokens.tolist() if llm else None,  # type: ignore[union-attr]
            output_tokens=trace.output_tokens.tolist() if llm else None,  # type: ignore[union-attr]
            ttft=[math.nan] * n if llm else None,
            tpot=[math.nan] * n if llm else None,
            slow_gap_s=slow_gap_s if llm else None,
            slow_gaps=[0] * n if llm and slow_gap_s is not None else None,
        )

    def drop(self, rid: int) -> None:
        self.failed[rid] = True
        self.dropped += 1
