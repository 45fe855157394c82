"""``spec.resources``: what one replica requests (GPUs, CPU, memory) and where it may run."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gpufleet.domain.k8s_shapes import DNS_LABEL, QUANTITY
from gpufleet.domain.wire import WireModel


class Toleration(WireModel):
    key: str | None = None
    operator: Annotated[str | None, Field(default=None, pattern=r"^(Exists|Equal)$")] = None
    value: str | None = None
    effect: Annotated[
        str | None, Field(default=None, pattern=r"^(NoSchedule|PreferNoSchedule|NoExecute)$")
    ] = None
    toleration_seconds: int | None = None


class ResourcesSpec(WireModel):
    gpus: Annotated[int, Field(ge=0, le=16, description="GPUs per replica (nvidia.com/gpu).")] = 1
    gpu_type: Annotated[
        str,
        Field(
            min_length=1,
            max_length=63,
            pattern=DNS_LABEL,
            description=(
                "GPU model, e.g. nvidia-l4: its price in the operator's catalog, and the nodes "
                "pods may run on (through the operator's GPU node label: GPU Feature "
                "Discovery's nvidia.com/gpu.product by default, nvidia-l4 -> NVIDIA-L4)."
            ),
        ),
    ] = "nvidia-l4"
    cpu: Annotated[str, Field(pattern=QUANTITY, description="CPU request per replica.")] = "2"
    memory: Annotated[str, Field(pattern=QUANTITY, description="Memory request and limit.")] = "8Gi"
    node_selector: Annotated[
        dict[str, str],
        Field(
            default_factory=dict,
            description="Node labels the pods require; replaces the selection by gpuType.",
        ),
    ]
    tolerations: Annotated[
        list[Toleration],
        Field(
            default_factory=list,
            max_length=32,
            description="Extra tolerations (the nvidia.com/gpu taint is always tolerated).",
        ),
    ]
