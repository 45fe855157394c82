"""One autoscaling tick of one ModelDeployment: measure, decide, scale, report.

The decision is the pure policy's (:func:`gpufleet.domain.scaling.policy.decide`,
the same code the simulator runs); this module only gathers its inputs and
carries out its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gpufleet.domain.conditions import Condition, ConditionStatus, ConditionType, rfc3339
from gpufleet.domain.manifests.children import DEPLOYMENT
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.manifests.rollout import rolling_update
from gpufleet.domain.pricing import replica_hourly_cost
from gpufleet.domain.readiness import uncreated_replicas
from gpufleet.domain.replica_writes import ReplicaWrites
from gpufleet.domain.scaling import token_capacity
from gpufleet.domain.scaling.learned import LearnedState, history_from_learned, learned_state
from gpufleet.domain.scaling.pause import Pause, paused
from gpufleet.domain.scaling.policy import as_applied, decide
from gpufleet.domain.scaling.report import build_report
from gpufleet.domain.scaling.tuning import PolicyTuning
from gpufleet.domain.scaling.types import (
    Bound,
    Decision,
    FleetState,
    Observations,
    ReasonCode,
    ScalerHistory,
)
from gpufleet.domain.spec import ModelDeploymentSpec
from gpufleet.k8s.client import KubernetesApi
from gpufleet.k8s.errors import KubernetesApiError
from gpufleet.services.children import resource_of
from gpufleet.services.reconcile import Observed
from gpufleet.services.sampling import TickSampler
from gpufleet.services.status import (
    EventNote,
    StatusChange,
    StatusComputer,
    merge_patched,
    with_conditions,
)

AUTOSCALER_FIELD_MANAGER = "gpufleet-autoscaler"
NUMBERS_REFRESH_SECONDS = 15.0
"""Measured numbers alone are rewritten at most this often: a thousand ModelDeployments
must not patch their status every tick."""
MATERIAL_STATUS_KEYS = (
    "desiredReplicas",
    "conditions",
    "lastScaleTime",
    "lastScaleReason",
    "decision",
    "learned",
)

LIMITS: dict[Bound, str] = {
    Bound.MAX_REPLICAS: "replicas",
    Bound.BUDGET: "budget",
    Bound.CLUSTER: "cluster",
    Bound.FAILING_PODS: "pods",
}
"""Bounds that stop the fleet from growing, by the name status gives each limit."""

LEARNED_KEYS = {
    "cold_start_s": "coldStartSeconds",
    "capacity_per_replica": "capacityPerReplica",
    "tail_factor": "tailFactor",
    "batch_fixed_ms": "batchFixedMs",
    "batch_per_request_ms": "batchPerRequestMs",
    "max_batch_seen": "maxBatchSeen",
    "iteration_fixed_ms": "iterationFixedMs",
    "iteration_ms_per_sequence": "iterationMsPerSequence",
    "kv_per_sequence": "kvPerSequence",
    "itl_tail": "itlTail",
    "tpot_tail": "tpotTail",
    "prefill_stall_ms": "prefillStallMs",
    "stalls_per_prompt": "stallsPerPrompt",
}
"""LearnedState's fields and their names in ``status.learned``."""


def learned_to_status(state: LearnedState) -> dict[str, float | None]:
    """Every learned key: ``None`` (removed by the merge patch) where nothing is learned."""
    values = state.as_dict()
    return {
        wire: None if key not in values else round(values[key], 6)
        for key, wire in LEARNED_KEYS.items()
    }


def history_from_status(status: Mapping[str, Any] | None) -> ScalerHistory:
    """What a restarted operator starts from: the learned values a previous one wrote."""
    written = (status or {}).get("learned")
    if not isinstance(written, Mapping):
        return ScalerHistory()
    by_field = {key: written.get(wire) for key, wire in LEARNED_KEYS.items()}
    return history_from_learned(LearnedState.from_dict(by_field))


def resumed(
    history: ScalerHistory, pods_ready_since: Mapping[str, float], ready: int
) -> ScalerHistory:
    """A fresh history (an operator restart) told when the ready count last changed: the
    newest Ready time of the pods, which the cluster keeps and the history lost. Without it
    the policy would take the measured latency window as settled at once, though it may
    still hold the fleet size before the last scale-up, and learn a miss from it."""
    if history.last_ready_replicas is not None or not pods_ready_since:
        return history
    newest = max(pods_ready_since.values())
    return replace(history, ready_since=newest, last_ready_replicas=ready)


def limit_of(decision: Decision) -> str | None:
    """The limit that holds the fleet below what the load needs, if any."""
    for bound in (Bound.FAILING_PODS, Bound.CLUSTER, Bound.BUDGET, Bound.MAX_REPLICAS):
        if bound in decision.bounds_hit:
            return LIMITS[bound]
    return None


def limited_condition(decision: Decision, refused: str | None = None) -> Condition:
    """``refused``: why the API server refused the replicas decided (they are not set)."""
    if refused is not None:
        return Condition(
            ConditionType.SCALING_LIMITED,
            ConditionStatus.TRUE,
            "ScaleRefused",
            f"the API server refused to set the Deployment's replicas: {refused}",
        )
    if decision.reason_code is ReasonCode.PAUSED:
        return Condition(
            ConditionType.SCALING_LIMITED, ConditionStatus.TRUE, "Paused", decision.reason
        )
    limit = limit_of(decision)
    if limit is None:
        return Condition(
            ConditionType.SCALING_LIMITED,
            ConditionStatus.FALSE,
            "WithinLimits",
            "the fleet can grow to what the load needs",
        )
    reasons = {
        "replicas": "MaxReplicas",
        "budget": "Budget",
        "cluster": "Cluster",
        "pods": "PodsCannotStart",
    }
    return Condition(
        ConditionType.SCALING_LIMITED,
        ConditionStatus.TRUE,
        reasons[limit],
        f"limited by {limit}: {decision.reason}",
    )


DECISION_NUMBERS = ("decidedAt", "reason")
"""A decision's time and sentence change every tick with the measured numbers: written
with the other numbers, never worth a write alone."""


def _without_time(value: Any) -> Any:
    """A decision without what changes every tick (``DECISION_NUMBERS``)."""
    if isinstance(value, Mapping) and "decidedAt" in value:
        return {k: v for k, v in value.items() if k not in DECISION_NUMBERS}
    return value


def _decision_status(decision: Decision, now: float) -> dict[str, Any]:
    """Why this many replicas: the rule that decided and its sentence, what one replica
    serves, the limit."""
    return {
        "decidedAt": rfc3339(now),
        "rule": decision.rule or decision.reason_code.value,
        "reasonCode": decision.reason_code.value,
        "reason": decision.reason,
        "capacityPerReplica": (
            None
            if decision.capacity_per_replica is None
            else round(decision.capacity_per_replica, 4)
        ),
        "limitedBy": limit_of(decision),
    }


def _predicted_llm_ms(
    decision: Decision, observations: Observations, tuning: PolicyTuning
) -> dict[str, float | None]:
    """TTFT, ITL and TPOT p95s the learned engine model predicts at desiredReplicas for the
    tokens/s generated now (None: not an LLM fleet, or not learned yet)."""
    args = (
        decision.history.tokens,
        tuning,
        observations.generation_tokens_rate,
        decision.desired_replicas,
    )
    predicted = {
        "predictedTtftP95Ms": token_capacity.predicted_ttft_p95_ms(*args),
        "predictedItlP95Ms": token_capacity.predicted_itl_p95_ms(*args),
        "predictedTpotP95Ms": token_capacity.predicted_tpot_p95_ms(*args),
    }
    return {k: None if v is None else round(v, 1) for k, v in predicted.items()}


@dataclass(frozen=True, slots=True)
class TickOutcome:
    spec: ModelDeploymentSpec
    decision: Decision
    observations: Observations
    replicas_before: int
    scaled: bool
    tuning: PolicyTuning
    refused: str | None = None
    """Why the API server refused the replicas decided (an admission webhook, RBAC)."""

    def status(self, generation: int | None, now: float, last_write: float) -> StatusComputer:
        """Status and Events of this tick, merged onto the live status when written."""

        def compute(live: Mapping[str, Any]) -> StatusChange | None:
            report = build_report(
                self.spec,
                self.decision,
                self.observations,
                previous_status=live,
                replicas_before=self.replicas_before,
                generation=generation,
                now=now,
            )
            patch = dict(report.status_patch)
            patch["decision"] = _decision_status(self.decision, now)
            # LLM latencies as measured (None: not exported by this engine, or unknown).
            patch["ttftP95Ms"] = self.observations.ttft_p95_ms
            patch["itlP95Ms"] = self.observations.itl_p95_ms
            patch["tpotP95Ms"] = self.observations.tpot_p95_ms
            patch["kvCacheUsage"] = self.observations.kv_cache_usage
            patch["preemptionRate"] = self.observations.preemption_rate
            patch["configuredMaxBatch"] = self.observations.configured_max_batch
            patch.update(_predicted_llm_ms(self.decision, self.observations, self.tuning))
            patch["learned"] = learned_to_status(learned_state(self.decision.history))
            if self.spec.scaling.activation is not None:
                patch["activation"] = {
                    "value": self.observations.activation,
                    "measuredAt": rfc3339(now),
                }
            limited = with_conditions(
                {"conditions": patch["conditions"]},
                {},
                [limited_condition(self.decision, self.refused)],
                generation,
                now,
            )
            patch["conditions"] = limited.fields["conditions"]
            after = merge_patched(live, patch)
            material = any(
                _without_time(after.get(key)) != _without_time(live.get(key))
                for key in MATERIAL_STATUS_KEYS
            )
            if not material and now - last_write < NUMBERS_REFRESH_SECONDS:
                return None
            events = tuple(EventNote(e.type, e.reason, e.message) for e in report.events)
            return StatusChange(patch, events + limited.events)

        return compute


async def autoscale_tick(
    api: KubernetesApi,
    sampler: TickSampler,
    owner: Owner,
    spec: ModelDeploymentSpec,
    price: float,
    observed: Observed,
    history: ScalerHistory,
    now: float,
    tuning: PolicyTuning,
    configured_max_batch: int | None,
    pause: Pause | None,
    writes: ReplicaWrites,
) -> TickOutcome:
    """``configured_max_batch``: the largest batch the model's server says it forms
    (:class:`gpufleet.services.configured_batch.ConfiguredBatches`), if known; ``pause``:
    a person's pause (annotations), which overrides the policy's count; ``writes``: where
    the replicas set are noted, to tell another writer's from them."""
    facts = observed.deployment
    replicas, ready = (facts.replicas, facts.ready) if facts is not None else (0, 0)
    fleet = FleetState(
        replicas=replicas,
        ready_replicas=ready,
        gpus_per_replica=spec.resources.gpus,
        gpu_hourly_price=price,
        # Pending past the provisioning timeout: not capacity on its way any more.
        unplaceable_replicas=len(observed.pods.unplaceable),
        uncreated_replicas=uncreated_replicas(facts, observed.pods),
        failing_replicas=len(observed.pods.cannot_start),
        crash_looping_replicas=sum(
            1 for pod in observed.pods.crash_looping if pod.cannot_start is None
        ),
        lost_replicas=len(observed.pods.readiness_lost),
        node_lost_replicas=len(observed.pods.node_lost),
    )
    activation = spec.scaling.activation
    observations = await sampler.observations(
        owner.namespace,
        owner.name,
        expected_pods=ready,
        ready_since=observed.pods.ready_since,
        activation_query=None if activation is None else activation.query,
        model=spec.model.name,
    )
    observations = replace(observations, configured_max_batch=configured_max_batch)
    history = resumed(history, observed.pods.ready_since, ready)
    decision = decide(spec, fleet, observations, history, now, tuning)
    if pause is not None:
        decision = as_applied(paused(decision, pause, spec, fleet), history, replicas, now)
    refused = None
    if decision.desired_replicas != replicas:
        refused = await _scale(api, owner, spec, price, decision.desired_replicas, writes)
    if refused is not None:
        # Status says what is, not what was wanted: the replicas stay, and why.
        refused_decision = replace(
            decision,
            desired_replicas=replicas,
            reason=f"wanted {decision.desired_replicas}, refused: {refused}; {decision.reason}",
        )
        decision = as_applied(refused_decision, history, replicas, now)
    scaled = decision.desired_replicas != replicas
    return TickOutcome(spec, decision, observations, replicas, scaled, tuning, refused)


async def _scale(
    api: KubernetesApi,
    owner: Owner,
    spec: ModelDeploymentSpec,
    price: float,
    replicas: int,
    writes: ReplicaWrites,
) -> str | None:
    """Set the Deployment's replicas (noted in ``writes``); the API server's message if it
    refuses them for good (an admission webhook, a policy engine, RBAC), so that status
    says so instead of every tick failing in the log."""
    # The rollout's surge must fit the budget at the new replica count (and the
    # reconciler, reading these replicas back, builds the same strategy).
    strategy = rolling_update(spec, replicas, replica_hourly_cost(spec, price))
    writes.sending(owner.uid, replicas)
    try:
        answer = await api.merge_patch(
            resource_of(DEPLOYMENT),
            owner.namespace,
            owner.name,
            {"spec": {"replicas": replicas, "strategy": strategy}},
            field_manager=AUTOSCALER_FIELD_MANAGER,
        )
    except KubernetesApiError as error:
        if error.rejected or error.forbidden:
            writes.sent(owner.uid, None)  # it did not land
            return error.message
        # Whether it landed is unknown (a timeout): its replicas stay the autoscaler's
        # until the next write's answer.
        raise
    writes.sent(owner.uid, answer)
    return None
