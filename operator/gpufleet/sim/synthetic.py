"""Seeded synthetic traces: ``synthetic:constant``, ``step``, ``ramp``, ``diurnal``,
``bursty``, ``flash``, ``onoff``.

Each shape is a rate function lambda(t) in requests/s; arrivals are a
non-homogeneous Poisson process drawn by thinning, so a seed fixes the trace.
Parameters come from the query string: ``synthetic:step?base=20&peak=80&at=600``.

- ``bursty``: bursts of ``burst`` seconds at ``peak`` starting at Poisson times
  ``every`` seconds apart on average, ``base`` between (0: idle gaps).
- ``flash``: a flash crowd: ``base`` until ``at``, up to ``peak`` within ``rise``
  seconds, then back towards ``base`` exponentially with time constant ``decay``.
- ``onoff``: ``off`` seconds at ``base`` then ``on`` seconds at ``peak``, repeated.

Every shape takes ``clump``: requests arrive in clumps of that mean size
(geometric), the requests of a clump within 10 ms of each other, as clients that
send a batch of requests at once; the mean rate is unchanged.
``sizes=exp`` draws exponential request sizes (mean 1) instead of unit sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from urllib.parse import parse_qsl

import numpy as np

from gpufleet.sim.trace import MAX_SPAN_S, FloatArray, Trace

RateFn = Callable[[FloatArray], FloatArray]

_COMMON = {"base": 5.0, "peak": 20.0, "duration": 1800.0, "clump": 1.0}
_DEFAULTS: dict[str, dict[str, float]] = {
    "constant": {"rate": 10.0, "duration": 1800.0, "clump": 1.0},
    "step": {**_COMMON, "at": 600.0},
    "ramp": {**_COMMON, "start": 300.0, "end": 1200.0},
    "diurnal": {**_COMMON, "period": 1800.0},
    "bursty": {**_COMMON, "burst": 60.0, "every": 300.0},
    "flash": {**_COMMON, "base": 2.0, "at": 600.0, "rise": 10.0, "decay": 300.0},
    "onoff": {**_COMMON, "on": 300.0, "off": 300.0},
}
CLUMP_SPREAD_S = 0.01
"""The requests of one clump arrive within this many seconds."""
SHAPES = tuple(_DEFAULTS)
MAX_REQUESTS = 50_000_000
"""Most requests a synthetic trace may draw: far more than a simulation gets through, and
a few GB of arrays (a typo's rate=1e9 would exhaust the memory instead)."""


def parse_synthetic(text: str) -> tuple[str, dict[str, float], str]:
    """Split ``synthetic:shape?k=v`` into (shape, numeric params, size distribution)."""
    body = text.removeprefix("synthetic:")
    shape, _, query = body.partition("?")
    if shape not in _DEFAULTS:
        raise ValueError(f"unknown synthetic shape {shape!r}; known: {', '.join(SHAPES)}")
    params = dict(_DEFAULTS[shape])
    sizes = "unit"
    given: set[str] = set()
    for key, value in parse_qsl(query, strict_parsing=bool(query)):
        if key in given:
            raise ValueError(f"synthetic:{shape}: {key} is given twice")
        given.add(key)
        if key == "sizes":
            if value not in ("unit", "exp"):
                raise ValueError("sizes must be 'unit' or 'exp'")
            sizes = value
        elif key in params:
            params[key] = _non_negative(shape, key, value)
        else:
            raise ValueError(f"synthetic:{shape} has no parameter {key!r}; known: {sorted(params)}")
    if not 0 < params["duration"] <= MAX_SPAN_S:
        raise ValueError(
            f"synthetic:{shape}: duration={params['duration']:g}: seconds, > 0 and at most "
            f"{MAX_SPAN_S:g} (a year)"
        )
    _check_ranges(shape, params, given)
    return shape, params, sizes


_POSITIVE = {
    "period": "seconds > 0 (one cycle of the cosine)",
    "every": "seconds > 0 (the mean time between bursts)",
    "burst": "seconds > 0 (how long a burst lasts)",
    "decay": "seconds > 0 (the flash crowd's time constant)",
    "on": "seconds > 0 (each phase at the peak; synthetic:constant has no phases)",
    "off": "seconds > 0 (each phase at the base; synthetic:constant has no phases)",
}
"""Parameters 0 is no value of: a period or gap of 0 divides by zero, and a burst, a
decay or an on/off phase of 0 is a shape without its defining part."""


def _check_ranges(shape: str, params: dict[str, float], given: set[str]) -> None:
    """Refuse, naming the parameter, a value in range for a number but not for its shape."""

    def named(key: str) -> str:
        # A default the user never typed is said to be one: they fix what they gave.
        return f"{key}={params[key]:g}" + ("" if key in given else " (the default)")

    for key, expected in _POSITIVE.items():
        if key in params and not params[key] > 0:
            raise ValueError(f"synthetic:{shape}: {named(key)}: expected {expected}")
    if "clump" in params and params["clump"] < 1:
        raise ValueError(
            f"synthetic:{shape}: {named('clump')}: expected a number >= 1 "
            "(the mean requests per clump)"
        )
    if shape == "ramp" and not params["end"] > params["start"]:
        # The rate moves from base at `start` to peak at `end`; base > peak ramps down.
        raise ValueError(
            f"synthetic:ramp: {named('end')} is not after {named('start')}: the rate goes "
            "from base at start to peak at end (base > peak ramps down)"
        )


def _non_negative(shape: str, key: str, text: str) -> float:
    """Every parameter is a rate (requests/s), a time (s) or a mean count: a number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"synthetic:{shape}: {key}={text!r}: expected a number >= 0")
    return value


def _rate_fn(shape: str, p: dict[str, float], rng: np.random.Generator) -> RateFn:
    base, peak = p.get("base", 0.0), p.get("peak", 0.0)
    if shape == "constant":
        return lambda t: np.full_like(t, p["rate"])
    if shape == "step":
        return lambda t: np.where(t < p["at"], base, peak)
    if shape == "ramp":
        span = max(p["end"] - p["start"], 1e-9)
        return lambda t: base + (peak - base) * np.clip((t - p["start"]) / span, 0.0, 1.0)
    if shape == "diurnal":
        return lambda t: base + (peak - base) * (1 - np.cos(2 * np.pi * t / p["period"])) / 2
    if shape == "flash":
        rise, decay = max(p["rise"], 1e-9), max(p["decay"], 1e-9)

        def flash(t: FloatArray) -> FloatArray:
            since = t - p["at"]
            up = base + (peak - base) * np.clip(since / rise, 0.0, 1.0)
            down = base + (peak - base) * np.exp(-np.maximum(since - rise, 0.0) / decay)
            return np.where(since < rise, up, down)

        return flash
    if shape == "onoff":
        cycle = max(p["on"] + p["off"], 1e-9)
        return lambda t: np.where(np.mod(t, cycle) >= p["off"], peak, base)
    # bursty: bursts of `burst` seconds at the peak rate, starting at Poisson times.
    gaps = rng.exponential(p["every"], size=int(p["duration"] / max(p["every"], 1.0)) * 3 + 3)
    starts = np.cumsum(gaps)

    def bursty(t: FloatArray) -> FloatArray:
        idx = np.searchsorted(starts, t, side="right") - 1
        inside = (idx >= 0) & (t - starts[np.maximum(idx, 0)] < p["burst"])
        return np.where(inside, peak, base)

    return bursty


def synthetic_trace(text: str, seed: int) -> Trace:
    shape, params, sizes = parse_synthetic(text)
    rng = np.random.default_rng(seed)
    duration = params["duration"]
    rate = _rate_fn(shape, params, rng)
    grid = np.linspace(0.0, duration, 10_001)
    ceiling = float(rate(grid).max()) / params["clump"]
    if ceiling <= 0:
        return Trace(name=text, arrivals=np.zeros(0), duration=duration)
    if ceiling * duration > MAX_REQUESTS:
        raise ValueError(
            f"{text}: about {ceiling * duration:.3g} requests at its peak rate; at most "
            f"{MAX_REQUESTS:,} (a lower rate or a shorter duration)"
        )
    candidates = np.sort(rng.uniform(0.0, duration, size=rng.poisson(ceiling * duration)))
    keep = rng.uniform(0.0, ceiling, size=len(candidates)) < rate(candidates) / params["clump"]
    arrivals = candidates[keep]
    if params["clump"] > 1:
        counts = rng.geometric(1.0 / params["clump"], size=len(arrivals))
        arrivals = np.repeat(arrivals, counts)
        arrivals = arrivals + rng.uniform(0.0, CLUMP_SPREAD_S, size=len(arrivals))
        arrivals = np.sort(arrivals[arrivals < duration])
    work = rng.exponential(1.0, size=len(arrivals)) if sizes == "exp" else None
    return Trace(name=text, arrivals=arrivals, sizes=work, duration=duration)
