"""What the operator knows beyond the spec when it builds a child."""

from __future__ import annotations

from dataclasses import dataclass

GFD_PRODUCT_LABEL = "nvidia.com/gpu.product"
"""The node label NVIDIA GPU Feature Discovery sets to the GPU's product name."""


@dataclass(frozen=True, slots=True)
class BuildContext:
    """Operator settings and live facts a child depends on (all pure data)."""

    gpu_node_label: str = GFD_PRODUCT_LABEL
    """Node label that names a node's GPU model (the operator's setting). With GPU
    Feature Discovery's ``nvidia.com/gpu.product`` the gpuType is mapped to GFD's product
    names; with any other key (e.g. GKE's ``cloud.google.com/gke-accelerator``) the label
    value is the gpuType itself; empty selects any node with ``nvidia.com/gpu``."""

    replicas: int | None = None
    """The Deployment's replica count now (the autoscaler's); None before it exists,
    then the spec's ``minReplicas`` is assumed."""

    replica_hourly_cost: float | None = None
    """USD per hour of one replica; None when no price is known (no budget check)."""
