"""A request trace: sorted arrival times (seconds from the start) and request sizes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MAX_SPAN_S = 366 * 86_400.0
"""Longest trace replayed: a year, more than any published one covers. A longer span is
almost always timestamps read in the wrong unit, and would exhaust the memory (the
per-minute rates alone) long before a simulation of it ended."""


@dataclass(frozen=True)
class Trace:
    name: str
    arrivals: FloatArray
    """Arrival times in seconds, non-decreasing, the first at or after 0."""
    sizes: FloatArray | None = None
    """Work of each request in unit requests (mean 1); ``None``: every request is 1."""
    duration: float = 0.0
    """Seconds the trace covers (at least the last arrival)."""
    prompt_tokens: FloatArray | None = None
    """LLM requests: input (context) tokens of each request."""
    output_tokens: FloatArray | None = None
    """LLM requests: generated tokens of each request."""

    def __post_init__(self) -> None:
        if self.arrivals.ndim != 1:
            raise ValueError("arrivals must be one-dimensional")
        if len(self.arrivals) and np.any(np.diff(self.arrivals) < 0):
            raise ValueError("arrivals must be sorted")
        for column in (self.sizes, self.prompt_tokens, self.output_tokens):
            if column is not None and column.shape != self.arrivals.shape:
                raise ValueError("sizes and token counts must have one entry per arrival")
        last = float(self.arrivals[-1]) if len(self.arrivals) else 0.0
        object.__setattr__(self, "duration", max(self.duration, last))

    def __len__(self) -> int:
        return len(self.arrivals)

    def scaled(self, rate_scale: float) -> Trace:
        """Compress time by ``rate_scale``: twice the rate for half the duration at 2."""
        if not (math.isfinite(rate_scale) and rate_scale > 0):
            raise ValueError(f"rate scale {rate_scale:g}: expected a number > 0")
        return Trace(
            name=self.name if rate_scale == 1 else f"{self.name} x{rate_scale:g}",
            arrivals=self.arrivals / rate_scale,
            sizes=self.sizes,
            duration=self.duration / rate_scale,
            prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens,
        )

    def truncated(self, seconds: float) -> Trace:
        """The first ``seconds`` of the trace."""
        keep = int(np.searchsorted(self.arrivals, seconds, side="left"))
        return Trace(
            name=self.name,
            arrivals=self.arrivals[:keep],
            sizes=None if self.sizes is None else self.sizes[:keep],
            duration=seconds,
            prompt_tokens=None if self.prompt_tokens is None else self.prompt_tokens[:keep],
            output_tokens=None if self.output_tokens is None else self.output_tokens[:keep],
        )

    def rate_per_window(self, window_s: float, *, work: bool = False) -> FloatArray:
        """Arrival rate in consecutive windows of ``window_s`` seconds: requests/s, or
        with ``work`` unit requests/s (each request weighted by its size)."""
        bins = max(1, int(np.ceil(self.duration / window_s)))
        weights = self.sizes if work else None
        counts, _ = np.histogram(
            self.arrivals, bins=bins, range=(0.0, bins * window_s), weights=weights
        )
        return counts.astype(np.float64) / window_s

    def peak_rate(self, window_s: float = 60.0, *, work: bool = False) -> float:
        rates = self.rate_per_window(window_s, work=work)
        return float(rates.max()) if len(rates) else 0.0
