"""ModelDeployment handlers: reconcile the children on create, spec change and resume."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import kopf

from gpufleet import GROUP, PLURAL, VERSION
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.readiness import deployment_facts
from gpufleet.domain.spec import SpecError
from gpufleet.handlers.context import OperatorContext, context_of
from gpufleet.handlers.pods import observe
from gpufleet.handlers.reporting import post_events
from gpufleet.k8s.errors import KubernetesApiError
from gpufleet.services.children import ChildOfFormerOwner, ChildOwnedByOther
from gpufleet.services.reconcile import (
    Observed,
    build_context,
    not_reconciled,
    reconcile,
    reconciled,
    validate,
)
from gpufleet.services.status import StatusComputer, update_status

RETRY_DELAY_SECONDS = 5
GARBAGE_COLLECTION_WAIT_SECONDS = 2
NEEDS_A_PERSON_DELAY_SECONDS = 60
"""How often a refusal only a person can fix (a rejected child, missing RBAC) is retried."""


def _refusal(error: KubernetesApiError) -> tuple[str, str] | None:
    """The condition reason and message of an API error a person must fix; ``None`` for
    one that passes by itself (throttling, a restarting server, a namespace going away)."""
    if error.rejected:
        return "ChildRejected", f"the API server rejected a child: {error.message}"
    if error.forbidden:
        return (
            "Forbidden",
            f"the API server refused the operator: {error.message}; grant it in the "
            "operator's Role or ClusterRole (the chart's RBAC)",
        )
    return None


@kopf.index(GROUP, VERSION, PLURAL)
def modeldeployments(
    namespace: str | None, name: str, uid: str, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    """ModelDeployments by (namespace, name), so child events find their owner's spec."""
    return {
        (namespace or "", name): {
            "uid": uid,
            "spec": dict(body.get("spec") or {}),
            "generation": body.meta.get("generation"),
            # A status write from a child's event tries this copy first (saves a GET).
            "known": {
                "metadata": {"resourceVersion": body.meta.get("resourceVersion")},
                "status": dict(body.get("status") or {}),
            },
        }
    }


async def _report(
    ctx: OperatorContext, body: kopf.Body, namespace: str, name: str, compute: StatusComputer
) -> None:
    post_events(body, (await update_status(ctx.api, namespace, name, compute, known=body)).events)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def reconcile_modeldeployment(
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    namespace: str | None,
    name: str,
    uid: str,
    memo: kopf.Memo,
    reason: str,
    **kwargs: Any,
) -> None:
    ctx = context_of(memo)
    with ctx.metrics.time_reconcile(reason):
        await _reconcile(ctx, body, spec, meta, namespace or "", name, uid, kwargs)


async def _reconcile(
    ctx: OperatorContext,
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    ns: str,
    name: str,
    uid: str,
    indexes: dict[str, Any],
) -> None:
    generation = meta.get("generation")
    now = time.time()
    try:
        parsed, price = validate(dict(spec), ctx.settings.gpu_prices, name)
    except SpecError as error:
        # Nothing is touched: children (if any) keep running the last valid spec.
        await _report(
            ctx, body, ns, name, not_reconciled("InvalidSpec", str(error), generation, now)
        )
        raise kopf.PermanentError(str(error)) from error
    try:
        context = build_context(ctx.settings, parsed, price)
        outcome = await reconcile(ctx.api, Owner(name, ns, uid), parsed, context)
    except ChildOfFormerOwner as error:
        # Nothing for a person to do: the garbage collector frees the name in a moment.
        raise kopf.TemporaryError(str(error), delay=GARBAGE_COLLECTION_WAIT_SECONDS) from error
    except ChildOwnedByOther as error:
        await _report(
            ctx, body, ns, name, not_reconciled("ChildConflict", str(error), generation, now)
        )
        raise kopf.TemporaryError(str(error), delay=60) from error
    except KubernetesApiError as error:
        refusal = _refusal(error)
        if refusal is None:
            raise kopf.TemporaryError(str(error), delay=RETRY_DELAY_SECONDS) from error
        reason, message = refusal
        await _report(ctx, body, ns, name, not_reconciled(reason, message, generation, now))
        raise kopf.TemporaryError(message, delay=NEEDS_A_PERSON_DELAY_SECONDS) from error
    post_events(body, outcome.events)

    def observe_now() -> Observed:
        # The index at the write: any Deployment event handled meanwhile is in it. Only a
        # Deployment created this instant may not be yet: then the one just applied is all
        # there is (its own event rewrites status next).
        seen = observe(indexes, (ns, name), parsed, time.time())
        if seen.deployment is None:
            return replace(seen, deployment=deployment_facts(outcome.deployment))
        return seen

    await _report(ctx, body, ns, name, reconciled(parsed, price, observe_now, generation, now))
