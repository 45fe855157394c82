"""GPU pods land on GPU nodes as real clusters label them, with no custom label."""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet.domain.manifests.children import DEPLOYMENT
from gpufleet.domain.manifests.context import BuildContext
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from gpufleet_devtools.apiserver.patching import merge_patch
from tests.operator.specs import minimal_spec

OWNER = Owner("demo", "ml", "uid-1")
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _pod(resources: dict[str, Any], context: BuildContext | None = None) -> dict[str, Any]:
    deployment = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec(resources=resources)), context)
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def _required_terms(pod: dict[str, Any]) -> list[dict[str, Any]]:
    affinity = pod.get("affinity", {}).get("nodeAffinity", {})
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution", {})
    return [e for term in required.get("nodeSelectorTerms", []) for e in term["matchExpressions"]]


# Product names as GPU Feature Discovery labels nodes (nvidia-smi's name, dashes for spaces).
GFD_CASES = [
    ("nvidia-l4", ["NVIDIA-L4"]),
    ("nvidia-t4", ["Tesla-T4"]),
    ("nvidia-a10g", ["NVIDIA-A10G"]),
    ("nvidia-l40s", ["NVIDIA-L40S"]),
    ("nvidia-h100-80gb", ["NVIDIA-H100-80GB-HBM3"]),
    ("nvidia-h100", ["NVIDIA-H100-80GB-HBM3"]),
    ("nvidia-a100", ["NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB"]),
    ("nvidia-a100-80gb", ["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"]),
    ("nvidia-h200", ["NVIDIA-H200"]),
    ("nvidia-b200", ["NVIDIA-B200"]),
]


@pytest.mark.parametrize(("gpu_type", "products"), GFD_CASES)
def test_gpu_type_selects_gpu_feature_discovery_products(
    gpu_type: str, products: list[str]
) -> None:
    pod = _pod({"gpuType": gpu_type})
    assert _required_terms(pod) == [
        {"key": "nvidia.com/gpu.product", "operator": "In", "values": products}
    ]
    assert "nodeSelector" not in pod
    assert GPU_TOLERATION in pod["tolerations"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_another_label_key_carries_the_gpu_type_itself() -> None:
    context = BuildContext(gpu_node_label="cloud.google.com/gke-accelerator")
    pod = _pod({"gpuType": "nvidia-l4"}, context)
    assert _required_terms(pod) == [
        {"key": "cloud.google.com/gke-accelerator", "operator": "In", "values": ["nvidia-l4"]}
    ]


def test_no_label_key_means_any_gpu_node() -> None:
    pod = _pod({"gpuType": "nvidia-l4"}, BuildContext(gpu_node_label=""))
    assert "affinity" not in pod
    assert GPU_TOLERATION in pod["tolerations"]


def test_node_selector_overrides_the_gpu_model_selection() -> None:
    pod = _pod({"gpuType": "nvidia-l4", "nodeSelector": {"pool": "inference-l4"}})
    assert pod["nodeSelector"] == {"pool": "inference-l4"}
    assert "affinity" not in pod
    assert GPU_TOLERATION in pod["tolerations"]


def test_user_toleration_for_the_gpu_taint_is_not_repeated() -> None:
    pod = _pod({"tolerations": [GPU_TOLERATION]})
    assert pod["tolerations"] == [GPU_TOLERATION]


def test_cpu_only_pods_neither_select_nor_tolerate_gpu_nodes() -> None:
    pod = _pod({"gpus": 0, "gpuType": "cpu"})
    assert "affinity" not in pod
    assert "nodeSelector" not in pod
    assert pod["tolerations"] == []
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]


def test_upgrade_removes_the_old_custom_label_selector() -> None:
    """Deployments made by earlier versions selected gpufleet.io/gpu-type; that must go."""
    desired = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec()))
    live = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec()))
    live["spec"]["template"]["spec"]["nodeSelector"] = {"gpufleet.io/gpu-type": "nvidia-l4"}
    patch = DEPLOYMENT.patch(desired, live)
    assert patch is not None
    assert patch["spec"]["template"]["spec"]["nodeSelector"] == {"gpufleet.io/gpu-type": None}


def test_adding_a_node_selector_drops_the_product_affinity() -> None:
    live = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec()))
    desired = DEPLOYMENT.build(
        OWNER, parse_spec(minimal_spec(resources={"nodeSelector": {"pool": "a"}}))
    )
    patch = DEPLOYMENT.patch(desired, live)
    assert patch is not None
    assert patch["spec"]["template"]["spec"]["affinity"] == {"nodeAffinity": None}


# resources.gpuResource: MIG slices, other vendors' GPUs.


def _tolerated(pod: dict[str, Any]) -> list[str]:
    return [t["key"] for t in pod["tolerations"]]


def test_a_mig_slice_is_asked_for_by_its_resource_on_its_gpus_nodes() -> None:
    """The device plugin's mixed strategy: a slice is a resource of its own, and GFD's
    product label stays the whole GPU's, so gpuType still selects the nodes."""
    pod = _pod({"gpuType": "nvidia-a100-80gb", "gpuResource": "nvidia.com/mig-1g.10gb"})
    assert pod["containers"][0]["resources"]["limits"] == {
        "memory": "8Gi",
        "nvidia.com/mig-1g.10gb": 1,
    }
    assert _required_terms(pod) == [
        {
            "key": "nvidia.com/gpu.product",
            "operator": "In",
            "values": ["NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"],
        }
    ]
    assert _tolerated(pod) == ["nvidia.com/gpu", "nvidia.com/mig-1g.10gb"]


def test_another_vendors_gpu_is_not_required_to_carry_gfds_label() -> None:
    """GPU Feature Discovery labels NVIDIA nodes only: requiring its label would leave an
    AMD pod Pending for ever. The resource itself keeps it to nodes with that device."""
    resources = {"gpuType": "amd-mi300x", "gpuResource": "amd.com/gpu", "gpus": 2}
    pod = _pod(resources)
    assert "affinity" not in pod
    assert pod["containers"][0]["resources"]["limits"]["amd.com/gpu"] == 2
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]
    # The GPU pools' usual taint, and the one named as the resource.
    assert _tolerated(pod) == ["nvidia.com/gpu", "amd.com/gpu"]
    # A label that carries the gpuType itself is any vendor's: it still selects.
    custom = _pod(resources, BuildContext(gpu_node_label="example.com/gpu-type"))
    assert _required_terms(custom) == [
        {"key": "example.com/gpu-type", "operator": "In", "values": ["amd-mi300x"]}
    ]
    # A node selector picks the model, as for NVIDIA.
    chosen = _pod(
        {**resources, "nodeSelector": {"amd.com/gpu.product-name": "AMD_Instinct_MI300X_OAM"}}
    )
    assert chosen["nodeSelector"] == {"amd.com/gpu.product-name": "AMD_Instinct_MI300X_OAM"}


def test_a_users_toleration_of_the_resource_taint_is_not_repeated() -> None:
    mine = {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    pod = _pod({"gpuResource": "amd.com/gpu", "tolerations": [mine]})
    assert pod["tolerations"] == [mine, GPU_TOLERATION]


def test_cpu_only_pods_of_another_resource_ask_for_none() -> None:
    pod = _pod({"gpus": 0, "gpuType": "cpu", "gpuResource": "amd.com/gpu"})
    assert pod["tolerations"] == []
    assert "amd.com/gpu" not in pod["containers"][0]["resources"]["limits"]


# resources.topologySpreadConstraints


FLEET = {"matchLabels": {"gpufleet.io/modeldeployment": "demo"}}
DEFAULT_SPREAD = [
    {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": FLEET,
    }
]
ZONES = {
    "maxSkew": 1,
    "topologyKey": "topology.kubernetes.io/zone",
    "whenUnsatisfiable": "DoNotSchedule",
    "minDomains": 3,
    "nodeAffinityPolicy": "Honor",
    "nodeTaintsPolicy": "Honor",
    "matchLabelKeys": ["pod-template-hash"],
}


def test_unset_the_replicas_spread_softly_over_nodes() -> None:
    assert _pod({})["topologySpreadConstraints"] == DEFAULT_SPREAD


def test_spread_constraints_replace_the_default_and_count_the_fleets_pods() -> None:
    hosts = {
        "maxSkew": 2,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
    }
    pod = _pod({"topologySpreadConstraints": [ZONES, hosts]})
    assert pod["topologySpreadConstraints"] == [
        {**ZONES, "labelSelector": FLEET},
        {**hosts, "labelSelector": FLEET},
    ]


def _patch(live_resources: dict[str, Any], desired_resources: dict[str, Any]) -> Any:
    live = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec(resources=live_resources)))
    desired = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec(resources=desired_resources)))
    patch = DEPLOYMENT.patch(desired, live)
    return live, patch


def test_spread_constraints_taken_out_of_the_spec_leave_the_deployment() -> None:
    # Unset again: the default replaces the zones.
    _, patch = _patch({"topologySpreadConstraints": [ZONES]}, {})
    assert patch["spec"]["template"]["spec"]["topologySpreadConstraints"] == DEFAULT_SPREAD
    # None at all ([]): the field is removed, not left as it was.
    live, patch = _patch({"topologySpreadConstraints": [ZONES]}, {"topologySpreadConstraints": []})
    assert patch["spec"]["template"]["spec"]["topologySpreadConstraints"] is None
    assert "topologySpreadConstraints" not in merge_patch(live, patch)["spec"]["template"]["spec"]
    # And once gone, nothing more to write.
    none = {"topologySpreadConstraints": []}
    assert _patch(none, none)[1] is None
