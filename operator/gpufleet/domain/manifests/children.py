"""All children of a ModelDeployment, by kind: one reconciler per kind uses these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpufleet.domain.manifests.context import BuildContext
from gpufleet.domain.manifests.deployment import build_deployment
from gpufleet.domain.manifests.diff import owned_patch
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.manifests.network_policy import build_network_policy, wants_network_policy
from gpufleet.domain.manifests.pdb import build_pdb
from gpufleet.domain.manifests.service import build_service
from gpufleet.domain.spec import ModelDeploymentSpec


@dataclass(frozen=True, slots=True)
class ChildKind:
    """A kind of child: how to address it and which fields the operator owns."""

    api_version: str
    kind: str
    plural: str
    builder: Callable[[Owner, ModelDeploymentSpec, BuildContext], dict[str, Any]]
    not_owned: tuple[tuple[str, ...], ...] = ()
    """Paths the operator sets on create only (then another owner takes over)."""
    exclusive_maps: tuple[tuple[str, ...], ...] = ()
    """Maps the operator owns whole: keys it no longer sets are removed."""
    optional_fields: tuple[tuple[tuple[str, ...], ...], ...] = ()
    """Fields the operator sets for some specs only, each with the paths where the API
    server mirrors it: removed, mirrors too, when no longer set."""
    wanted: Callable[[ModelDeploymentSpec], bool] = lambda _spec: True
    """Whether the spec asks for this child; when not, an existing one is deleted."""

    def build(
        self, owner: Owner, spec: ModelDeploymentSpec, context: BuildContext | None = None
    ) -> dict[str, Any]:
        """The desired child (``context``: operator settings and live facts; defaults)."""
        return self.builder(owner, spec, context or BuildContext())

    def patch(self, desired: dict[str, Any], live: dict[str, Any]) -> dict[str, Any] | None:
        """The merge patch that brings ``live``'s owned fields to ``desired`` (None: none)."""
        return owned_patch(
            desired,
            live,
            not_owned=self.not_owned,
            exclusive_maps=self.exclusive_maps,
            optional_fields=self.optional_fields,
        )

    @property
    def group(self) -> str:
        return self.api_version.rsplit("/", 1)[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.rsplit("/", 1)[-1]


def _deployment(owner: Owner, spec: ModelDeploymentSpec, context: BuildContext) -> dict[str, Any]:
    return build_deployment(owner, spec, initial_replicas(spec, context.restored_replicas), context)


def _ignoring_context(
    build: Callable[[Owner, ModelDeploymentSpec], dict[str, Any]],
) -> Callable[[Owner, ModelDeploymentSpec, BuildContext], dict[str, Any]]:
    return lambda owner, spec, _context: build(owner, spec)


def initial_replicas(spec: ModelDeploymentSpec, restored: int | None = None) -> int:
    """Replicas a new Deployment starts with, before the autoscaler has measured anything;
    ``restored``: those of the one deleted outside gpufleet that it replaces."""
    scaling = spec.scaling
    if restored is None:
        return scaling.min_replicas
    return min(max(restored, scaling.min_replicas), scaling.max_replicas)


_POD = ("spec", "template", "spec")
"""The Deployment's pod template's spec."""

DEPLOYMENT = ChildKind(
    "apps/v1",
    "Deployment",
    "deployments",
    _deployment,
    not_owned=(("spec", "replicas"),),
    exclusive_maps=(
        ("spec", "template", "spec", "nodeSelector"),
        ("spec", "template", "spec", "affinity"),
    ),
    optional_fields=(
        ((*_POD, "priorityClassName"),),
        ((*_POD, "runtimeClassName"),),
        ((*_POD, "imagePullSecrets"),),
        ((*_POD, "topologySpreadConstraints"),),
        # The API server mirrors serviceAccountName into the deprecated serviceAccount,
        # and reads it back as serviceAccountName when that is missing: both must go.
        ((*_POD, "serviceAccountName"), (*_POD, "serviceAccount")),
    ),
)
SERVICE = ChildKind("v1", "Service", "services", _ignoring_context(build_service))
PDB = ChildKind(
    "policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", _ignoring_context(build_pdb)
)

NETWORK_POLICY = ChildKind(
    "networking.k8s.io/v1",
    "NetworkPolicy",
    "networkpolicies",
    build_network_policy,
    wanted=wants_network_policy,
)

CHILD_KINDS: tuple[ChildKind, ...] = (DEPLOYMENT, SERVICE, PDB)
"""Children every ModelDeployment has."""
OPTIONAL_CHILD_KINDS: tuple[ChildKind, ...] = (NETWORK_POLICY,)
"""Children only some specs ask for (``kind.wanted(spec)``)."""
