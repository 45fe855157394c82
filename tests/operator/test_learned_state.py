"""What the autoscaler learned survives an operator restart (it lives in status.learned).

A previous operator learned the model's cold start, what one replica serves within the
target and its batch timing, and wrote them to ``status.learned``. A new operator
starts (against real Prometheus, which has nothing to say yet): it starts from those
values instead of its priors, so its decisions carry them and the status keeps them.
(Under load, with no replica dip: tests/integration/test_scaling_loop.py.)
"""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet_devtools.apiserver.server import EmulatedApiServer
from tests.operator.specs import minimal_spec
from tests.support.kube import DEPLOYMENTS, MODELDEPLOYMENTS, Kube, modeldeployment
from tests.support.operator import running_operator
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

NS, NAME = "default", "bert"
MD_KIND = "gpufleet.io/v1alpha1/modeldeployments"
LEARNED = {
    "coldStartSeconds": 95.0,
    "capacityPerReplica": 42.5,
    "tailFactor": 1.7,
    "batchFixedMs": 12.0,
    "batchPerRequestMs": 3.5,
    "maxBatchSeen": 6.0,
}


def _status(kube: Kube) -> dict[str, Any]:
    return dict((kube.get(MODELDEPLOYMENTS, NS, NAME) or {}).get("status") or {})


def test_a_restarted_operator_keeps_what_the_last_one_learned(
    apiserver: EmulatedApiServer, kube: Kube, prometheus: Any
) -> None:
    apiserver.create(MD_KIND, modeldeployment(NAME, minimal_spec()), namespace=NS)
    # What the operator that ran before wrote (the status survives it).
    apiserver.patch_status(MD_KIND, NAME, {"learned": LEARNED}, NS)
    env = {
        "GPUFLEET_AUTOSCALING": "1",
        "GPUFLEET_PROMETHEUS_URL": prometheus.url,
        "GPUFLEET_TICK_SECONDS": "1",
    }
    with running_operator(str(apiserver.kubeconfig_path), **env):
        wait_for(lambda: kube.get(DEPLOYMENTS, NS, NAME), what="Deployment")
        # The scaling loop has decided (and written status) a few times.
        wait_for(lambda: _status(kube).get("decision"), timeout=30, what="a decision")
        status = _status(kube)
    # Kept and written back by the new operator's decisions, not reset to its priors
    # (a fresh scaler history knows none of them, and would write none).
    assert status["learned"] == LEARNED
