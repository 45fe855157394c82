"""``spec.resources``: what one replica requests (GPUs, CPU, memory) and where it may run."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from gpufleet.domain.k8s_shapes import (
    DNS_LABEL,
    QUALIFIED_NAME,
    QUALIFIED_NAME_MAX,
    LabelValue,
    ObjectName,
    Quantity,
    label_keys,
)
from gpufleet.domain.wire import WireModel

_KEYLESS_NEEDS_EXISTS = "operator must be Exists when key is empty (it tolerates every taint)"
_EXISTS_HAS_NO_VALUE = "value must be empty when operator is Exists"
_SECONDS_NEED_NO_EXECUTE = "effect must be NoExecute when tolerationSeconds is set"


class Toleration(WireModel):
    """A pod toleration."""

    # The API server's rules on a pod's tolerations, twice (CEL in the CRD, and here): a
    # wrong one is refused on the ModelDeployment, not later on its Deployment.
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.key) && self.key != '') || "
                    "(has(self.operator) && self.operator == 'Exists')",
                    "message": _KEYLESS_NEEDS_EXISTS,
                },
                {
                    "rule": "!has(self.operator) || self.operator != 'Exists' || "
                    "!has(self.value) || self.value == ''",
                    "message": _EXISTS_HAS_NO_VALUE,
                },
                {
                    "rule": "!has(self.tolerationSeconds) || "
                    "(has(self.effect) && self.effect == 'NoExecute')",
                    "message": _SECONDS_NEED_NO_EXECUTE,
                },
            ]
        }
    )

    key: Annotated[
        str | None,
        Field(default=None, max_length=QUALIFIED_NAME_MAX, pattern=f"^$|{QUALIFIED_NAME}"),
    ] = None
    operator: Annotated[str | None, Field(default=None, pattern=r"^(Exists|Equal)$")] = None
    value: LabelValue | None = None
    effect: Annotated[
        str | None, Field(default=None, pattern=r"^(NoSchedule|PreferNoSchedule|NoExecute)$")
    ] = None
    toleration_seconds: int | None = None

    @model_validator(mode="after")
    def _as_the_api_server(self) -> Toleration:
        if not self.key and self.operator != "Exists":
            raise ValueError(_KEYLESS_NEEDS_EXISTS)
        if self.operator == "Exists" and self.value:
            raise ValueError(_EXISTS_HAS_NO_VALUE)
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError(_SECONDS_NEED_NO_EXECUTE)
        return self


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
    cpu: Annotated[Quantity, Field(description="CPU request per replica.")] = "2"
    memory: Annotated[Quantity, Field(description="Memory request and limit.")] = "8Gi"
    # Values are label values, as on a pod (the CRD checks them); keys are checked by the
    # operator only (label_keys).
    node_selector: Annotated[
        dict[str, LabelValue],
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
    _node_label_keys = field_validator("node_selector")(label_keys)

    priority_class_name: Annotated[
        ObjectName | None,
        Field(
            default=None,
            description=(
                "PriorityClass of the model pods: a high one lets them preempt batch jobs "
                "for GPUs, so that a scale-up is not left Pending behind training."
            ),
        ),
    ] = None
