"""GPU pods land on GPU nodes as real clusters label them, with no custom label."""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet.domain.manifests.children import DEPLOYMENT
from gpufleet.domain.manifests.context import BuildContext
from gpufleet.domain.manifests.diff import owned_patch
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
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
    patch = owned_patch(
        desired, live, not_owned=DEPLOYMENT.not_owned, exclusive_maps=DEPLOYMENT.exclusive_maps
    )
    assert patch is not None
    assert patch["spec"]["template"]["spec"]["nodeSelector"] == {"gpufleet.io/gpu-type": None}


def test_adding_a_node_selector_drops_the_product_affinity() -> None:
    live = DEPLOYMENT.build(OWNER, parse_spec(minimal_spec()))
    desired = DEPLOYMENT.build(
        OWNER, parse_spec(minimal_spec(resources={"nodeSelector": {"pool": "a"}}))
    )
    patch = owned_patch(
        desired, live, not_owned=DEPLOYMENT.not_owned, exclusive_maps=DEPLOYMENT.exclusive_maps
    )
    assert patch is not None
    assert patch["spec"]["template"]["spec"]["affinity"] == {"nodeAffinity": None}
