"""Where model pods may run: GPU nodes as real clusters label them, spread over them.

A GPU pod asks for ``resources.gpuResource`` (``nvidia.com/gpu``, the NVIDIA device
plugin's, by default), tolerates the ``nvidia.com/gpu`` taint that GPU node pools commonly
carry, and selects the GPU model through a node label: by default GPU Feature Discovery's
``nvidia.com/gpu.product``. ``resources.nodeSelector`` replaces the model selection
entirely. The replicas spread over nodes (``resources.topologySpreadConstraints``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpufleet.domain.manifests.context import GFD_PRODUCT_LABEL
from gpufleet.domain.spec import ResourcesSpec

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_TOLERATION: dict[str, Any] = {
    "key": GPU_RESOURCE,
    "operator": "Exists",
    "effect": "NoSchedule",
}

DEFAULT_SPREAD: tuple[dict[str, Any], ...] = (
    {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"},
)
"""The spread of a spec that sets none: soft, over nodes -- what every Deployment got
before the spec could say, kept so that upgrading the operator changes no fleet's pod
template (which would roll every GPU pod, a cold start each). Soft, so that a fleet with
more replicas than GPU nodes, or a cluster of one, still runs them all. A spread over
zones is the user's to ask for: a hard one leaves pods Pending where a zone has no free
GPU (GPUs are often in few zones), and the cost of that is the user's to judge."""

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


def gpu_tolerations(gpu_resource: str) -> list[dict[str, Any]]:
    """The taints a GPU pod tolerates whatever its spec says.

    ``nvidia.com/gpu`` (NoSchedule) always, for every vendor: it is the taint GPU node pools
    commonly carry (GKE puts it on every GPU pool; NVIDIA's and the clouds' guides use it),
    MIG nodes included; on a pod of another vendor's resource it is harmless -- a toleration
    only permits, and a node without that resource cannot take the pod anyway. And one keyed by
    the resource itself when it is another: the convention of Kubernetes'
    ExtendedResourceToleration admission plugin (a node with an extended resource tainted
    by its name), which adds the same toleration where it is enabled.
    """
    tolerations = [dict(GPU_TAINT_TOLERATION)]
    if gpu_resource != GPU_RESOURCE:
        tolerations.append({**GPU_TAINT_TOLERATION, "key": gpu_resource})
    return tolerations


def selects_gpu_model(gpu_resource: str, gpu_node_label: str) -> bool:
    """Whether pods of ``gpu_resource`` select their GPU model through ``gpu_node_label``.

    GPU Feature Discovery labels NVIDIA nodes only: a pod of ``amd.com/gpu`` or
    ``gpu.intel.com/i915`` required to match ``nvidia.com/gpu.product`` would never be
    placed. Such a pod selects no model by that label; its resource request alone keeps it
    to nodes with that device, and ``resources.nodeSelector`` narrows them to a model (AMD's
    node labeller, Intel's NFD rules). MIG slices (``nvidia.com/mig-*``, the mixed strategy)
    keep the selection: under that strategy GFD's product label stays the whole GPU's. Any
    other label (the operator's setting) carries the gpuType itself, whatever the vendor;
    an empty one selects nothing, as for NVIDIA.
    """
    if not gpu_node_label:
        return False
    return gpu_node_label != GFD_PRODUCT_LABEL or gpu_resource.startswith("nvidia.com/")


def topology_spread(
    resources: ResourcesSpec, pod_selector: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The pods' ``topologySpreadConstraints``: the spec's, else :data:`DEFAULT_SPREAD`,
    each counting this fleet's pods (its selector labels, which the user need not know)."""
    spread = resources.topology_spread_constraints
    constraints = DEFAULT_SPREAD if spread is None else [c.to_wire() for c in spread]
    return [{**c, "labelSelector": {"matchLabels": dict(pod_selector)}} for c in constraints]


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
        for toleration in gpu_tolerations(resources.gpu_resource):
            if toleration not in tolerations:
                tolerations.append(toleration)
        if not resources.node_selector and selects_gpu_model(
            resources.gpu_resource, gpu_node_label
        ):
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
