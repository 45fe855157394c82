"""ModelDeployment handlers: reconcile the children on create, spec change and resume."""

from __future__ import annotations

import time
from typing import Any

import kopf

from gpufleet import GROUP, PLURAL, VERSION
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import SpecError
from gpufleet.handlers.context import OperatorContext, context_of
from gpufleet.handlers.reporting import post_events
from gpufleet.k8s.errors import KubernetesApiError
from gpufleet.services.children import ChildOwnedByOther
from gpufleet.services.reconcile import not_reconciled, reconcile, reconciled, validate
from gpufleet.services.status import StatusComputer, update_status

RETRY_DELAY_SECONDS = 5


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
    **_: Any,
) -> None:
    ctx = context_of(memo)
    with ctx.metrics.time_reconcile(reason):
        await _reconcile(ctx, body, spec, meta, namespace or "", name, uid)


async def _reconcile(
    ctx: OperatorContext,
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    ns: str,
    name: str,
    uid: str,
) -> None:
    generation = meta.get("generation")
    now = time.time()
    try:
        parsed, _price = validate(dict(spec), ctx.settings.gpu_prices)
    except SpecError as error:
        # Nothing is touched: children (if any) keep running the last valid spec.
        await _report(
            ctx, body, ns, name, not_reconciled("InvalidSpec", str(error), generation, now)
        )
        raise kopf.PermanentError(str(error)) from error
    try:
        outcome = await reconcile(ctx.api, Owner(name, ns, uid), parsed)
    except ChildOwnedByOther as error:
        await _report(
            ctx, body, ns, name, not_reconciled("ChildConflict", str(error), generation, now)
        )
        raise kopf.TemporaryError(str(error), delay=60) from error
    except KubernetesApiError as error:
        if error.invalid:
            message = f"the API server rejected a child: {error.message}"
            await _report(
                ctx, body, ns, name, not_reconciled("ChildRejected", message, generation, now)
            )
            raise kopf.TemporaryError(message, delay=60) from error
        raise kopf.TemporaryError(str(error), delay=RETRY_DELAY_SECONDS) from error
    post_events(body, outcome.events)
    await _report(ctx, body, ns, name, reconciled(parsed, outcome.deployment, generation, now))


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
async def forget_modeldeployment(
    uid: str, namespace: str | None, name: str, memo: kopf.Memo, **_: Any
) -> None:
    """Children go by ownerReference garbage collection; only our memory needs clearing.

    ``optional=True``: no finalizer, so a ModelDeployment never hangs in deletion
    when the operator is down.
    """
    ctx = memo.get("gpufleet")
    if isinstance(ctx, OperatorContext):
        ctx.histories.pop(uid, None)
        ctx.status_written.pop(uid, None)
        ctx.last_reason_codes.pop(uid, None)
        ctx.metrics.forget(namespace or "", name)
