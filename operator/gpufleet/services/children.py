"""Ensure one child exists with the fields the operator owns (one reconciler per kind)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from gpufleet import GROUP, KIND
from gpufleet.domain.manifests.children import ChildKind
from gpufleet.domain.manifests.context import BuildContext
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import ModelDeploymentSpec
from gpufleet.k8s.client import KubernetesApi, Resource
from gpufleet.k8s.errors import ConflictError


class ChildOutcome(StrEnum):
    CREATED = "Created"
    UPDATED = "Updated"
    UNCHANGED = "Unchanged"
    DELETED = "Deleted"


class ChildOwnedByOther(Exception):
    """An object with the child's name exists and belongs to someone else: never clobber it."""

    def __init__(self, kind: str, namespace: str, name: str) -> None:
        super().__init__(
            f"a {kind} named {namespace}/{name} exists and is not owned by this ModelDeployment; "
            "rename or delete it"
        )
        self.kind = kind


class ChildOfFormerOwner(Exception):
    """The child is still owned by a deleted ModelDeployment of the same name (deleted and
    applied again at once): the garbage collector is about to take it. Retry soon."""

    def __init__(self, kind: str, namespace: str, name: str) -> None:
        super().__init__(
            f"{kind} {namespace}/{name} belongs to a deleted ModelDeployment of this name; "
            "waiting for garbage collection to remove it"
        )


@dataclass(frozen=True, slots=True)
class ChildResult:
    kind: ChildKind
    outcome: ChildOutcome
    live: dict[str, Any] | None


def resource_of(kind: ChildKind) -> Resource:
    return Resource(kind.group, kind.version, kind.plural)


def _owned_by(live: dict[str, Any], owner: Owner) -> bool:
    refs = live.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner.uid for ref in refs)


def _owned_by_former(live: dict[str, Any], owner: Owner) -> bool:
    """Owned by another ModelDeployment of ``owner``'s name: one deleted since (two objects
    cannot share a name), whose children the garbage collector deletes next."""
    refs = live.get("metadata", {}).get("ownerReferences") or []
    return any(
        ref.get("kind") == KIND
        and str(ref.get("apiVersion", "")).startswith(f"{GROUP}/")
        and ref.get("name") == owner.name
        and ref.get("uid") != owner.uid
        for ref in refs
    )


_FETCH: dict[str, Any] = {}


def _live_replicas(live: dict[str, Any] | None) -> int | None:
    replicas = ((live or {}).get("spec") or {}).get("replicas")
    return replicas if isinstance(replicas, int) else None


async def ensure_child(
    api: KubernetesApi,
    kind: ChildKind,
    owner: Owner,
    spec: ModelDeploymentSpec,
    context: BuildContext,
    live: dict[str, Any] | None = _FETCH,
) -> ChildResult:
    """Create the child or patch its owned fields; ``live`` skips the GET when known.

    Pass ``live=None`` when the child is known to be gone (a DELETED event). What is
    built depends on the live replica count (the rollout's surge must fit the budget at
    the autoscaler's replicas), so the child is built after it is read.
    """
    resource = resource_of(kind)
    if live is _FETCH:
        live = await api.get(resource, owner.namespace, owner.name)
    if not kind.wanted(spec):
        return await _remove(api, kind, owner, live)
    desired = kind.build(owner, spec, replace(context, replicas=_live_replicas(live)))
    if live is None:
        try:
            created = await api.create(resource, owner.namespace, desired)
            return ChildResult(kind, ChildOutcome.CREATED, created)
        except ConflictError:
            # Created meanwhile (a concurrent event); fall through to the diff.
            live = await api.get(resource, owner.namespace, owner.name)
            if live is None:
                raise
            desired = kind.build(owner, spec, replace(context, replicas=_live_replicas(live)))
    if not _owned_by(live, owner):
        if _owned_by_former(live, owner):
            raise ChildOfFormerOwner(kind.kind, owner.namespace, owner.name)
        raise ChildOwnedByOther(kind.kind, owner.namespace, owner.name)
    patch = kind.patch(desired, live)
    if patch is None:
        return ChildResult(kind, ChildOutcome.UNCHANGED, live)
    patched = await api.merge_patch(resource, owner.namespace, owner.name, patch)
    return ChildResult(kind, ChildOutcome.UPDATED, patched)


async def _remove(
    api: KubernetesApi, kind: ChildKind, owner: Owner, live: dict[str, Any] | None
) -> ChildResult:
    """An optional child the spec no longer asks for: delete it if it is ours."""
    if live is None:
        return ChildResult(kind, ChildOutcome.UNCHANGED, None)
    if not _owned_by(live, owner):
        return ChildResult(kind, ChildOutcome.UNCHANGED, None)  # someone else's: not ours to remove
    uid = live["metadata"]["uid"]
    await api.delete(resource_of(kind), owner.namespace, owner.name, uid=uid)
    return ChildResult(kind, ChildOutcome.DELETED, None)
