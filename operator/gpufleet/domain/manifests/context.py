"""What the operator knows beyond the spec when it builds a child."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

GFD_PRODUCT_LABEL = "nvidia.com/gpu.product"
"""The node label NVIDIA GPU Feature Discovery sets to the GPU's product name."""


@dataclass(frozen=True, slots=True)
class BuildContext:
    """Operator settings and live facts a child depends on (all pure data)."""

    gpu_node_label: str = GFD_PRODUCT_LABEL
    """Node label that names a node's GPU model (the operator's setting). With GPU
    Feature Discovery's ``nvidia.com/gpu.product`` the gpuType is mapped to GFD's product
    names; with any other key (e.g. GKE's ``cloud.google.com/gke-accelerator``) the label
    value is the gpuType itself; empty selects any node with the GPU resource. GFD's label
    selects NVIDIA resources only (see ``scheduling.selects_gpu_model``)."""

    replicas: int | None = None
    """The Deployment's replica count now (the autoscaler's); None before it exists,
    then the spec's ``minReplicas`` is assumed."""

    restored_replicas: int | None = None
    """The replicas of a Deployment deleted outside gpufleet, which is being recreated:
    it starts with them (within the spec's bounds), not ``minReplicas`` -- its load has
    not gone, and with every pod gone no metric would tell the autoscaler so."""

    replica_hourly_cost: float | None = None
    """USD per hour of one replica; None when no price is known (no budget check)."""

    operator_namespace: str | None = None
    """The namespace the operator runs in (the chart sets it); None: unknown, and a
    NetworkPolicy the operator builds lets no operator pod in."""

    operator_pod_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels that select the operator's own pods in ``operator_namespace`` (empty: any
    pod there)."""
