"""The operator, in-process (kopf in its own thread and loop), against the API emulator.

What a user sees: applying a ModelDeployment makes its children; editing the spec
updates them without touching the autoscaler's replicas; deleting or editing a
child by hand is undone; deleting the ModelDeployment leaves nothing behind; a
restarted operator duplicates nothing; bad input is refused with the field named.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from gpufleet_devtools.apiserver.server import EmulatedApiServer
from tests.operator.conftest import CRD_FILE
from tests.operator.specs import minimal_spec
from tests.support.kube import (
    DEPLOYMENTS,
    EVENTS,
    MODELDEPLOYMENTS,
    PDBS,
    SERVICES,
    Kind,
    Kube,
    condition,
    modeldeployment,
)
from tests.support.operator import running_operator
from tests.support.waiting import wait_for

NS = "default"
CHILD_KINDS = (DEPLOYMENTS, SERVICES, PDBS)


@pytest.fixture
def operator(kube: Kube, kubeconfig: str) -> Iterator[None]:
    with running_operator(kubeconfig):
        yield


def _children(kube: Kube, name: str) -> list[dict[str, Any] | None]:
    return [kube.get(kind, NS, name) for kind in CHILD_KINDS]


def _apply(kube: Kube, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    response = kube.create(MODELDEPLOYMENTS, NS, modeldeployment(name, spec, NS))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _reconciled(kube: Kube, name: str, generation: int) -> dict[str, Any] | None:
    md = kube.get(MODELDEPLOYMENTS, NS, name)
    ok = md and (md.get("status") or {}).get("observedGeneration") == generation
    return md if ok and (condition(md, "Reconciled") or {}).get("status") == "True" else None


def test_create_makes_owned_children_and_reports_status(kube: Kube, operator: None) -> None:
    md = _apply(kube, "resnet", minimal_spec())

    def all_children() -> list[dict[str, Any] | None] | None:
        children = _children(kube, "resnet")
        return children if all(children) else None

    children = wait_for(all_children, what="children")
    for child in children:
        assert child is not None
        refs = child["metadata"]["ownerReferences"]
        assert [(r["kind"], r["uid"], r["controller"]) for r in refs] == [
            ("ModelDeployment", md["metadata"]["uid"], True)
        ]
    assert (children[0] or {})["spec"]["replicas"] == 1  # minReplicas to start
    status = wait_for(lambda: _reconciled(kube, "resnet", 1), what="status")
    ready = condition(status, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("Unknown", "PodsStarting")
    # kstatus (Flux, kpt) reads Reconciling/Stalled on custom resources: in progress.
    reconciling, stalled = condition(status, "Reconciling"), condition(status, "Stalled")
    assert (reconciling or {}).get("status") == "True"
    assert (stalled or {}).get("status") == "False"
    for key in ("type", "status", "reason", "message", "observedGeneration", "lastTransitionTime"):
        assert key in ready
    # The pods come up (a kubelet would write this): Ready turns True.
    kube.merge_patch(
        DEPLOYMENTS, NS, "resnet", {"status": {"replicas": 1, "readyReplicas": 1}}, sub="status"
    )
    wait_for(
        lambda: (
            (condition(kube.get(MODELDEPLOYMENTS, NS, "resnet"), "Ready") or {}).get("status")
            == "True"
        ),
        what="Ready=True",
    )
    status = kube.get(MODELDEPLOYMENTS, NS, "resnet")["status"]  # type: ignore[index]
    assert status["readyReplicas"] == 1
    # The one replica asked for, priced: 1 GPU at the price in effect.
    assert status["gpuHourlyPrice"] > 0
    assert status["hourlyCost"] == pytest.approx(status["gpuHourlyPrice"])


def test_spec_change_updates_children_but_not_replicas(kube: Kube, operator: None) -> None:
    _apply(kube, "bert", minimal_spec())
    wait_for(lambda: _reconciled(kube, "bert", 1), what="first reconcile")
    # The autoscaler (or a person) scaled the Deployment.
    assert kube.merge_patch(DEPLOYMENTS, NS, "bert", {"spec": {"replicas": 5}}).ok
    assert kube.merge_patch(
        MODELDEPLOYMENTS, NS, "bert", {"spec": {"runtime": {"image": "my/triton:2"}}}
    ).ok
    wait_for(lambda: _reconciled(kube, "bert", 2), what="second reconcile")
    deployment = kube.get(DEPLOYMENTS, NS, "bert")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "my/triton:2"
    assert deployment["spec"]["replicas"] == 5


def test_pod_settings_removed_from_the_spec_leave_the_pods(kube: Kube, operator: None) -> None:
    identity = {
        "serviceAccountName": "bucket-reader",
        "imagePullSecrets": [{"name": "registry"}],
        "runtimeClassName": "nvidia",
    }
    _apply(kube, "gpt", minimal_spec(runtime=identity, resources={"priorityClassName": "high"}))
    wait_for(lambda: _reconciled(kube, "gpt", 1), what="first reconcile")
    # The ServiceAccount granted a cloud role: taking it out of the spec must revoke it.
    removed = {"runtime": {k: None for k in identity}, "resources": {"priorityClassName": None}}
    assert kube.merge_patch(MODELDEPLOYMENTS, NS, "gpt", {"spec": removed}).ok
    wait_for(lambda: _reconciled(kube, "gpt", 2), what="second reconcile")
    pod = kube.get(DEPLOYMENTS, NS, "gpt")["spec"]["template"]["spec"]  # type: ignore[index]
    for field in (*identity, "serviceAccount", "priorityClassName"):
        assert field not in pod, (field, pod.get(field))


def test_spread_taken_out_of_the_spec_leaves_the_pods(kube: Kube, operator: None) -> None:
    zones = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "matchLabelKeys": ["pod-template-hash"],
    }

    def spread() -> Any:
        pod = kube.get(DEPLOYMENTS, NS, "qwen")["spec"]["template"]["spec"]  # type: ignore[index]
        return pod.get("topologySpreadConstraints")

    def spread_spec(constraints: list[dict[str, Any]] | None) -> dict[str, Any]:
        return {"spec": {"resources": {"topologySpreadConstraints": constraints}}}

    _apply(kube, "qwen", minimal_spec(resources={"topologySpreadConstraints": [zones]}))
    wait_for(lambda: _reconciled(kube, "qwen", 1), what="first reconcile")
    fleet = {"matchLabels": {"gpufleet.io/modeldeployment": "qwen"}}
    assert spread() == [{**zones, "labelSelector": fleet}]
    # None at all: the field leaves the pods (not the zones left as they were).
    assert kube.merge_patch(MODELDEPLOYMENTS, NS, "qwen", spread_spec([])).ok
    wait_for(lambda: _reconciled(kube, "qwen", 2), what="second reconcile")
    assert spread() is None
    # Unset: the default soft spread over nodes comes back.
    assert kube.merge_patch(MODELDEPLOYMENTS, NS, "qwen", spread_spec(None)).ok
    wait_for(lambda: _reconciled(kube, "qwen", 3), what="third reconcile")
    assert [(c["topologyKey"], c["whenUnsatisfiable"]) for c in spread()] == [
        ("kubernetes.io/hostname", "ScheduleAnyway")
    ]


def test_deleted_and_edited_children_are_restored(kube: Kube, operator: None) -> None:
    _apply(kube, "vit", minimal_spec())
    wait_for(lambda: _reconciled(kube, "vit", 1), what="reconcile")
    old_service = kube.get(SERVICES, NS, "vit")
    assert old_service is not None
    assert kube.delete(SERVICES, NS, "vit").ok
    restored = wait_for(
        lambda: (
            (s := kube.get(SERVICES, NS, "vit"))
            and s["metadata"]["uid"] != old_service["metadata"]["uid"]
            and s
        ),
        what="service restored",
    )
    assert [p["port"] for p in restored["spec"]["ports"]] == [8000, 8001, 8002]
    image = kube.get(DEPLOYMENTS, NS, "vit")["spec"]["template"]["spec"]["containers"][0]["image"]  # type: ignore[index]
    edit = {
        "spec": {"template": {"spec": {"containers": [{"name": "server", "image": "evil:latest"}]}}}
    }
    assert kube.merge_patch(DEPLOYMENTS, NS, "vit", edit).ok
    wait_for(
        lambda: (
            "evil:latest" not in (text := json.dumps(kube.get(DEPLOYMENTS, NS, "vit")))
            and image in text
        ),
        what="edit reverted",
    )
    # kopf posts Events in the background: wait for them to arrive.
    wanted = {"ServiceRestored", "DeploymentReverted"}
    wait_for(
        lambda: wanted <= {e.get("reason") for e in kube.list(EVENTS, NS)},
        what=f"Events {wanted}",
    )


def test_a_deployment_deleted_by_hand_comes_back_at_its_replicas(
    kube: Kube, operator: None
) -> None:
    _apply(kube, "busy", minimal_spec(scaling={"minReplicas": 1, "maxReplicas": 8}))
    wait_for(lambda: _reconciled(kube, "busy", 1), what="reconcile")
    # The autoscaler had grown the fleet for its load.
    assert kube.merge_patch(DEPLOYMENTS, NS, "busy", {"spec": {"replicas": 6}}).ok
    old = kube.get(DEPLOYMENTS, NS, "busy") or {}
    assert kube.delete(DEPLOYMENTS, NS, "busy").ok
    restored = wait_for(
        lambda: (
            (d := kube.get(DEPLOYMENTS, NS, "busy"))
            and d["metadata"]["uid"] != old["metadata"]["uid"]
            and d
        ),
        what="Deployment restored",
    )
    # Not minReplicas: the load is still there, and no pod is left to measure it.
    assert restored["spec"]["replicas"] == 6


def test_deleting_the_modeldeployment_leaves_no_child(kube: Kube, operator: None) -> None:
    _apply(kube, "gone", minimal_spec())
    wait_for(lambda: all(_children(kube, "gone")), what="children")
    assert kube.delete(MODELDEPLOYMENTS, NS, "gone").ok
    wait_for(lambda: not any(_children(kube, "gone")), what="children collected")
    assert kube.get(MODELDEPLOYMENTS, NS, "gone") is None


def test_an_object_of_a_childs_name_owned_by_no_one_is_not_adopted(
    kube: Kube, operator: None
) -> None:
    # Another team's Service already has the name the ModelDeployment's would take.
    theirs = {
        "metadata": {"name": "taken", "namespace": NS},
        "spec": {"selector": {"app": "theirs"}, "ports": [{"port": 80}]},
    }
    assert kube.create(SERVICES, NS, theirs).ok
    _apply(kube, "taken", minimal_spec())
    md = wait_for(
        lambda: (
            (m := kube.get(MODELDEPLOYMENTS, NS, "taken"))
            and (condition(m, "Ready") or {}).get("reason") == "ChildConflict"
            and m
        ),
        what="Ready=False (ChildConflict)",
    )
    assert "a Service named default/taken exists" in (condition(md, "Reconciled") or {})["message"]
    wait_for(
        lambda: "ChildConflict" in {e.get("reason") for e in kube.list(EVENTS, NS)}, what="Event"
    )
    service = kube.get(SERVICES, NS, "taken") or {}
    assert "ownerReferences" not in service["metadata"]
    assert service["spec"]["selector"] == {"app": "theirs"}


def test_a_modeldeployment_recreated_before_its_children_are_collected_takes_over(
    kube: Kube, apiserver: EmulatedApiServer, operator: None
) -> None:
    """``kubectl delete`` then ``kubectl apply`` at once: the old children are still
    there, owned by the deleted object, until the garbage collector gets to them."""
    _apply(kube, "phoenix", minimal_spec())
    wait_for(lambda: _reconciled(kube, "phoenix", 1), what="first reconcile")
    apiserver.handler.gc_delay_s = 2.0
    assert kube.delete(MODELDEPLOYMENTS, NS, "phoenix").ok
    new_uid = _apply(kube, "phoenix", minimal_spec())["metadata"]["uid"]

    def owned_by_the_new_one() -> bool:
        children = _children(kube, "phoenix")
        return all(
            child and [r["uid"] for r in child["metadata"]["ownerReferences"]] == [new_uid]
            for child in children
        )

    wait_for(owned_by_the_new_one, what="children of the new ModelDeployment")
    wait_for(lambda: _reconciled(kube, "phoenix", 1), what="the new one reconciled")
    # Neither a conflict to resolve by hand nor children "deleted outside gpufleet".
    reasons = {e.get("reason") for e in kube.list(EVENTS, NS)}
    assert not reasons & {"ChildConflict", "DeploymentRestored", "ServiceRestored"}, reasons


def test_restarted_operator_duplicates_nothing(kube: Kube, kubeconfig: str) -> None:
    with running_operator(kubeconfig):
        _apply(kube, "stable", minimal_spec())
        wait_for(lambda: _reconciled(kube, "stable", 1), what="reconcile")
        uids = [c["metadata"]["uid"] for c in _children(kube, "stable") if c]
        versions = [c["metadata"]["resourceVersion"] for c in _children(kube, "stable") if c]
    with running_operator(kubeconfig):
        # Resumed: the status is re-confirmed, and the children are neither recreated nor rewritten.
        wait_for(lambda: _reconciled(kube, "stable", 1), what="resume")
        after = _children(kube, "stable")
        assert [c["metadata"]["uid"] for c in after if c] == uids
        assert [c["metadata"]["resourceVersion"] for c in after if c] == versions
        assert len(kube.list(DEPLOYMENTS, NS)) == len(
            {d["metadata"]["name"] for d in kube.list(DEPLOYMENTS, NS)}
        )


INVALID_MANIFESTS = [
    ({"scaling": {"minReplicas": 4, "maxReplicas": 2}}, "spec.scaling.minReplicas"),
    ({"runtime": {"type": "onnx"}}, "spec.runtime.type"),
    ({"slo": {"latencyP95Ms": -5}}, "spec.slo.latencyP95Ms"),
    ({"cost": {"maxHourlyCost": 1.0, "gpuHourlyPrice": 3.0}}, "spec.cost.maxHourlyCost"),
]


@pytest.mark.parametrize(("overrides", "field"), INVALID_MANIFESTS)
def test_invalid_manifests_are_refused_with_the_field_named(
    kube: Kube, overrides: dict[str, Any], field: str
) -> None:
    response = kube.create(
        MODELDEPLOYMENTS, NS, modeldeployment("bad", minimal_spec(**overrides), NS)
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert field in body["message"]
    assert field in [c.get("field") for c in body["details"]["causes"]]
    assert kube.get(MODELDEPLOYMENTS, NS, "bad") is None


def test_spec_the_operator_rejects_gets_a_condition_and_no_child(
    kube: Kube, operator: None
) -> None:
    _apply(kube, "b300", minimal_spec(resources={"gpuType": "nvidia-b300"}))
    md = wait_for(
        lambda: (m := kube.get(MODELDEPLOYMENTS, NS, "b300")) and condition(m, "Ready") and m,
        what="condition",
    )
    ready = condition(md, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "resources.gpuType" in ready["message"]
    assert not any(_children(kube, "b300"))


def test_api_errors_are_retried_and_nothing_is_lost(
    kube: Kube, apiserver: EmulatedApiServer, operator: None
) -> None:
    # The API server fails the first two Deployment creations (503) and the first
    # status write conflicts (409), as a busy real one might.
    apiserver.handler[f"post {DEPLOYMENTS.path(NS)}"][:2] << 503
    apiserver.handler[f"patch {MODELDEPLOYMENTS.path(NS, 'flaky', 'status')}"][:1] << 409
    _apply(kube, "flaky", minimal_spec())
    wait_for(lambda: _reconciled(kube, "flaky", 1), timeout=60, what="reconciled despite errors")
    assert all(_children(kube, "flaky"))
    assert len([d for d in kube.list(DEPLOYMENTS, NS) if d["metadata"]["name"] == "flaky"]) == 1
    # The failures really happened: two refused creations, then the one that worked.
    assert len(list(apiserver.handler[f"post {DEPLOYMENTS.path(NS)}"])) == 3


RBAC_SAYS = (
    'poddisruptionbudgets.policy is forbidden: User "system:serviceaccount:gpufleet:gpufleet" '
    'cannot create resource "poddisruptionbudgets" in API group "policy" in the namespace '
    '"default"'
)


def _status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    """A ``Status`` body as a real API server answers an error."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return {**body, "message": message, "reason": reason, "code": code, "details": details}


def test_missing_rbac_is_a_condition_naming_the_verb_and_resource(
    kube: Kube, apiserver: EmulatedApiServer, operator: None
) -> None:
    # The chart's Role lost a rule (an older chart, a hand-edited Role): every PDB
    # creation is refused, as RBAC would.
    refused = _status(403, "Forbidden", RBAC_SAYS, group="policy", kind="poddisruptionbudgets")
    apiserver.handler[f"post {PDBS.path(NS)}"] << 403 << refused
    _apply(kube, "guarded", minimal_spec())
    md = wait_for(
        lambda: (
            (m := kube.get(MODELDEPLOYMENTS, NS, "guarded"))
            and (condition(m, "Reconciled") or {}).get("reason") == "Forbidden"
            and m
        ),
        what="Reconciled=False (Forbidden)",
    )
    reconciled = condition(md, "Reconciled") or {}
    assert reconciled["status"] == "False"
    assert RBAC_SAYS in reconciled["message"]
    ready = condition(md, "Ready") or {}
    assert (ready.get("status"), ready.get("reason")) == ("False", "Forbidden")
    # The Deployment's events do not paper over it while the refusal lasts.
    kube.merge_patch(
        DEPLOYMENTS, NS, "guarded", {"status": {"replicas": 1, "readyReplicas": 1}}, sub="status"
    )
    wait_for(
        lambda: (
            (kube.get(MODELDEPLOYMENTS, NS, "guarded") or {})["status"].get("readyReplicas") == 1
        ),
        what="replica counts from the Deployment",
    )
    ready = condition(kube.get(MODELDEPLOYMENTS, NS, "guarded"), "Ready") or {}
    assert (ready.get("status"), ready.get("reason")) == ("False", "Forbidden")


def test_a_child_an_admission_webhook_denies_is_reported(
    kube: Kube, apiserver: EmulatedApiServer, operator: None
) -> None:
    # A validating webhook that names no code is answered as a 400, not a 422.
    says = 'admission webhook "deny-services.example.com" denied the request: no NodePorts'
    apiserver.handler[f"post {SERVICES.path(NS)}"] << 400 << _status(400, "BadRequest", says)
    _apply(kube, "hooked", minimal_spec())
    md = wait_for(
        lambda: (
            (m := kube.get(MODELDEPLOYMENTS, NS, "hooked"))
            and (condition(m, "Ready") or {}).get("reason") == "ChildRejected"
            and m
        ),
        what="Ready=False (ChildRejected)",
    )
    assert says in (condition(md, "Reconciled") or {})["message"]


def test_a_namespace_being_deleted_is_not_reported_as_a_problem(
    kube: Kube, apiserver: EmulatedApiServer, operator: None
) -> None:
    # The namespace is Terminating: the server refuses new objects in it, and the
    # namespace controller deletes the ModelDeployment next.
    terminating = _status(
        403,
        "Forbidden",
        'poddisruptionbudgets.policy "leaving" is forbidden: unable to create new content '
        "in namespace default because it is being terminated",
        causes=[{"reason": "NamespaceTerminating", "field": "metadata.namespace"}],
    )
    apiserver.handler[f"post {PDBS.path(NS)}"] << 403 << terminating
    _apply(kube, "leaving", minimal_spec())
    wait_for(
        lambda: len(list(apiserver.handler[f"post {PDBS.path(NS)}"])) >= 1,
        what="the refused creation",
    )
    # Only the Deployment's own view: no Forbidden condition for a namespace going away.
    kube.merge_patch(
        DEPLOYMENTS, NS, "leaving", {"status": {"replicas": 1, "readyReplicas": 0}}, sub="status"
    )
    md = wait_for(
        lambda: (
            (m := kube.get(MODELDEPLOYMENTS, NS, "leaving"))
            and (condition(m, "Ready") or {}).get("reason") == "PodsStarting"
            and m
        ),
        what="Ready from the Deployment",
    )
    assert (condition(md, "Reconciled") or {}).get("reason") != "Forbidden"


def test_a_rollout_at_the_budget_replaces_pods_in_place(kube: Kube, operator: None) -> None:
    # 1 GPU at 2 $/h per replica, 8 $/h budget: 4 replicas fit, a 5th (surge) pod does not.
    spec = minimal_spec(
        cost={"maxHourlyCost": 8.0, "gpuHourlyPrice": 2.0},
        scaling={"minReplicas": 1, "maxReplicas": 4},
        rollout={"maxSurge": 1, "maxUnavailable": 0},
    )
    _apply(kube, "llm", spec)
    wait_for(lambda: _reconciled(kube, "llm", 1), what="first reconcile")
    strategy = kube.get(DEPLOYMENTS, NS, "llm")["spec"]["strategy"]["rollingUpdate"]  # type: ignore[index]
    assert (strategy["maxSurge"], strategy["maxUnavailable"]) == (1, 0)  # room to surge
    # The autoscaler went to the budget; then the image changes.
    assert kube.merge_patch(DEPLOYMENTS, NS, "llm", {"spec": {"replicas": 4}}).ok
    assert kube.merge_patch(
        MODELDEPLOYMENTS, NS, "llm", {"spec": {"runtime": {"image": "my/triton:2"}}}
    ).ok
    wait_for(lambda: _reconciled(kube, "llm", 2), what="second reconcile")
    deployment = kube.get(DEPLOYMENTS, NS, "llm")
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 4
    # No surge pod the budget cannot pay for: one pod at a time is replaced in place.
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_gpu_nodes_are_selected_by_the_label_key_the_operator_is_given(
    kube: Kube, kubeconfig: str
) -> None:
    with running_operator(kubeconfig, GPUFLEET_GPU_NODE_LABEL="cloud.google.com/gke-accelerator"):
        _apply(kube, "gke", minimal_spec(resources={"gpuType": "nvidia-l4"}))
        deployment = wait_for(lambda: kube.get(DEPLOYMENTS, NS, "gke"), what="Deployment")
    affinity = deployment["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    keys = {e["key"]: e["values"] for t in terms for e in t["matchExpressions"] if "values" in e}
    assert keys["cloud.google.com/gke-accelerator"] == ["nvidia-l4"]
    assert "nvidia.com/gpu.product" not in keys


NETWORK_POLICIES = Kind("networking.k8s.io", "v1", "networkpolicies")
GATEWAY = {"podSelector": {"matchLabels": {"app": "gateway"}}}


def test_the_optional_network_policy_follows_the_spec(kube: Kube, operator: None) -> None:
    md = _apply(kube, "guarded", minimal_spec(networkPolicy={"clients": [GATEWAY]}))
    policy = wait_for(lambda: kube.get(NETWORK_POLICIES, NS, "guarded"), what="NetworkPolicy")
    assert [r["uid"] for r in policy["metadata"]["ownerReferences"]] == [md["metadata"]["uid"]]
    assert policy["spec"]["ingress"][0]["from"] == [GATEWAY]
    # Opened up by hand: closed again.
    opened: dict[str, Any] = {"spec": {"ingress": [{}]}}
    assert kube.merge_patch(NETWORK_POLICIES, NS, "guarded", opened).ok
    wait_for(
        lambda: (
            (kube.get(NETWORK_POLICIES, NS, "guarded") or {})["spec"]["ingress"][0].get("from")
            == [GATEWAY]
        ),
        what="NetworkPolicy reverted",
    )
    # The spec no longer asks for one: it goes.
    assert kube.merge_patch(MODELDEPLOYMENTS, NS, "guarded", {"spec": {"networkPolicy": None}}).ok
    wait_for(lambda: kube.get(NETWORK_POLICIES, NS, "guarded") is None, what="NetworkPolicy gone")
    assert kube.get(DEPLOYMENTS, NS, "guarded") is not None


def test_a_name_too_long_for_its_children_is_refused_by_the_operator_too() -> None:
    """An object applied under an older CRD, before the name rule: the operator says why."""
    crd = yaml.safe_load(CRD_FILE.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["x-kubernetes-validations"] = [
        rule for rule in schema["x-kubernetes-validations"] if "metadata.name" not in rule["rule"]
    ]
    name = "m" * 70
    with EmulatedApiServer(crds=[crd]) as server:
        kube = Kube(server.url)
        with running_operator(str(server.kubeconfig_path)):
            _apply(kube, name, minimal_spec())
            md = wait_for(
                lambda: (m := kube.get(MODELDEPLOYMENTS, NS, name)) and condition(m, "Ready") and m,
                what="Ready",
            )
        ready = condition(md, "Ready") or {}
        assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
        assert "metadata.name" in ready["message"]
        assert kube.get(DEPLOYMENTS, NS, name) is None


def test_zero_replicas_are_not_ready_until_the_activation_query_is_measured(
    kube: Kube, operator: None
) -> None:
    # Autoscaling is off here: nobody measures the activation query.
    activation = {"query": 'sum(gateway_queued_requests{model="m"})', "threshold": 0}
    _apply(kube, "idle", minimal_spec(scaling={"minReplicas": 0, "activation": activation}))
    md = wait_for(lambda: _reconciled(kube, "idle", 1), what="reconciled")
    assert (kube.get(DEPLOYMENTS, NS, "idle") or {})["spec"]["replicas"] == 0
    ready = condition(md, "Ready") or {}
    # No pod and no activation value: nothing says a request would wake the fleet.
    assert (ready["status"], ready["reason"]) == ("Unknown", "ActivationPending")
