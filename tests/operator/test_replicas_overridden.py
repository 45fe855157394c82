"""Another writer of a model Deployment's replicas is reported, not fought in silence.

An HorizontalPodAutoscaler (or the one a KEDA ScaledObject makes) left on a model
Deployment writes its ``spec.replicas`` as gpufleet's autoscaler does, and each undoes
the other. The test writes what such an HPA would; the operator must say so in a
Warning Event naming both counts, and must not take its own writes, or the Deployment
controller's status writes, for another writer's.
"""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet.domain.replica_writes import ReplicaWrites
from gpufleet_devtools.apiserver.server import EmulatedApiServer
from gpufleet_devtools.prometheus import PrometheusServer
from tests.operator.fallback_fleet import fallback_fleet, replicas
from tests.support.kube import DEPLOYMENTS, EVENTS, Kube
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

NS, NAME = "default", "contested"


def _replicas(kube: Kube) -> int:
    return replicas(kube, NS, NAME)


def _overridden(kube: Kube) -> list[str]:
    events = kube.list(EVENTS, NS)
    return [str(e["message"]) for e in events if e.get("reason") == "ReplicasOverridden"]


def test_an_hpa_writing_the_replicas_is_reported_each_time(
    apiserver: EmulatedApiServer, prometheus: PrometheusServer
) -> None:
    with fallback_fleet(apiserver, prometheus, NS, NAME) as kube:
        wait_for(lambda: _replicas(kube) == 3, timeout=30, what="the autoscaler's 3 replicas")
        # The Deployment controller's status write is no other writer of the replicas.
        status = {"status": {"replicas": 3, "readyReplicas": 0}}
        assert kube.merge_patch(DEPLOYMENTS, NS, NAME, status, sub="status").ok
        # An HPA sets 1; the autoscaler sets its 3 again; the HPA sets 2.
        assert kube.merge_patch(DEPLOYMENTS, NS, NAME, {"spec": {"replicas": 1}}).ok
        wait_for(lambda: _overridden(kube), timeout=30, what="a ReplicasOverridden Event")
        wait_for(lambda: _replicas(kube) == 3, timeout=30, what="the autoscaler's 3 again")
        assert kube.merge_patch(DEPLOYMENTS, NS, NAME, {"spec": {"replicas": 2}}).ok
        # Events of one object are handled in order: by the time the HPA's second write
        # is reported, the autoscaler's write before it was judged too.
        messages = wait_for(
            lambda: _reported_to(kube, 2), timeout=30, what="the second ReplicasOverridden Event"
        )
    assert len(messages) == 2, messages
    first, second = sorted(messages, key=lambda m: "replicas to 2" in m)
    assert "replicas to 1 (the autoscaler had set 3)" in first
    assert "replicas to 2 (the autoscaler had set 3)" in second
    assert "kubectl get hpa -n default" in first
    events = [e for e in kube.list(EVENTS, NS) if e.get("reason") == "ReplicasOverridden"]
    assert {e["type"] for e in events} == {"Warning"}


def _reported_to(kube: Kube, replicas: int) -> list[str] | None:
    """Every ReplicasOverridden message, once one reports ``replicas``."""
    messages = _overridden(kube)
    return messages if any(f"replicas to {replicas} " in m for m in messages) else None


def _deployment(uid: str, generation: int, replicas: int) -> dict[str, Any]:
    """A Deployment as the API server returns it, reduced to what tells writers apart."""
    return {"metadata": {"uid": uid, "generation": generation}, "spec": {"replicas": replicas}}


def _log() -> ReplicaWrites:
    """The autoscaler set 3 replicas; the API server answered with generation 5."""
    writes = ReplicaWrites()
    writes.sending("md", 3)
    writes.sent("md", _deployment("d-1", 5, 3))
    return writes


@pytest.mark.parametrize(
    ("seen", "overridden_to"),
    [
        pytest.param(_deployment("d-1", 5, 3), None, id="the autoscaler's own write"),
        pytest.param(_deployment("d-1", 4, 2), None, id="an older state arriving late"),
        pytest.param(_deployment("d-1", 6, 3), None, id="another spec change, same replicas"),
        pytest.param(_deployment("d-1", 6, 1), 1, id="an HPA's write"),
        pytest.param(_deployment("d-1", 9, 7), 7, id="several writes since"),
        pytest.param(_deployment("d-2", 6, 1), None, id="a Deployment recreated"),
        pytest.param({"metadata": {"uid": "d-1"}}, None, id="no generation"),
    ],
)
def test_another_writer_is_told_from_the_autoscaler(
    seen: dict[str, Any], overridden_to: int | None
) -> None:
    found = _log().override_in("md", seen)
    assert (None if found is None else found.set_to) == overridden_to
    assert found is None or found.autoscaler_set == 3


def test_a_write_whose_answer_is_not_back_yet_is_the_autoscalers() -> None:
    writes = _log()
    writes.sending("md", 4)
    # Its watch event is handled before the patch's answer reaches the autoscaler.
    assert writes.override_in("md", _deployment("d-1", 6, 4)) is None
    writes.sent("md", _deployment("d-1", 6, 4))
    hpa = writes.override_in("md", _deployment("d-1", 7, 1))
    assert hpa is not None
    assert (hpa.autoscaler_set, hpa.set_to) == (4, 1)
    # Told once: the same state seen again (a status write) is no new override.
    assert writes.override_in("md", _deployment("d-1", 7, 1)) is None


def test_a_refused_write_leaves_the_last_answer_as_the_reference() -> None:
    writes = _log()
    writes.sending("md", 4)
    writes.sent("md", None)
    found = writes.override_in("md", _deployment("d-1", 6, 4))
    assert found is not None
    assert (found.autoscaler_set, found.set_to) == (3, 4)
