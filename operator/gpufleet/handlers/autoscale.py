"""The scaling loop: a kopf timer per ModelDeployment, every ``GPUFLEET_TICK_SECONDS``.

Inputs come without extra API calls: the Deployment's replica counts from a
watch-fed index, metrics from one shared fleet-wide sample per tick. Status is
written when something a person acts on changes (see
:class:`gpufleet.services.autoscale.TickOutcome`).
"""

from __future__ import annotations

import os
import time
from typing import Any

import kopf

from gpufleet import GROUP, PLURAL, VERSION
from gpufleet.domain.manifests.identity import MANAGED_BY, Owner
from gpufleet.domain.readiness import replica_counts
from gpufleet.domain.scaling.types import Bound, ReasonCode, ScalerHistory
from gpufleet.domain.spec import SpecError
from gpufleet.handlers.context import context_of
from gpufleet.handlers.reporting import post_events
from gpufleet.k8s.errors import KubernetesApiError
from gpufleet.services.autoscale import autoscale_tick
from gpufleet.services.reconcile import validate
from gpufleet.services.status import update_status
from gpufleet.settings import OperatorSettings

TICK_SECONDS = OperatorSettings.from_env(dict(os.environ)).tick_seconds
ROUTINE_HOLDS = frozenset(
    {ReasonCode.STEADY, ReasonCode.SCALE_DOWN_STABILIZING, ReasonCode.WAITING_FOR_STARTING_PODS}
)


@kopf.index("apps", "v1", "deployments", labels={"app.kubernetes.io/managed-by": MANAGED_BY})
def deployment_replicas(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], tuple[int, int]]:
    """(asked for, ready) replicas of every managed Deployment, kept fresh by its watch."""
    return {(namespace or "", name): replica_counts(dict(body))}


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, sharp=True)
async def autoscale(
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    namespace: str | None,
    name: str,
    uid: str,
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
    with ctx.metrics.time_tick():
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
                now,
            )
            ctx.histories[uid] = outcome.decision.history
            compute = outcome.status(meta.get("generation"), now, ctx.status_written.get(uid, 0.0))
            write = await update_status(ctx.api, namespace or "", name, compute, known=body)
        except KubernetesApiError as error:
            if error.retryable:
                raise kopf.TemporaryError(str(error), delay=TICK_SECONDS) from error
            raise
    decision = outcome.decision
    code = decision.reason_code.value
    # Scaling, and entering or leaving a state a person acts on (metrics lost, a limit
    # or the budget reached), in the log too, not only in Events (which expire); the
    # holds a need hovering at a boundary flips between are not worth a line each.
    state = "holding" if decision.reason_code in ROUTINE_HOLDS else code
    if ctx.last_reason_codes.get(uid) != state or decision.desired_replicas != replicas:
        kwargs["logger"].info(f"{code}: {decision.reason}")
        ctx.last_reason_codes[uid] = state
    ctx.metrics.record_decision(namespace or "", name, code)
    ctx.metrics.set_state(
        namespace or "",
        name,
        desired_replicas=decision.desired_replicas,
        ready_replicas=ready,
        hourly_cost=decision.hourly_cost,
        max_hourly_cost=parsed.cost.max_hourly_cost,
        p95_latency_ms=outcome.observations.p95_latency_ms,
        slo_target_ms=parsed.slo.latency_p95_ms,
        slo_met=decision.slo_met,
        metrics_available=decision.metrics_available,
        cost_capped=Bound.BUDGET in decision.bounds_hit,
    )
    if write.written:
        ctx.status_written[uid] = now
    post_events(body, write.events)
