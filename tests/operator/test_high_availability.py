"""Two operator processes on the API emulator: how kopf peering really behaves.

Peering is on when kopf's peering CRDs and a peering object exist (cluster-wide here:
``ClusterKopfPeering gpufleet``, gpufleet's own; kopf's ``default`` is every other
kopf-based operator's). Each operator writes a keep-alive into the object's
status; what each then does depends only on the priorities:

- equal priorities pause each other -- all of them: nothing is reconciled while both
  run, and the survivor resumes once the other has gone;
- a lower priority is a hot standby: it pauses while the higher one is alive, and takes
  over when it exits (at once on a clean exit, which removes its keep-alive; after the
  keep-alive's lifetime, 60 s, when it dies).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gpufleet.k8s.permissions import WatchScope
from gpufleet_devtools.apiserver.server import EmulatedApiServer
from tests.operator.processes import PEERING_NAME, OperatorProcess, peering_apiserver
from tests.operator.rbac import assert_granted
from tests.operator.specs import minimal_spec
from tests.support.kube import DEPLOYMENTS, MODELDEPLOYMENTS, Kube, modeldeployment
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

NS = "default"


@pytest.fixture
def apiserver() -> Iterator[EmulatedApiServer]:
    with peering_apiserver() as server:
        yield server
        assert_granted(server, WatchScope.CLUSTER)


@pytest.fixture
def start(apiserver: EmulatedApiServer, tmp_path: Path) -> Iterator[Any]:
    started: list[OperatorProcess] = []

    def run(name: str, priority: int) -> OperatorProcess:
        log = tmp_path / f"{name}.log"
        operator = OperatorProcess(apiserver.kubeconfig_path, log, priority=priority)
        started.append(operator)
        return operator

    yield run
    for operator in started:
        operator.stop()


def _peering_url(kube: Kube, name: str) -> str:
    return f"{kube.url}/apis/kopf.dev/v1/clusterkopfpeerings/{name}"


def _peers(kube: Kube, name: str = PEERING_NAME) -> dict[str, Any]:
    response = kube.session.get(_peering_url(kube, name))
    return dict(response.json().get("status") or {})


def _apply(kube: Kube, name: str) -> None:
    response = kube.create(MODELDEPLOYMENTS, NS, modeldeployment(name, minimal_spec()))
    assert response.status_code == 201, response.text


def test_equal_priorities_pause_each_other(apiserver: EmulatedApiServer, start: Any) -> None:
    kube = Kube(apiserver.url)
    first, second = start("first", 0), start("second", 0)
    wait_for(lambda: len(_peers(kube)) == 2, timeout=60, what="both keep-alives")
    pausing = "Pausing all operators, including self"
    wait_for(lambda: first.said(pausing) and second.said(pausing), timeout=60, what="both pause")
    # Both paused: a new ModelDeployment is left alone (an active operator makes its
    # children within a second)...
    _apply(kube, "paused")
    with pytest.raises(AssertionError, match="timed out"):
        wait_for(lambda: kube.get(DEPLOYMENTS, NS, "paused"), timeout=5, what="children")
    # ...until one of them goes: the other resumes and reconciles it.
    second.stop()
    wait_for(lambda: first.said("Resuming operations"), timeout=60, what="the survivor resuming")
    wait_for(lambda: kube.get(DEPLOYMENTS, NS, "paused"), timeout=60, what="children")


def test_a_lower_priority_operator_is_a_hot_standby(
    apiserver: EmulatedApiServer, start: Any
) -> None:
    kube = Kube(apiserver.url)
    primary = start("primary", 100)
    _apply(kube, "served")
    wait_for(lambda: kube.get(DEPLOYMENTS, NS, "served"), timeout=60, what="primary reconciles")
    standby = start("standby", 50)
    wait_for(
        lambda: standby.said("Pausing operations in favour of"),
        timeout=60,
        what="the standby pausing",
    )
    assert not primary.said("Pausing")  # the primary keeps working
    primary.stop()
    wait_for(lambda: standby.said("Resuming operations"), timeout=60, what="standby takes over")
    _apply(kube, "after-failover")
    wait_for(lambda: kube.get(DEPLOYMENTS, NS, "after-failover"), timeout=60, what="children")


def test_another_kopf_operator_at_the_same_priority_leaves_gpufleet_working(
    apiserver: EmulatedApiServer, start: Any
) -> None:
    kube = Kube(apiserver.url)
    # Any other kopf-based operator in the cluster (kopf's defaults: peering object
    # `default`, priority 0), alive for the whole test.
    other = "other-kopf-operator@elsewhere"
    lastseen = datetime.now(UTC).isoformat()
    keep_alive = {"status": {other: {"priority": 0, "lifetime": 600, "lastseen": lastseen}}}
    response = kube.session.patch(
        _peering_url(kube, "default"),
        json=keep_alive,
        headers={"Content-Type": "application/merge-patch+json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    operator = start("gpufleet", 0)
    wait_for(lambda: len(_peers(kube)) == 1, timeout=60, what="gpufleet's own keep-alive")
    assert other not in _peers(kube)
    _apply(kube, "served")
    wait_for(lambda: kube.get(DEPLOYMENTS, NS, "served"), timeout=60, what="gpufleet reconciles")
    assert not operator.said("Pausing")
