"""Where model pods may run: GPU nodes as real clusters label them.

A GPU pod asks for the ``nvidia.com/gpu`` resource (the NVIDIA device plugin), tolerates
the ``nvidia.com/gpu`` taint that GPU node pools commonly carry, and selects the GPU model
through a node label: by default GPU Feature Discovery's ``nvidia.com/gpu.product``.
``resources.nodeSelector`` replaces the model selection entirely.
"""

from __future__ import annotations

from typing import Any

from gpufleet.domain.manifests.context import GFD_PRODUCT_LABEL
from gpufleet.domain.spec import ResourcesSpec

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_TOLERATION: dict[str, Any] = {
    "key": GPU_RESOURCE,
    "operator": "Exists",
    "effect": "NoSchedule",
}

# GFD's product label is the GPU's name as nvidia-smi prints it, spaces turned to dashes.
# Names that do not follow "NVIDIA-<model upper-cased>" are listed; a gpuType may stand
# for several products (the same chip in SXM and PCIe boards, with the same memory).
GFD_PRODUCTS: dict[str, tuple[str, ...]] = {
    "nvidia-t4": ("Tesla-T4",),
    "nvidia-tesla-t4": ("Tesla-T4",),
    "nvidia-a100": ("NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB"),
    "nvidia-tesla-a100": ("NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB"),
    "nvidia-a100-80gb": ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"),
    "nvidia-h100": ("NVIDIA-H100-80GB-HBM3",),
    "nvidia-h100-80gb": ("NVIDIA-H100-80GB-HBM3",),
    "nvidia-h100-mega-80gb": ("NVIDIA-H100-80GB-HBM3",),
    "nvidia-h200": ("NVIDIA-H200",),
    "nvidia-h200-141gb": ("NVIDIA-H200",),
}


def gfd_products(gpu_type: str) -> tuple[str, ...]:
    """GFD product names for a gpuType: the table, else ``NVIDIA-<MODEL>``.

    The fallback is how GFD names current NVIDIA data-centre GPUs (``nvidia-l4`` ->
    ``NVIDIA-L4``, ``nvidia-b200`` -> ``NVIDIA-B200``); a wrong guess leaves pods
    Pending with the scheduler's message, and ``resources.nodeSelector`` overrides it.
    """
    if gpu_type in GFD_PRODUCTS:
        return GFD_PRODUCTS[gpu_type]
    model = gpu_type.removeprefix("nvidia-")
    return (f"NVIDIA-{model.upper()}",)


def gpu_model_values(gpu_type: str, label_key: str) -> tuple[str, ...]:
    """Values of ``label_key`` that a node with this gpuType carries."""
    if label_key == GFD_PRODUCT_LABEL:
        return gfd_products(gpu_type)
    return (gpu_type,)


def pod_scheduling(resources: ResourcesSpec, gpu_node_label: str) -> dict[str, Any]:
    """``nodeSelector``, ``affinity``, ``tolerations`` and ``priorityClassName`` of a
    model pod."""
    tolerations = [t.to_wire() for t in resources.tolerations]
    out: dict[str, Any] = {}
    if resources.priority_class_name:
        out["priorityClassName"] = resources.priority_class_name
    if resources.node_selector:  # an empty map is not stored: it would always differ
        out["nodeSelector"] = dict(resources.node_selector)
    if resources.gpus:
        if GPU_TAINT_TOLERATION not in tolerations:
            tolerations.append(dict(GPU_TAINT_TOLERATION))
        if not resources.node_selector and gpu_node_label:
            values = gpu_model_values(resources.gpu_type, gpu_node_label)
            term = {"key": gpu_node_label, "operator": "In", "values": list(values)}
            out["affinity"] = {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [term]}]
                    }
                }
            }
    out["tolerations"] = tolerations
    return out
