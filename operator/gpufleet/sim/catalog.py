"""Build each policy by name, with its main setting, and the grid the comparison sweeps."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpufleet.domain.spec import ModelDeploymentSpec
from gpufleet.settings import OperatorSettings
from gpufleet.sim.llm import LlmProfile
from gpufleet.sim.policies.base import Policy
from gpufleet.sim.policies.gpufleet import GpufleetPolicy
from gpufleet.sim.policies.hpa import HpaPolicy
from gpufleet.sim.policies.keda import KedaPolicy
from gpufleet.sim.policies.kpa import KpaPolicy
from gpufleet.sim.policies.oracle import OraclePolicy
from gpufleet.sim.policies.reactive import ReactiveBoundPolicy
from gpufleet.sim.policies.static import PEAK_WINDOW_S, StaticPolicy
from gpufleet.sim.policies.wva import WvaPolicy
from gpufleet.sim.profile import AnyProfile
from gpufleet.sim.trace import Trace

POLICY_NAMES = ("gpufleet", "hpa", "keda", "kpa", "static", "oracle")
"""The policies a comparison runs unless told otherwise."""
REFERENCE_NAMES = ("reactive",)
LLM_POLICY_NAMES = ("gpufleet", "hpa", "keda", "kpa", "wva", "static", "oracle")
"""With a token-level (LLM) profile: HPA and KEDA read vllm:num_requests_waiting, KPA
the in-flight requests, WVA KV-cache usage and the queue."""
"""Known but run only on request: reference points, not peers."""

QUEUE_DEPTH_GRID = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)
"""Requests waiting per pod. Triton's gauge counts waiting requests only, so a fleet
with room to spare reads near 0: targets below 1 are what keep such a fleet."""
CONCURRENCY_GRID = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)
UTILIZATION_GRID = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
"""Down to 0.3: with random routing and a tight target, a pod's queue must stay short."""
STATIC_LOWEST_UTILIZATION = 0.33
"""The static sweep goes up to the replicas that run the peak minute at this utilization."""
KV_THRESHOLD_GRID = (0.5, 0.6, 0.7, 0.8, 0.9)
LLM_CONCURRENCY_GRID = (4.0, 8.0, 16.0, 24.0, 32.0, 48.0, 64.0)
"""In-flight requests per LLM replica: continuous batching runs tens at once."""
REACTIVE_UTILIZATION_GRID = (
    *(0.3, 0.35, 0.4, 0.45, 0.5, 0.55),
    *(round(0.6 + 0.02 * i, 2) for i in range(16)),
)
"""0.30 ... 0.90, by 0.02 from 0.60: a bound is only as good as its tuning, and attainment
falls off a cliff between settings 0.05 apart; random routing needs the low end."""


@dataclass(frozen=True)
class Setup:
    """Everything a policy is built from."""

    spec: ModelDeploymentSpec
    profile: AnyProfile
    trace: Trace
    operator: OperatorSettings


def make_policy(name: str, setup: Setup, knob: float | None = None) -> Policy:
    lo, hi = setup.spec.scaling.min_replicas, setup.spec.scaling.max_replicas
    if name == "gpufleet":
        return GpufleetPolicy(setup.spec, setup.operator)
    if name == "hpa":
        return HpaPolicy(knob or setup.spec.scaling.target_queue_depth, lo, hi)
    if name == "keda":
        return KedaPolicy(knob or setup.spec.scaling.target_queue_depth, lo, hi)
    if name == "kpa":
        return KpaPolicy(knob or float(setup.profile.max_batch), lo, hi)
    if name == "wva":
        return WvaPolicy(knob or 0.8, lo, hi)
    if name == "static":
        return StaticPolicy(None if knob is None else round(knob), lo, hi)
    if name == "oracle":
        return OraclePolicy(knob or 0.8, lo, hi)
    if name == "reactive":
        return ReactiveBoundPolicy(knob or 0.8, lo, hi)
    known = ", ".join((*POLICY_NAMES, "wva", *REFERENCE_NAMES))
    raise ValueError(f"unknown policy {name!r}; known: {known}")


def sweep_grid(name: str, setup: Setup) -> tuple[float | None, ...]:
    """Settings the comparison tries for ``name``; (None,) for its defaults only."""
    if name in ("hpa", "keda"):
        return QUEUE_DEPTH_GRID
    if name == "kpa":
        return LLM_CONCURRENCY_GRID if isinstance(setup.profile, LlmProfile) else CONCURRENCY_GRID
    if name == "wva":
        return KV_THRESHOLD_GRID
    if name == "oracle":
        return UTILIZATION_GRID
    if name == "reactive":
        return REACTIVE_UTILIZATION_GRID
    if name == "static":
        peak = setup.trace.peak_rate(PEAK_WINDOW_S, work=True)
        full = setup.profile.max_throughput_rps
        bounds = setup.spec.scaling
        low = min(max(1, bounds.min_replicas, math.ceil(peak / full)), bounds.max_replicas)
        high = min(
            max(low + 1, math.ceil(peak / (STATIC_LOWEST_UTILIZATION * full))), bounds.max_replicas
        )
        return tuple(float(r) for r in range(low, high + 1))
    return (None,)
