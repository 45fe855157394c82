"""What a simulated autoscaler sees and how the engine calls it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from gpufleet.sim.fleet import Fleet
from gpufleet.sim.metrics import MetricsPipeline
from gpufleet.sim.profile import AnyProfile
from gpufleet.sim.settings import SimSettings
from gpufleet.sim.trace import Trace


@dataclass(frozen=True)
class PolicyContext:
    fleet: Fleet
    metrics: MetricsPipeline
    settings: SimSettings
    profile: AnyProfile
    trace: Trace
    """Only the clairvoyant oracle may look at future arrivals."""


class Policy(ABC):
    """An autoscaler: ``decide`` runs every ``tick_seconds`` and returns replicas or None."""

    name: str = "policy"
    knob_name: str = ""
    tick_seconds: float = 15.0

    @property
    def knob(self) -> float | None:
        """The value of the main setting, swept by the comparison (None: not swept)."""
        return None

    def initial_replicas(self, ctx: PolicyContext, default: int) -> int:
        return default

    def decision_log(self) -> list[dict[str, Any]]:
        """Why the policy did what it did, tick by tick (empty if it does not say)."""
        return []

    @abstractmethod
    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        """Replicas to ask for now, or None to leave the fleet as it is."""
