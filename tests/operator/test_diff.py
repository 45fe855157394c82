"""Only owned fields are diffed: replicas and server defaults never cause a write."""

from __future__ import annotations

import copy

from gpufleet.domain.manifests.children import DEPLOYMENT, SERVICE
from gpufleet.domain.manifests.diff import owned_patch
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from tests.operator.specs import minimal_spec

OWNER = Owner("demo", "ml", "uid-1")


def _live_deployment(**spec_overrides: object) -> dict:
    live = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec(**spec_overrides)))
    # What a real API server adds: defaults, status, bookkeeping, other owners' labels.
    live["metadata"].update({"uid": "x", "resourceVersion": "42", "generation": 3})
    live["metadata"]["labels"]["argocd.argoproj.io/instance"] = "ml-apps"
    container = live["spec"]["template"]["spec"]["containers"][0]
    container.update(
        {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"}
    )
    container["resources"]["limits"]["nvidia.com/gpu"] = "1"  # quantities come back as strings
    live["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst"
    live["status"] = {"readyReplicas": 1}
    return live


def test_no_write_when_only_defaults_and_replicas_differ() -> None:
    desired = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec()))
    live = _live_deployment()
    live["spec"]["replicas"] = 7  # the autoscaler's
    assert (
        owned_patch(
            desired, live, not_owned=DEPLOYMENT.not_owned, exclusive_maps=DEPLOYMENT.exclusive_maps
        )
        is None
    )


def test_spec_change_patches_owned_fields_but_never_replicas() -> None:
    desired = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec(runtime={"image": "my/triton:2"})))
    live = _live_deployment()
    live["spec"]["replicas"] = 7
    patch = owned_patch(
        desired, live, not_owned=DEPLOYMENT.not_owned, exclusive_maps=DEPLOYMENT.exclusive_maps
    )
    assert patch is not None
    assert "replicas" not in patch["spec"]
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "my/triton:2"
    # Labels other tools own are left alone (merge, not replace).
    assert "argocd.argoproj.io/instance" not in patch["metadata"]["labels"]


def test_hand_edit_of_an_owned_field_is_reverted() -> None:
    desired = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec()))
    live = _live_deployment()
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "evil/image:latest"
    patch = owned_patch(desired, live, not_owned=DEPLOYMENT.not_owned)
    assert patch is not None
    assert (
        patch["spec"]["template"]["spec"]["containers"][0]["image"]
        == desired["spec"]["template"]["spec"]["containers"][0]["image"]
    )


def test_node_selector_keys_no_longer_wanted_are_removed() -> None:
    live = _live_deployment(resources={"nodeSelector": {"pool": "a", "zone": "z1"}})
    desired = DEPLOYMENT.build(
        OWNER, parse_spec(minimal_spec(resources={"nodeSelector": {"pool": "a"}}))
    )
    patch = owned_patch(
        desired, live, not_owned=DEPLOYMENT.not_owned, exclusive_maps=DEPLOYMENT.exclusive_maps
    )
    assert patch is not None
    assert patch["spec"]["template"]["spec"]["nodeSelector"] == {"pool": "a", "zone": None}


def test_service_with_cluster_ip_assigned_is_unchanged() -> None:
    desired = SERVICE.build(OWNER, parse_spec(minimal_spec()))
    live = copy.deepcopy(desired)
    live["spec"]["clusterIP"] = "10.0.0.12"
    live["spec"]["ports"][0]["targetPort"] = "http"
    assert owned_patch(desired, live) is None


def test_a_priority_or_runtime_class_no_longer_set_is_removed() -> None:
    live = _live_deployment(
        resources={"priorityClassName": "inference-high"}, runtime={"runtimeClassName": "nvidia"}
    )
    desired = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec()))
    patch = owned_patch(desired, live, optional_fields=DEPLOYMENT.optional_fields)
    assert patch is not None
    pod = patch["spec"]["template"]["spec"]
    assert (pod["priorityClassName"], pod["runtimeClassName"]) == (None, None)
    # Still set: nothing to write.
    kept = DEPLOYMENT.build(
        OWNER,
        parse_spec(
            minimal_spec(
                resources={"priorityClassName": "inference-high"},
                runtime={"runtimeClassName": "nvidia"},
            )
        ),
    )
    assert owned_patch(kept, live, optional_fields=DEPLOYMENT.optional_fields) is None
