"""A hand-made autoscaler for fleet-mechanics scenarios."""

from __future__ import annotations

from gpufleet.sim.policies.base import Policy, PolicyContext


class ScriptedPolicy(Policy):
    """Asks for replicas at given times: a hand-made scenario for fleet mechanics."""

    name = "scripted"
    tick_seconds = 1.0

    def __init__(self, initial: int, plan: dict[float, int]) -> None:
        self.initial = initial
        self.plan = plan

    def initial_replicas(self, ctx: PolicyContext, default: int) -> int:
        return self.initial

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        return self.plan.get(now)
