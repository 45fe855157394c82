"""``spec.rollout``: how a spec change replaces the pods."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gpufleet.domain.wire import WireModel


class RolloutSpec(WireModel):
    """How a spec change replaces the pods (the Deployment's RollingUpdate strategy)."""

    max_surge: Annotated[
        int,
        Field(
            ge=0,
            le=100,
            description=(
                "Extra pods a rollout may start above the replica count (each needs a free "
                "GPU). Set to 0 automatically while the surge would exceed cost.maxHourlyCost."
            ),
        ),
    ] = 1
    max_unavailable: Annotated[
        int,
        Field(
            ge=0,
            le=100,
            description=(
                "Pods a rollout may take down before their replacements are ready. 0 keeps "
                "serving capacity; at the budget a rollout replaces one pod at a time in place."
            ),
        ),
    ] = 0
