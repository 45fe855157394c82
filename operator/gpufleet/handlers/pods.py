"""The operator watches its Deployments and pods: indexes, and status from pod events.

Both indexes are fed by watches, so the scaling loop and every status write read
them without an API call. A pod event rewrites ``Ready`` and ``Schedulable`` (and
posts an Event when either changes): a pod that cannot be placed or crash-loops is
seen when it happens, not at the next Deployment event.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import kopf

from gpufleet.domain.manifests.identity import MANAGED_BY, OWNER_LABEL
from gpufleet.domain.pods import PodFacts, pod_facts, summarize
from gpufleet.domain.readiness import DeploymentFacts, deployment_facts
from gpufleet.domain.spec import ModelDeploymentSpec, SpecError
from gpufleet.handlers.context import PodProblems, context_of
from gpufleet.handlers.reporting import md_reference, post_events
from gpufleet.services.reconcile import Observed, observed_status, validate
from gpufleet.services.status import StatusChange, StatusComputer, update_status

MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}
NO_PROBLEM: PodProblems = (None, None, None, False, False)
Key = tuple[str, str]


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
def managed_deployments(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[Key, DeploymentFacts | None]:
    """Replica counts and rollout state of every managed Deployment."""
    return {(namespace or "", name): deployment_facts(dict(body))}


@kopf.index("", "v1", "pods", labels=MANAGED)
def managed_pods(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Key, PodFacts]:
    """Every managed pod, by the ModelDeployment it serves."""
    owner = labels.get(OWNER_LABEL)
    if not owner:
        return {}
    return {(namespace or "", str(owner)): pod_facts(dict(body))}


def observe(indexes: dict[str, Any], key: Key, spec: ModelDeploymentSpec, now: float) -> Observed:
    """The Deployment and pods of ``key`` as the watches last saw them."""
    deployments: kopf.Index[Key, DeploymentFacts | None] = indexes["managed_deployments"]
    pods: kopf.Index[Key, PodFacts] = indexes["managed_pods"]
    found = list(deployments.get(key, []))
    timeout = float(spec.scaling.provisioning_timeout_seconds)
    return Observed(
        deployment=found[0] if found else None,
        pods=summarize(pods.get(key, []), now, timeout),
    )


def observed_at_write(
    indexes: dict[str, Any],
    key: Key,
    spec: ModelDeploymentSpec,
    price: float,
    generation: int | None,
) -> StatusComputer:
    """Replica counts, ``Ready`` and ``Schedulable`` from the indexes as they are at the write.

    Pod and Deployment events are handled concurrently, and a write may wait (a
    conflict, a Prometheus query in the same tick). Reading the indexes when the write
    is computed, not when the handler started, makes the last write that lands the one
    that saw the last event: a pod's recovery and its Deployment's ready count
    arriving together cannot leave ``Ready`` at what either saw alone.
    """

    def compute(current: Mapping[str, Any]) -> StatusChange | None:
        now = time.time()
        observed = observe(indexes, key, spec, now)
        return observed_status(spec, price, observed, generation, now)(current)

    return compute


async def report_observed(
    memo: kopf.Memo, indexes: dict[str, Any], namespace: str, owner_name: str
) -> None:
    """Rewrite the owner's replica counts, ``Ready`` and ``Schedulable`` from the indexes."""
    modeldeployments: kopf.Index[Key, dict[str, Any]] = indexes["modeldeployments"]
    entries = list(modeldeployments.get((namespace, owner_name), []))
    if not entries:
        return  # the owner is gone: garbage collection takes the rest
    md = entries[0]
    ctx = context_of(memo)
    try:
        spec, price = validate(md["spec"], ctx.settings.gpu_prices)
    except SpecError:
        return  # reported on the ModelDeployment by the reconcile handler
    compute = observed_at_write(indexes, (namespace, owner_name), spec, price, md.get("generation"))
    write = await update_status(ctx.api, namespace, owner_name, compute, known=md.get("known"))
    post_events(md_reference(namespace, owner_name, md["uid"]), write.events)


@kopf.on.event("", "v1", "pods", labels=MANAGED)
async def pod_event(
    event: kopf.RawEvent,
    namespace: str | None,
    name: str,
    labels: kopf.Labels,
    body: kopf.Body,
    memo: kopf.Memo,
    **kwargs: Any,
) -> None:
    owner = labels.get(OWNER_LABEL)
    if not owner:
        return
    ctx = context_of(memo)
    key = (namespace or "", name)
    # Most pod events (a probe, an IP, a container started) change nothing status says:
    # only placement, crash loops, containers that cannot start and readiness lost after
    # starting (and whether its node was lost) do (the ready count comes with the
    # Deployment's events).
    # A pod first seen without a problem is news for the Deployment's events, not here.
    before = ctx.pod_problems.get(key, NO_PROBLEM)
    if event.get("type") == "DELETED":
        ctx.pod_problems.pop(key, None)
        if before == NO_PROBLEM:
            return
    else:
        facts = pod_facts(dict(body))
        # A pod on its way out counts for nothing any more (see domain.pods.summarize).
        problems: PodProblems = (
            NO_PROBLEM
            if facts.terminating
            else (
                facts.unschedulable,
                facts.crash_looping,
                facts.cannot_start,
                facts.readiness_lost,
                facts.node_lost,
            )
        )
        if before == problems:
            return
        ctx.pod_problems[key] = problems
    await report_observed(memo, kwargs, namespace or "", str(owner))
