"""Child handlers: restore what is deleted or edited by hand; mirror replica counts.

One handler per child kind, all filtered to objects gpufleet manages. The owner's
spec (and a recent copy of its status) comes from the ``modeldeployments`` index, so
an event costs no extra GET unless a child must be recreated or the copy is stale.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import kopf

from gpufleet import GROUP, KIND
from gpufleet.domain.manifests.children import (
    DEPLOYMENT,
    NETWORK_POLICY,
    PDB,
    SERVICE,
    ChildKind,
)
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import SpecError
from gpufleet.handlers.context import OperatorContext, context_of
from gpufleet.handlers.pods import MANAGED, report_observed
from gpufleet.handlers.reporting import md_reference
from gpufleet.services.children import ChildOutcome, ensure_child
from gpufleet.services.reconcile import build_context, validate
from gpufleet.services.status import MODELDEPLOYMENTS


def _owner_ref(body: kopf.Body) -> tuple[str, str] | None:
    """The owning ModelDeployment's (name, uid)."""
    for ref in body.meta.get("ownerReferences") or []:
        if ref.get("kind") == KIND and str(ref.get("apiVersion", "")).startswith(f"{GROUP}/"):
            return str(ref.get("name")), str(ref.get("uid"))
    return None


def _replicas(body: kopf.Body) -> int | None:
    replicas = (body.get("spec") or {}).get("replicas")
    return replicas if isinstance(replicas, int) else None


async def _child_event(
    kind: ChildKind,
    event: kopf.RawEvent,
    body: kopf.Body,
    memo: kopf.Memo,
    indexes: dict[str, Any],
) -> None:
    """``indexes``: the handler's keyword arguments (kopf's indexes, its logger)."""
    namespace = body.meta.get("namespace") or ""
    owner_ref = _owner_ref(body)
    if owner_ref is None:
        return
    owner_name, owner_uid = owner_ref
    ctx = context_of(memo)
    modeldeployments: kopf.Index[tuple[str, str], dict[str, Any]] = indexes["modeldeployments"]
    entries = list(modeldeployments.get((namespace, owner_name), []))
    if not entries or entries[0]["uid"] != owner_uid:
        # The owner is gone (garbage collection takes the child), or this is the child of
        # a deleted ModelDeployment whose name a new one took: the new one's reconcile
        # makes its own once the old one is collected.
        return
    md = entries[0]
    try:
        spec, price = validate(md["spec"], ctx.settings.gpu_prices)
    except SpecError:
        return  # reported on the ModelDeployment; children are not touched
    owner = Owner(owner_name, namespace, md["uid"])
    md_ref = md_reference(namespace, owner_name, md["uid"])
    deleted = event.get("type") == "DELETED"
    if deleted:
        # The index may lag a ModelDeployment's own deletion: confirm it still lives.
        live_md = await ctx.api.get(MODELDEPLOYMENTS, namespace, owner_name)
        if (
            not live_md
            or live_md["metadata"].get("uid") != owner.uid
            or live_md["metadata"].get("deletionTimestamp")
        ):
            return
    if kind is DEPLOYMENT and not deleted:
        _report_replicas_overridden(ctx, owner, md_ref, body, indexes["logger"])
    context = build_context(ctx.settings, spec, price)
    if deleted:
        context = replace(context, restored_replicas=_replicas(body))
    live = None if deleted else dict(body)
    result = await ensure_child(ctx.api, kind, owner, spec, context, live=live)
    if result.outcome is ChildOutcome.CREATED:
        kopf.event(
            md_ref,
            type="Warning",
            reason=f"{kind.kind}Restored",
            message=f"recreated {kind.kind} {namespace}/{owner_name} deleted outside gpufleet",
        )
    elif result.outcome is ChildOutcome.UPDATED:
        kopf.event(
            md_ref,
            type="Warning",
            reason=f"{kind.kind}Reverted",
            message=f"reverted {kind.kind} {namespace}/{owner_name}: edited outside gpufleet",
        )
    if kind is DEPLOYMENT:
        # Ready and replica counts come from the Deployment's own events: the freshest view.
        await report_observed(memo, indexes, namespace, owner_name)


def _report_replicas_overridden(
    ctx: OperatorContext,
    owner: Owner,
    md_ref: kopf.Body,
    deployment: kopf.Body,
    logger: kopf.Logger,
) -> None:
    """A Warning Event (and a count) when another writer changed the replicas the
    autoscaler set: once is a person's ``kubectl scale``; again and again, two autoscalers
    fighting, the fleet following neither."""
    override = ctx.replica_writes.override_in(owner.uid, dict(deployment))
    if override is None:
        return
    ctx.metrics.count_replicas_overridden(owner.namespace, owner.name)
    message = (
        f"another writer set Deployment {owner.namespace}/{owner.name}'s replicas to "
        f"{override.set_to} (the autoscaler had set {override.autoscaler_set}); the "
        f"autoscaler decides from {override.set_to} at its next tick. If this repeats, two "
        "autoscalers are fighting over the Deployment: remove the HorizontalPodAutoscaler "
        f"or KEDA ScaledObject that targets it (kubectl get hpa -n {owner.namespace})"
    )
    logger.warning(message)
    kopf.event(md_ref, type="Warning", reason="ReplicasOverridden", message=message)


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
async def deployment_event(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **kwargs: Any
) -> None:
    await _child_event(DEPLOYMENT, event, body, memo, kwargs)


@kopf.on.event("", "v1", "services", labels=MANAGED)
async def service_event(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **kwargs: Any
) -> None:
    await _child_event(SERVICE, event, body, memo, kwargs)


@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=MANAGED)
async def pdb_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    await _child_event(PDB, event, body, memo, kwargs)


@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", labels=MANAGED)
async def network_policy_event(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **kwargs: Any
) -> None:
    await _child_event(NETWORK_POLICY, event, body, memo, kwargs)
