"""The ``ModelDeployment`` spec: pydantic models are the single source of truth.

The CRD's OpenAPI schema is generated from these models (``gpufleet.domain.crd``),
so every default, enum and minimum lives here once. Field names are camelCase on
the wire and snake_case in Python.

One module per part: ``model``, ``runtime``, ``resources``, ``targets`` (slo and cost),
``scaling``, ``rollout`` and ``network_policy`` hold the sections; ``deployment`` the
whole spec and the rules that span its sections; ``messages`` those rules' messages,
``cel_rules`` their CEL twins in the CRD; ``server_flags`` the flags the operator owns;
``name`` the rules on ``metadata.name``; ``parse`` and ``errors`` the boundary.
Importers use this package, which re-exports every public name.
"""

from gpufleet.domain.spec.cel_rules import CEL_RULES
from gpufleet.domain.spec.deployment import (
    BUDGET_EPSILON,
    ModelDeploymentSpec,
    affords,
    downloads_model,
    replica_units,
    replicas_to_afford,
)
from gpufleet.domain.spec.errors import SpecError
from gpufleet.domain.spec.model import (
    FETCHED_SCHEMES,
    MAX_BATCH_SIZE_LIMIT,
    REPOSITORY_SCHEMES,
    ModelCacheSpec,
    ModelSpec,
    SecretKey,
)
from gpufleet.domain.spec.name import (
    NAME_MAX,
    NAME_PATTERN,
    NAME_RULES,
    NAMESPACE_NAME,
    check_name,
    check_namespace,
)
from gpufleet.domain.spec.network_policy import NetworkPolicySpec
from gpufleet.domain.spec.parse import parse_spec
from gpufleet.domain.spec.resources import ResourcesSpec, Toleration
from gpufleet.domain.spec.rollout import RolloutSpec
from gpufleet.domain.spec.runtime import (
    DEFAULT_IMAGES,
    RuntimeSpec,
    RuntimeType,
    TorchMode,
    TorchSpec,
)
from gpufleet.domain.spec.scaling import (
    MIN_AUTO_SCALE_DOWN_WINDOW_S,
    ActivationSpec,
    MetricsLossBehavior,
    ScalingSpec,
)
from gpufleet.domain.spec.server_flags import RESERVED_SERVER_FLAGS, TORCH_OWNED_FLAGS
from gpufleet.domain.spec.targets import CostSpec, SLOSpec

__all__ = [
    "BUDGET_EPSILON",
    "CEL_RULES",
    "DEFAULT_IMAGES",
    "FETCHED_SCHEMES",
    "MAX_BATCH_SIZE_LIMIT",
    "MIN_AUTO_SCALE_DOWN_WINDOW_S",
    "NAMESPACE_NAME",
    "NAME_MAX",
    "NAME_PATTERN",
    "NAME_RULES",
    "REPOSITORY_SCHEMES",
    "RESERVED_SERVER_FLAGS",
    "TORCH_OWNED_FLAGS",
    "ActivationSpec",
    "CostSpec",
    "MetricsLossBehavior",
    "ModelCacheSpec",
    "ModelDeploymentSpec",
    "ModelSpec",
    "NetworkPolicySpec",
    "ResourcesSpec",
    "RolloutSpec",
    "RuntimeSpec",
    "RuntimeType",
    "SLOSpec",
    "ScalingSpec",
    "SecretKey",
    "SpecError",
    "Toleration",
    "TorchMode",
    "TorchSpec",
    "affords",
    "check_name",
    "check_namespace",
    "downloads_model",
    "parse_spec",
    "replica_units",
    "replicas_to_afford",
]
