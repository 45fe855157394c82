"""``spec.resources``: what one replica requests (GPUs, CPU, memory) and where it may run."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from gpufleet.domain.k8s_shapes import (
    DNS_LABEL,
    EXTENDED_RESOURCE_MAX,
    EXTENDED_RESOURCE_RULE,
    NOT_AN_EXTENDED_RESOURCE,
    QUALIFIED_NAME,
    QUALIFIED_NAME_MAX,
    QUALIFIED_NAME_RULE,
    LabelValue,
    ObjectName,
    Quantity,
    extended_resource_name,
    label_keys,
    qualified_name,
)
from gpufleet.domain.manifests.identity import OWNER_LABEL
from gpufleet.domain.spec.messages import MIG_ONE_PER_REPLICA
from gpufleet.domain.wire import WireModel

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
"""The extended resource NVIDIA's device plugin advertises a whole GPU as."""

MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
"""The extended resources NVIDIA's device plugin advertises MIG slices as (mixed strategy):
nvidia.com/mig-1g.10gb, nvidia.com/mig-3g.40gb."""

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


_INT32_MAX = 2**31 - 1
_MIN_DOMAINS_NEED_DO_NOT_SCHEDULE = (
    "minDomains may only be set when whenUnsatisfiable is DoNotSchedule"
)
_SELECTOR_KEY_MATCHED = (
    f"matchLabelKeys may not hold {OWNER_LABEL}: the labelSelector the operator sets already "
    "selects by it"
)
_SPREAD_REPEATED = (
    "two constraints with one topologyKey and whenUnsatisfiable: the API server takes at most "
    "one of each pair"
)

QualifiedName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=QUALIFIED_NAME_MAX,
        # Checked by qualified_name here (which says what one is), by the CRD there.
        json_schema_extra={
            "pattern": QUALIFIED_NAME,
            "x-kubernetes-validations": [
                {"rule": QUALIFIED_NAME_RULE, "message": "the prefix is over 253 characters"}
            ],
        },
    ),
    AfterValidator(qualified_name),
]
"""A label key or topology key: [prefix/]name."""


class TopologySpreadConstraint(WireModel):
    """A pod's TopologySpreadConstraint; its labelSelector is the operator's (the fleet's pods)."""

    # Kubernetes' type, the fields a user writes, checked as the API server checks a pod's
    # (CEL here, validators below), so a wrong one is refused on the ModelDeployment, naming
    # the field, not on its Deployment. The labelSelector is this ModelDeployment's pod
    # selector, which the user need not know; matchLabelKeys narrows it further.
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.minDomains) || self.whenUnsatisfiable == 'DoNotSchedule'",
                    "message": _MIN_DOMAINS_NEED_DO_NOT_SCHEDULE,
                }
            ]
        }
    )

    max_skew: Annotated[
        int,
        Field(
            ge=1,
            le=_INT32_MAX,
            description=(
                "How many more of the fleet's pods one domain (a node, a zone) may hold than "
                "the emptiest."
            ),
        ),
    ]
    topology_key: Annotated[
        QualifiedName,
        Field(
            description=(
                "The node label whose values are the domains: kubernetes.io/hostname (nodes), "
                "topology.kubernetes.io/zone (zones)."
            )
        ),
    ]
    when_unsatisfiable: Annotated[
        Literal["DoNotSchedule", "ScheduleAnyway"],
        Field(
            description=(
                "DoNotSchedule: a pod that would exceed maxSkew stays Pending (a hard rule). "
                "ScheduleAnyway: the scheduler prefers the spread but places the pod anyway."
            )
        ),
    ]
    min_domains: Annotated[
        int | None,
        Field(
            default=None,
            ge=1,
            le=_INT32_MAX,
            description=(
                "DoNotSchedule only: while fewer domains than this have eligible nodes, the "
                "emptiest counts as holding none, so each holds at most maxSkew pods and the "
                "rest wait (Pending) for a node autoscaler to open more domains."
            ),
        ),
    ] = None
    node_affinity_policy: Annotated[
        Literal["Honor", "Ignore"] | None,
        Field(
            default=None,
            description=(
                "Honor (Kubernetes' default): only nodes the pod's nodeSelector and affinity "
                "allow count as domains. Ignore: every node counts."
            ),
        ),
    ] = None
    node_taints_policy: Annotated[
        Literal["Honor", "Ignore"] | None,
        Field(
            default=None,
            description=(
                "Honor: nodes whose taints the pod does not tolerate do not count as domains. "
                "Ignore (Kubernetes' default): every node counts."
            ),
        ),
    ] = None
    match_label_keys: Annotated[
        list[QualifiedName] | None,
        Field(
            default=None,
            max_length=8,
            description=(
                "Pod label keys whose values, the new pod's, narrow the spread to pods that "
                "share them: [pod-template-hash] spreads each rollout's new pods on their own."
            ),
            json_schema_extra={
                "x-kubernetes-validations": [
                    {"rule": f"!('{OWNER_LABEL}' in self)", "message": _SELECTOR_KEY_MATCHED}
                ]
            },
        ),
    ] = None

    @field_validator("match_label_keys")
    @classmethod
    def _not_the_selector_key(cls, keys: list[str] | None) -> list[str] | None:
        if OWNER_LABEL in (keys or ()):
            raise ValueError(_SELECTOR_KEY_MATCHED)
        return keys

    @model_validator(mode="after")
    def _as_the_api_server(self) -> TopologySpreadConstraint:
        if self.min_domains is not None and self.when_unsatisfiable != "DoNotSchedule":
            raise ValueError(_MIN_DOMAINS_NEED_DO_NOT_SCHEDULE)
        return self


class ResourcesSpec(WireModel):
    gpus: Annotated[
        int,
        Field(
            ge=0,
            le=16,
            description="GPUs per replica (units of gpuResource; at most 1 of a MIG slice).",
        ),
    ] = 1
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
    gpu_resource: Annotated[
        str,
        Field(
            max_length=EXTENDED_RESOURCE_MAX,
            description=(
                "The extended resource a replica asks gpus of: nvidia.com/gpu (NVIDIA's device "
                "plugin), a MIG slice under its mixed strategy (nvidia.com/mig-1g.10gb), "
                "amd.com/gpu, gpu.intel.com/i915. The price is still gpuType's; a resource "
                "outside nvidia.com is not selected by GPU Feature Discovery's label (no such "
                "label on its nodes): narrow the nodes with nodeSelector."
            ),
            json_schema_extra={
                "x-kubernetes-validations": [
                    {"rule": EXTENDED_RESOURCE_RULE, "message": NOT_AN_EXTENDED_RESOURCE}
                ]
            },
        ),
    ] = DEFAULT_GPU_RESOURCE
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
            description=(
                "Extra tolerations (with gpus, the nvidia.com/gpu taint and one named as "
                "gpuResource are always tolerated)."
            ),
        ),
    ]
    _node_label_keys = field_validator("node_selector")(label_keys)
    _gpu_resource = field_validator("gpu_resource")(extended_resource_name)

    topology_spread_constraints: Annotated[
        list[TopologySpreadConstraint] | None,
        Field(
            default=None,
            max_length=8,
            description=(
                "How the replicas spread over nodes and zones, so that losing one takes only "
                "part of the fleet; the operator selects this fleet's pods in each. Unset: a "
                "soft spread over nodes (maxSkew 1 on kubernetes.io/hostname, ScheduleAnyway). "
                "Set, these replace it (as a pod's own constraints replace the scheduler's "
                "defaults); [] sets none."
            ),
            json_schema_extra={
                "x-kubernetes-validations": [
                    {
                        "rule": "self.all(c, self.exists_one(d, d.topologyKey == c.topologyKey "
                        "&& d.whenUnsatisfiable == c.whenUnsatisfiable))",
                        "message": _SPREAD_REPEATED,
                    }
                ]
            },
        ),
    ] = None

    @field_validator("topology_spread_constraints")
    @classmethod
    def _one_of_each_pair(
        cls, constraints: list[TopologySpreadConstraint] | None
    ) -> list[TopologySpreadConstraint] | None:
        pairs = [(c.topology_key, c.when_unsatisfiable) for c in constraints or ()]
        if len(set(pairs)) != len(pairs):
            raise ValueError(_SPREAD_REPEATED)
        return constraints

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

    @model_validator(mode="after")
    def _one_mig_slice(self) -> ResourcesSpec:
        # A CUDA process enumerates one MIG instance, and NCCL does not run across instances:
        # a replica of two slices would start vLLM with --tensor-parallel-size=2, which fails.
        # Twinned by a CEL rule in cel_rules.py (the spec's, as it names resources.gpus).
        if self.gpu_resource.startswith(MIG_RESOURCE_PREFIX) and self.gpus > 1:
            raise ValueError(MIG_ONE_PER_REPLICA)
        return self
