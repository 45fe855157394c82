"""The budget holds during rollouts: surge pods count; at the budget pods are replaced in place."""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet.domain.manifests.children import DEPLOYMENT
from gpufleet.domain.manifests.context import BuildContext
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from tests.operator.specs import minimal_spec

OWNER = Owner("demo", "ml", "uid-1")

# (case, maxHourlyCost, rollout, replicas, replica price, expected maxSurge, maxUnavailable)
CASES: list[tuple[str, float, dict[str, Any], int | None, float | None, int, int]] = [
    ("room for the surge", 10.0, {}, 11, 0.8, 1, 0),  # 12 x 0.8 = 9.6 <= 10
    ("exactly at the budget with the surge", 8.0, {}, 9, 0.8, 1, 0),  # 10 x 0.8 = 8.0
    ("surge would cross the budget", 10.0, {}, 12, 0.8, 0, 1),  # 13 x 0.8 = 10.4 > 10
    ("at the budget already", 8.0, {}, 10, 0.8, 0, 1),
    ("a larger surge shrinks to what fits", 10.0, {"maxSurge": 3}, 10, 0.8, 2, 0),
    ("user's maxUnavailable kept in place", 8.0, {"maxUnavailable": 2}, 10, 0.8, 0, 2),
    ("surge and unavailable as asked", 100.0, {"maxSurge": 2, "maxUnavailable": 1}, 4, 7.0, 2, 1),
    ("no price known: as asked", 1.0, {"maxSurge": 2}, 50, None, 2, 0),
    ("before the Deployment exists: minReplicas", 1.6, {}, None, 0.8, 1, 0),
    ("scaled to zero", 0.8, {}, 0, 0.8, 1, 0),
    # A huge budget ("no limit") over the price is more pods than a float holds.
    ("a budget of 1e308 $/h", 1e308, {"maxSurge": 2}, 10, 0.5, 2, 0),
    ("a budget of 1e308 $/h, before the Deployment", 1e308, {}, None, 0.1, 1, 0),
]


@pytest.mark.parametrize(
    ("case", "budget", "rollout", "replicas", "price", "surge", "unavailable"), CASES
)
def test_rollout_strategy_fits_the_budget(
    case: str,
    budget: float,
    rollout: dict[str, Any],
    replicas: int | None,
    price: float | None,
    surge: int,
    unavailable: int,
) -> None:
    spec = parse_spec(
        minimal_spec(
            cost={"maxHourlyCost": budget},
            rollout=rollout,
            scaling={"minReplicas": 1, "maxReplicas": 100},
        )
    )
    context = BuildContext(replicas=replicas, replica_hourly_cost=price)
    strategy = DEPLOYMENT.build(OWNER, spec, context)["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }, case
