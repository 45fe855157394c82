"""An admission webhook refusing the autoscaler's replicas is reported, not only logged.

A policy engine (Gatekeeper, Kyverno) or a hand-written webhook may cap a
Deployment's replicas. The autoscaler's patch is then refused on every tick: status
says so (``ScalingLimited=True``, reason ``ScaleRefused``, with the webhook's message)
and an Event is posted once; when the webhook lets it through, the fleet scales.
"""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet_devtools.apiserver.server import EmulatedApiServer
from gpufleet_devtools.prometheus import PrometheusServer
from tests.operator.fallback_fleet import fallback_fleet, replicas
from tests.support.kube import (
    DEPLOYMENTS,
    EVENTS,
    MODELDEPLOYMENTS,
    condition,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

NS, NAME = "default", "capped"
WEBHOOK_SAYS = (
    'admission webhook "validate.kyverno.svc" denied the request: '
    "policy Deployment/default/capped for resource violation: max-replicas: at most 2"
)
REFUSALS = 4
"""Ticks whose patch the webhook refuses, before it is changed to let it through."""


def _denied() -> dict[str, Any]:
    """The API server's answer when a validating webhook denies without naming a code."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": WEBHOOK_SAYS,
        "reason": "BadRequest",
        "code": 400,
    }


def test_replicas_an_admission_webhook_refuses_are_reported(
    apiserver: EmulatedApiServer, prometheus: PrometheusServer
) -> None:
    # Prometheus knows nothing of the model: onMetricsLoss raises the fleet to 3.
    apiserver.handler[f"patch {DEPLOYMENTS.path(NS, NAME)}"][:REFUSALS] << 400 << _denied()
    with fallback_fleet(apiserver, prometheus, NS, NAME) as kube:
        refused = wait_for(
            lambda: [e for e in kube.list(EVENTS, NS) if e.get("reason") == "ScaleRefused"],
            timeout=30,
            what="a ScaleRefused Event",
        )
        assert replicas(kube, NS, NAME) == 1
        # Nothing was scaled: status does not say when it was.
        refused_status = kube.get(MODELDEPLOYMENTS, NS, NAME)["status"]  # type: ignore[index]
        assert refused_status.get("lastScaleTime") is None, refused_status
        # The webhook is changed to let it through: the next tick scales.
        wait_for(lambda: replicas(kube, NS, NAME) == 3, timeout=30, what="scaled to the fallback")
        limited = wait_for(
            lambda: (
                (c := condition(kube.get(MODELDEPLOYMENTS, NS, NAME), "ScalingLimited"))
                and c["status"] == "False"
                and c
            ),
            what="ScalingLimited=False",
        )
    assert [e["type"] for e in refused] == ["Warning"]
    assert WEBHOOK_SAYS in refused[0]["message"]
    assert limited["reason"] == "WithinLimits"
    # Refused on each tick, reported once.
    assert len(list(apiserver.handler[f"patch {DEPLOYMENTS.path(NS, NAME)}"])) > REFUSALS
    assert [e["reason"] for e in kube.list(EVENTS, NS)].count("ScaleRefused") == 1
