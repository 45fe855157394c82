"""A person pauses a fleet's autoscaling with an annotation, and resumes it by removing it.

The spec (which Git owns) is not touched: ``gpufleet.io/paused-replicas`` sets a count
and holds it; status and an Event say the fleet is paused, by what, and what the policy
would do meanwhile.
"""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet_devtools.apiserver.server import EmulatedApiServer
from gpufleet_devtools.prometheus import PrometheusServer
from tests.operator.fallback_fleet import fallback_fleet, replicas
from tests.support.kube import (
    EVENTS,
    MODELDEPLOYMENTS,
    Kube,
    condition,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

NS, NAME = "default", "frozen"
PAUSE = "gpufleet.io/paused-replicas"


def _replicas(kube: Kube) -> int:
    return replicas(kube, NS, NAME)


def _annotate(kube: Kube, value: str | None) -> None:
    patch = {"metadata": {"annotations": {PAUSE: value}}}
    assert kube.merge_patch(MODELDEPLOYMENTS, NS, NAME, patch).ok


def _limited(kube: Kube, reason: str) -> dict[str, Any] | None:
    found = condition(kube.get(MODELDEPLOYMENTS, NS, NAME), "ScalingLimited")
    return found if found and found["reason"] == reason else None


def test_a_paused_fleet_holds_its_count_and_resumes(
    apiserver: EmulatedApiServer, prometheus: PrometheusServer
) -> None:
    with fallback_fleet(apiserver, prometheus, NS, NAME) as kube:
        wait_for(lambda: _replicas(kube) == 3, timeout=30, what="the fallback's 3 replicas")
        _annotate(kube, "1")
        wait_for(lambda: _replicas(kube) == 1, timeout=30, what="the paused count")
        paused = wait_for(
            lambda: _limited(kube, "Paused"), timeout=30, what="ScalingLimited=Paused"
        )
        status = kube.get(MODELDEPLOYMENTS, NS, NAME)["status"]  # type: ignore[index]
        _annotate(kube, None)
        wait_for(lambda: _replicas(kube) == 3, timeout=30, what="the fallback's 3 again")
        wait_for(lambda: _limited(kube, "WithinLimits"), timeout=30, what="ScalingLimited=False")
    assert paused["status"] == "True"
    assert paused["message"].startswith(
        "autoscaling paused by annotation gpufleet.io/paused-replicas='1'"
    )
    assert "the policy would set 3" in paused["message"]
    assert status["decision"]["reasonCode"] == "Paused"
    assert status["decision"]["rule"] == "paused"
    reasons = [e.get("reason") for e in kube.list(EVENTS, NS)]
    assert "Paused" in reasons
