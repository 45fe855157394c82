"""Request arrival times: a trace's (read by ``gpufleet.sim.trace_files``, as the simulator
reads it) replayed faster or thinner, or a synthetic burst."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Send times in seconds from the start, ascending."""

    offsets: tuple[float, ...]
    duration_s: float
    description: str

    def rate_between(self, start: float, end: float) -> float:
        count = sum(start <= t < end for t in self.offsets)
        return count / max(end - start, 1e-9)


def replayed_indices(
    times: Sequence[float],
    duration_s: float,
    speedup: float,
    rate_scale: float = 1.0,
    seed: int = 0,
) -> list[tuple[float, int]]:
    """``(send offset, index into times)`` of each replayed request, by offset.

    The first ``duration_s * speedup`` seconds of a trace, played ``speedup`` times faster;
    ``rate_scale`` < 1 keeps a random fraction of requests, > 1 adds copies jittered
    within 50 ms: the load's shape stays the trace's, its level fits this machine.
    """
    rng = random.Random(seed)
    sent: list[tuple[float, int]] = []
    for index, time in enumerate(times):
        at = time / speedup
        if at >= duration_s:
            break
        copies = int(rate_scale) + (rng.random() < rate_scale - int(rate_scale))
        sent.extend((at + (rng.random() * 0.05 if i else 0.0), index) for i in range(copies))
    sent.sort()
    return [(at, index) for at, index in sent if at < duration_s]


def describe(name: str, speedup: float, rate_scale: float) -> str:
    return f"{name}: {speedup:.3g}x faster, rate x{rate_scale:g}"


def replay(
    times: Sequence[float],
    duration_s: float,
    speedup: float,
    rate_scale: float = 1.0,
    seed: int = 0,
    name: str = "trace",
) -> Arrivals:
    """The arrivals of :func:`replayed_indices`."""
    sent = replayed_indices(times, duration_s, speedup, rate_scale, seed)
    offsets = tuple(at for at, _ in sent)
    return Arrivals(offsets, duration_s, describe(name, speedup, rate_scale))


def poisson_phases(phases: Sequence[tuple[float, float]], seed: int = 0) -> Arrivals:
    """Poisson arrivals at a constant rate per phase: ``[(seconds, requests/s), ...]``."""
    rng = random.Random(seed)
    offsets: list[float] = []
    start = 0.0
    for seconds, rate in phases:
        at = start
        while rate > 0:
            at += rng.expovariate(rate)
            if at >= start + seconds:
                break
            offsets.append(at)
        start += seconds
    shape = ", ".join(f"{rate:g}/s for {seconds:g} s" for seconds, rate in phases)
    return Arrivals(tuple(offsets), start, f"synthetic: {shape}")
