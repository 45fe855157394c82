"""The RBAC table is what the operator uses: every row is requested, nothing beyond it.

``gpufleet run`` (as the chart starts it, peering on) goes through every path that
talks to the API: create, a spec change, a child deleted and one edited by hand, the
optional NetworkPolicy added and dropped, a pod that cannot be placed, status writes,
Events. The API emulator records each request by client. What the operator requested
must be exactly the table for the watch scope; the chart test compares the table with
the chart's Role and ClusterRole. Every other operator test checks the other half on
its own traffic: nothing requested outside the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpufleet.k8s.permissions import WatchScope, grants
from gpufleet_devtools.apiserver.server import EmulatedApiServer
from tests.operator.processes import OperatorProcess, peering_apiserver
from tests.operator.rbac import operator_requests
from tests.operator.specs import minimal_spec
from tests.support.kube import (
    DEPLOYMENTS,
    EVENTS,
    MODELDEPLOYMENTS,
    SERVICES,
    Kind,
    Kube,
    condition,
    modeldeployment,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

NS = "default"
PODS = Kind("", "v1", "pods")
NETWORK_POLICIES = Kind("networking.k8s.io", "v1", "networkpolicies")


@pytest.fixture
def apiserver() -> Iterator[EmulatedApiServer]:
    with peering_apiserver() as server:
        yield server


def _exercise(kube: Kube) -> None:
    assert kube.create(MODELDEPLOYMENTS, NS, modeldeployment("rbac", minimal_spec())).ok
    wait_for(
        lambda: (
            (condition(kube.get(MODELDEPLOYMENTS, NS, "rbac"), "Reconciled") or {}).get("status")
            == "True"
        ),
        timeout=60,
        what="reconciled",
    )
    # A spec change reaches every child (the model's name is in their labels).
    change = {"spec": {"model": {"name": "bert"}, "networkPolicy": {}}}
    assert kube.merge_patch(MODELDEPLOYMENTS, NS, "rbac", change).ok
    wait_for(
        lambda: (
            (kube.get(SERVICES, NS, "rbac") or {})["metadata"]["labels"]["app.kubernetes.io/name"]
            == "bert"
        ),
        what="children updated",
    )
    # A child deleted and one edited by hand: restored and reverted.
    old = kube.get(SERVICES, NS, "rbac")
    assert old is not None
    assert kube.delete(SERVICES, NS, "rbac").ok
    wait_for(
        lambda: (
            (s := kube.get(SERVICES, NS, "rbac")) and s["metadata"]["uid"] != old["metadata"]["uid"]
        ),
        what="Service restored",
    )
    edit = {"spec": {"template": {"spec": {"containers": [{"name": "server", "image": "x:1"}]}}}}
    assert kube.merge_patch(DEPLOYMENTS, NS, "rbac", edit).ok
    wait_for(lambda: "x:1" not in str(kube.get(DEPLOYMENTS, NS, "rbac")), what="edit reverted")
    # The optional NetworkPolicy, edited by hand, then dropped from the spec.
    opened: dict[str, Any] = {"spec": {"ingress": [{}]}}
    assert kube.merge_patch(NETWORK_POLICIES, NS, "rbac", opened).ok
    wait_for(lambda: "from" in str(kube.get(NETWORK_POLICIES, NS, "rbac")), what="reverted")
    assert kube.merge_patch(MODELDEPLOYMENTS, NS, "rbac", {"spec": {"networkPolicy": None}}).ok
    wait_for(lambda: kube.get(NETWORK_POLICIES, NS, "rbac") is None, what="NetworkPolicy gone")
    # A pod that cannot be placed: the pod watch, a status write, an Event.
    labels = {"app.kubernetes.io/managed-by": "gpufleet", "gpufleet.io/modeldeployment": "rbac"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "rbac-1", "labels": labels}}
    assert kube.create(PODS, NS, pod).ok
    unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
    assert kube.merge_patch(
        PODS, NS, "rbac-1", {"status": {"conditions": [unschedulable]}}, sub="status"
    ).ok
    wait_for(
        lambda: (
            (condition(kube.get(MODELDEPLOYMENTS, NS, "rbac"), "Schedulable") or {}).get("status")
            == "False"
        ),
        what="Schedulable=False",
    )
    wait_for(lambda: kube.list(EVENTS, NS), what="Events")


@pytest.mark.parametrize("scope", list(WatchScope))
def test_the_operator_requests_exactly_what_rbac_grants(
    apiserver: EmulatedApiServer, tmp_path: Path, scope: WatchScope
) -> None:
    namespaces = [NS] if scope is WatchScope.NAMESPACED else []
    operator = OperatorProcess(
        apiserver.kubeconfig_path, tmp_path / "operator.log", namespaces=namespaces
    )
    try:
        _exercise(Kube(apiserver.url))
        # Peering keep-alives are written at start; wait for this operator's.
        peering = "clusterkopfpeerings" if scope is WatchScope.CLUSTER else "kopfpeerings"
        wait_for(
            lambda: ("kopf.dev", peering, "patch") in operator_requests(apiserver),
            what="a peering keep-alive",
        )
    finally:
        operator.stop()
    requested, granted = operator_requests(apiserver), grants(scope)
    assert not requested - granted, f"requested, not granted: {sorted(requested - granted)}"
    assert not granted - requested, f"granted, never requested: {sorted(granted - requested)}"
