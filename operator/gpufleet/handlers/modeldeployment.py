"""ModelDeployment handlers: reconcile the children on create, spec change and resume."""

from __future__ import annotations

import time
from typing import Any

import kopf

from gpufleet import GROUP, PLURAL, VERSION
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import SpecError
from gpufleet.handlers.context import context_of
from gpufleet.handlers.reporting import apply_report
from gpufleet.k8s.errors import KubernetesApiError
from gpufleet.services.children import ChildOwnedByOther
from gpufleet.services.reconcile import (
    failure_report,
    invalid_spec_report,
    reconcile,
    validate,
)

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
            "status": dict(body.get("status") or {}),
            "generation": body.meta.get("generation"),
        }
    }


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def reconcile_modeldeployment(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    namespace: str | None,
    name: str,
    uid: str,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    ctx = context_of(memo)
    generation = meta.get("generation")
    now = time.time()
    current = dict(status)
    try:
        parsed, price = validate(dict(spec), ctx.settings.gpu_prices)
    except SpecError as error:
        # Nothing is touched: children (if any) keep running the last valid spec.
        apply_report(invalid_spec_report(error, current, generation, now), patch, body)
        raise kopf.PermanentError(str(error)) from error
    try:
        report = await reconcile(
            ctx.api, Owner(name, namespace or "", uid), parsed, price, current, generation, now
        )
    except ChildOwnedByOther as error:
        apply_report(
            failure_report("ChildConflict", str(error), current, generation, now), patch, body
        )
        raise kopf.TemporaryError(str(error), delay=60) from error
    except KubernetesApiError as error:
        if error.invalid:
            message = f"the API server rejected a child: {error.message}"
            apply_report(
                failure_report("ChildRejected", message, current, generation, now), patch, body
            )
            raise kopf.TemporaryError(message, delay=60) from error
        raise kopf.TemporaryError(str(error), delay=RETRY_DELAY_SECONDS) from error
    apply_report(report, patch, body)


@kopf.on.delete(GROUP, VERSION, PLURAL, optional=True)
async def forget_modeldeployment(uid: str, memo: kopf.Memo, **_: Any) -> None:
    """Children go by ownerReference garbage collection; only our memory needs clearing.

    ``optional=True``: no finalizer, so a ModelDeployment never hangs in deletion
    when the operator is down.
    """
    ctx = memo.get("gpufleet")
    if ctx is not None:
        ctx.histories.pop(uid, None)
        ctx.status_written.pop(uid, None)
