"""The scaling loop: a kopf timer per ModelDeployment, every ``GPUFLEET_TICK_SECONDS``.

Inputs come without extra API calls: the Deployment's replica counts from a
watch-fed index, metrics from one shared fleet-wide sample per tick. Status is
written when something a person acts on changes (replicas, conditions, a scale),
and the measured numbers at most every ``NUMBERS_REFRESH_SECONDS`` -- a thousand
ModelDeployments must not patch their status every tick.
"""

from __future__ import annotations

import os
import time
from typing import Any

import kopf

from gpufleet import GROUP, PLURAL, VERSION
from gpufleet.domain.manifests.identity import MANAGED_BY, Owner
from gpufleet.domain.readiness import replica_counts
from gpufleet.domain.scaling.types import ScalerHistory
from gpufleet.domain.spec import SpecError
from gpufleet.handlers.context import context_of
from gpufleet.k8s.errors import KubernetesApiError
from gpufleet.services.autoscale import autoscale_tick
from gpufleet.services.reconcile import validate
from gpufleet.settings import OperatorSettings

TICK_SECONDS = OperatorSettings.from_env(dict(os.environ)).tick_seconds
NUMBERS_REFRESH_SECONDS = 15.0
MATERIAL_STATUS_KEYS = ("desiredReplicas", "conditions", "lastScaleTime", "lastScaleReason")


@kopf.index("apps", "v1", "deployments", labels={"app.kubernetes.io/managed-by": MANAGED_BY})
def deployment_replicas(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], tuple[int, int]]:
    """(asked for, ready) replicas of every managed Deployment, kept fresh by its watch."""
    return {(namespace or "", name): replica_counts(dict(body))}


def _worth_writing(
    patch: dict[str, Any], status: dict[str, Any], last_write: float, now: float
) -> bool:
    if any(patch.get(key) != status.get(key) for key in MATERIAL_STATUS_KEYS):
        return True
    changed = any(patch.get(key) != status.get(key) for key in patch)
    return changed and now - last_write >= NUMBERS_REFRESH_SECONDS


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, sharp=True)
async def autoscale(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    meta: kopf.Meta,
    namespace: str | None,
    name: str,
    uid: str,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    ctx = context_of(memo)
    if not ctx.settings.autoscaling_enabled or ctx.sampler is None:
        return
    try:
        parsed, price = validate(dict(spec), ctx.settings.gpu_prices)
    except SpecError:
        return  # reported by the reconcile handler; nothing to scale
    index: kopf.Index[tuple[str, str], tuple[int, int]] = kwargs["deployment_replicas"]
    counts = list(index.get((namespace or "", name), []))
    if not counts:
        return  # the Deployment is not there (yet); reconciliation restores it
    replicas, ready = counts[0]
    now = time.time()
    current = dict(status)
    try:
        outcome = await autoscale_tick(
            ctx.api,
            ctx.sampler,
            Owner(name, namespace or "", uid),
            parsed,
            price,
            replicas,
            ready,
            ctx.histories.get(uid, ScalerHistory()),
            current,
            meta.get("generation"),
            now,
        )
    except KubernetesApiError as error:
        if error.retryable:
            raise kopf.TemporaryError(str(error), delay=TICK_SECONDS) from error
        raise
    ctx.histories[uid] = outcome.decision.history
    report = outcome.report
    if _worth_writing(report.status_patch, current, ctx.status_written.get(uid, 0.0), now):
        for key, value in report.status_patch.items():
            patch.status[key] = value
        ctx.status_written[uid] = now
    for note in report.events:
        kopf.event(body, type=note.type, reason=note.reason, message=note.message)
