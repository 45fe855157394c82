"""GPU prices: USD per GPU-hour by ``resources.gpuType``.

The operator is configured with a catalog (``GPUFLEET_GPU_PRICES``); a spec may
override it with ``cost.gpuHourlyPrice``. Defaults are public on-demand list
prices (2025-2026), rounded; a platform team sets its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from gpufleet.domain.spec import (
    ModelDeploymentSpec,
    SpecError,
    affords,
    replica_units,
    replicas_to_afford,
)

DEFAULT_GPU_PRICES: dict[str, float] = {
    "nvidia-t4": 0.50,
    "nvidia-l4": 0.80,
    "nvidia-a10g": 1.00,
    "nvidia-l40s": 1.90,
    "nvidia-a100": 3.00,
    "nvidia-h100": 7.00,
    "nvidia-h200": 9.00,
    # Local fleet / CPU-only development: no GPU, no cost model to speak of.
    "cpu": 0.10,
}


def gpu_hourly_price(spec: ModelDeploymentSpec, catalog: Mapping[str, float]) -> float:
    """Price of one GPU-hour for this spec; :class:`SpecError` when none is known."""
    if spec.cost.gpu_hourly_price is not None:
        return spec.cost.gpu_hourly_price
    price = catalog.get(spec.resources.gpu_type)
    if price is None:
        known = ", ".join(sorted(catalog)) or "none"
        raise SpecError(
            "resources.gpuType",
            f"no price for gpuType {spec.resources.gpu_type!r} in the operator's catalog "
            f"(known: {known}); set cost.gpuHourlyPrice",
        )
    return price


def replica_hourly_cost(spec: ModelDeploymentSpec, price: float) -> float:
    """USD per hour of one replica. A GPU-less (CPU) replica is billed as one unit."""
    return replica_units(spec) * price


def check_budget(spec: ModelDeploymentSpec, price: float) -> None:
    """Reject a spec whose budget cannot pay for ``minReplicas``, or for the one replica
    that scaling from zero starts (:class:`SpecError`)."""
    replicas = replicas_to_afford(spec)
    cost = replica_hourly_cost(spec, price)
    if not affords(spec.cost.max_hourly_cost, replicas, cost):
        min_replicas = spec.scaling.min_replicas
        wanted = (
            f"scaling.minReplicas={min_replicas}"
            if min_replicas
            else "the replica that scaling from zero (scaling.minReplicas=0) starts"
        )
        raise SpecError(
            "cost.maxHourlyCost",
            f"{spec.cost.max_hourly_cost:g} $/h cannot afford {wanted} at {cost:g} $/h per "
            f"replica (needs {replicas * cost:g} $/h)",
        )
