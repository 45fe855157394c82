"""The scaling policy: ``decide(spec, fleet, observations, history, now) -> Decision``.

Pure, deterministic and cheap: the operator calls it every tick per ModelDeployment,
the simulator for hours of simulated time. One tick is one pipeline:

1. Blind: with the request rate and the queue both unknown (and no lower bound of
   either), hold -- or raise to ``fallbackReplicas`` -- never scale down: a lost metric
   is not an idle fleet. (At zero replicas the activation query may still start one.)
2. Observe (``context.py``): demand = completions + queue growth + unserved; what one
   replica serves within the target, measured (``capacity.py``) with the batching model
   as prior (``prior.py``); the cold start, learned (``coldstart.py``).
3. Rules (``rules.py``): each proposes replicas with a reason and its own sentence.
   The largest proposal wins; pods that lost readiness are replaced on top of it
   (``_replacing_lost``; ``FleetState.replaceable_replicas`` says which), blind too.
4. Window: a scale-up acts at once; a scale-down goes no lower than the highest need
   remembered over the scale-down window (HPA-like), at most ``max_down_fraction`` per
   decision, and never while a load signal is unknown.
5. Limits: ``[minReplicas, maxReplicas]``, the hourly budget, and the cluster (no pods
   added while asked-for pods cannot be placed).

The Decision's reason is the deciding rule's sentence.
"""

from __future__ import annotations

import math
from dataclasses import replace

from gpufleet.domain.scaling import budget, coldstart, context, explain, stabilization, tokens
from gpufleet.domain.scaling.context import Context
from gpufleet.domain.scaling.llm_rules import LLM_RULES
from gpufleet.domain.scaling.rules import RULES, Proposal, activation
from gpufleet.domain.scaling.stabilization import Recommendations
from gpufleet.domain.scaling.tuning import DEFAULT_TUNING, PolicyTuning
from gpufleet.domain.scaling.types import (
    Bound,
    Decision,
    FleetState,
    Observations,
    ReasonCode,
    ScalerHistory,
)
from gpufleet.domain.spec import MetricsLossBehavior, ModelDeploymentSpec

NO_LOAD = Proposal(0, ReasonCode.STEADY, "no load", "load")


def decide(
    spec: ModelDeploymentSpec,
    fleet: FleetState,
    observations: Observations,
    history: ScalerHistory,
    now: float,
    tuning: PolicyTuning = DEFAULT_TUNING,
) -> Decision:
    lim = budget.limits(spec, fleet)
    obs, _ = context.lower_bounded(observations)
    if all(getattr(obs, name) is None for name in context.ESSENTIAL_SIGNALS):
        return _blind(
            spec,
            fleet,
            obs,
            coldstart.track(history, fleet, now, tuning.cold_start_smoothing),
            now,
            lim,
        )
    ctx = tokens.observe(context.observe(spec, fleet, observations, history, now, lim, tuning))
    proposals = [p for rule in (*LLM_RULES, *RULES) if (p := rule(ctx)) is not None]
    winner = max(proposals, key=lambda p: p.replicas, default=NO_LOAD)
    if (replacing := _replacing_lost(fleet, winner)) is not None:
        winner = replacing
        proposals.append(replacing)
    chosen, recs, orders = _window(ctx, proposals, winner)
    desired, bounds, code, sentence = _limit(spec, fleet, lim, chosen, winner)
    # One copy of the tick's memory here: each copy is a large share of a decision.
    history = replace(
        ctx.history,
        recommendations=recs,
        orders=orders,
        metrics_unknown_since=(ctx.history.metrics_unknown_since or now) if ctx.unknown else None,
        last_queue_depth=None if "queue_depth" in ctx.bounded else ctx.obs.queue_depth,
        last_observed_at=ctx.obs.at,
    )
    reason = f"{explain.verb(fleet.replicas, desired)}: {sentence}"
    history = _record_change(history, fleet.replicas, desired, now, reason)
    predicted = None
    if ctx.model is not None and ctx.demand is not None:
        predicted = ctx.model.p95_ms(desired, ctx.demand)
    return Decision(
        desired_replicas=desired,
        reason_code=code,
        reason=reason,
        bounds_hit=bounds,
        predicted_p95_ms=predicted if predicted is None or math.isfinite(predicted) else None,
        hourly_cost=desired * lim.replica_hourly_cost,
        metrics_available=not ctx.unknown,
        slo_met=_slo_met(spec, ctx.obs),
        history=history,
        capacity_per_replica=None if ctx.capacity is None else ctx.capacity.per_replica,
        rule=chosen.rule,
    )


def _replacing_lost(fleet: FleetState, winner: Proposal) -> Proposal | None:
    """The winner's pods serving, plus replacements for the pods that lost readiness,
    when the pods left would not serve as many; ``None`` otherwise.

    A pod that stopped passing readiness serves nothing and may not come back (a node
    gone NotReady is evicted only after 5 minutes, and its replacement is then a cold
    start away): ordering the replacement now saves that time. Fewer pods needed than
    the others: no replacement -- a scale-in removes unready pods first."""
    lost = fleet.replaceable_replicas
    if lost == 0 or winner.replicas <= fleet.replicas - fleet.lost_replicas:
        return None
    asked = winner.replicas + lost
    code = ReasonCode.REPLACING_LOST_PODS if winner.replicas <= fleet.replicas else winner.code
    return Proposal(
        asked,
        code,
        f"{_lost_text(lost)}: {winner.replicas} serving need {asked} asked for; {winner.sentence}",
        winner.rule,
    )


def _lost_text(replaced: int) -> str:
    return (
        f"{replaced} pod{'s' if replaced > 1 else ''} stopped passing readiness after "
        f"starting and {'are' if replaced > 1 else 'is'} replaced"
    )


def _window(
    ctx: Context, proposals: list[Proposal], winner: Proposal
) -> tuple[Proposal, Recommendations, Recommendations]:
    """The winner, or what the scale-down window (or blindness) holds instead; and the
    needs remembered for the scale-down window and for pods ordered while they start."""
    history, now, current = ctx.history, ctx.now, ctx.fleet.replicas
    scaling = ctx.spec.scaling
    window = max(scaling.scale_up_stabilization_seconds, scaling.scale_down_window_seconds)
    needed = winner.replicas
    remembered = max((p.replicas for p in proposals if p.remembered), default=0)
    # Blind to a load signal (no lower bound either), a low need is no evidence:
    # remember the current size. A lower bound is remembered as measured -- the current
    # size would restart the scale-down window at every scale-up.
    if any(name not in ctx.bounded for name in ctx.unknown):
        remembered = max(remembered, current)
    earlier = history.recommendations
    if not earlier:
        # A fresh history (an operator restart) has seen no quiet window: the current size
        # counts as recommended at its first tick, whatever that tick decides (a hold on a
        # backlog or on a lower bound included), so no scale-down comes before a window.
        earlier = ((now, current),)
    recs = stabilization.remember(earlier, now, remembered, window)
    orders = stabilization.remember(history.orders, now, needed, ctx.horizon_s)
    chosen = winner
    if needed > current:
        wanted = max(
            current,
            stabilization.scale_up_target(
                history.recommendations, now, scaling.scale_up_stabilization_seconds, needed
            ),
        )
        if wanted < needed:
            chosen = Proposal(
                wanted,
                winner.code,
                f"{winner.sentence}; the lowest need of the last "
                f"{scaling.scale_up_stabilization_seconds} s (scale-up window) is {wanted}",
                "scale-up-window",
            )
    elif needed < current and ctx.unknown:
        why = explain.unknown_text(ctx.obs, ctx.unknown)
        chosen = Proposal(
            current,
            ReasonCode.METRICS_UNKNOWN_HOLD,
            f"{why}; no scale-down while blind ({winner.sentence})",
            "metrics-unknown",
        )
    elif needed < current and ctx.understated:
        names = " and ".join(n.replace("_", " ") for n in ctx.understated)
        verb = "are" if len(ctx.understated) > 1 else "is"
        chosen = Proposal(
            current,
            ReasonCode.SCALE_DOWN_STABILIZING,
            f"{names} {verb} only a lower bound (a pod not yet scraped for a full rate window); "
            f"no scale-down on it ({winner.sentence})",
            "scale-down-window",
        )
    elif needed < current:
        down_window = scaling.scale_down_window_seconds
        highest = stabilization.highest(recs, now, down_window)
        step = max(1, math.ceil(current * ctx.tuning.max_down_fraction))
        wanted = min(current, max(highest, current - step, needed))
        kept = 0
        if ctx.fleet.starting_replicas > 0:
            # Pods ordered within the last cold start are kept while they start, whichever
            # rule ordered them: cancelling them would re-order them a cold start later if
            # the need returns (keeping a trend's orders alone was measured and dropped:
            # docs/benchmarks/policy-experiments.md).
            kept = stabilization.highest(orders, now, ctx.horizon_s)
        if kept > wanted:
            chosen = Proposal(
                min(kept, current),
                ReasonCode.WAITING_FOR_STARTING_PODS,
                f"{winner.sentence}; pods ordered for {kept} replicas within the last "
                f"{ctx.horizon_s:.0f} s are kept while they start",
                "ordered-pods-starting",
            )
        elif wanted > needed:
            if highest >= wanted:
                why = f"{highest} were needed within the last {down_window} s (scale-down window)"
            else:
                why = f"at most {step} replicas removed per decision"
            chosen = Proposal(
                wanted,
                ReasonCode.SCALE_DOWN_STABILIZING,
                f"{winner.sentence}; but {why}",
                "scale-down-window",
            )
    return chosen, recs, orders


def _limit(
    spec: ModelDeploymentSpec,
    fleet: FleetState,
    lim: budget.Limits,
    chosen: Proposal,
    winner: Proposal,
) -> tuple[int, frozenset[Bound], ReasonCode, str]:
    """Desired replicas within the limits and the cluster, the limits that bound it,
    the reason code and the sentence."""
    current = fleet.replicas
    desired, bounds = budget.clamp(chosen.replicas, lim)
    if winner.replicas > lim.upper:
        bounds = frozenset({lim.upper_bound})
    sentence = chosen.sentence
    if bounds and (desired != chosen.replicas or winner.replicas > lim.upper):
        sentence = f"{explain.bound_text(bounds, lim, spec)}; {sentence}"
        code = explain.bound_code(bounds)
    elif desired > current:
        code = chosen.code if chosen.code is not ReasonCode.STEADY else ReasonCode.SCALE_UP_LOAD
    elif desired < current:
        code = ReasonCode.SCALE_DOWN
    elif chosen.code in (
        ReasonCode.SCALE_DOWN_STABILIZING,
        ReasonCode.METRICS_UNKNOWN_HOLD,
        ReasonCode.WAITING_FOR_STARTING_PODS,
        ReasonCode.ERRORS_HOLD,
    ):
        code = chosen.code
    elif fleet.starting_replicas > 0 and chosen.replicas > fleet.ready_replicas:
        code = ReasonCode.WAITING_FOR_STARTING_PODS
        sentence = f"{fleet.starting_replicas} starting will cover it; {sentence}"
    else:
        code = ReasonCode.STEADY
    refusal = _growth_refusal(spec, fleet)
    if refusal is not None and max(desired, chosen.replicas) > current:
        bound, why = refusal
        desired = min(desired, current)
        bounds = frozenset({bound})
        code = explain.bound_code(bounds)
        sentence = f"{why}: adding none; {sentence}"
    return desired, bounds, code, sentence


def _growth_refusal(spec: ModelDeploymentSpec, fleet: FleetState) -> tuple[Bound, str] | None:
    """Why adding pods cannot help (the pods already asked for do not come), if so."""
    if fleet.failing_replicas > 0:
        return Bound.FAILING_PODS, (
            f"{fleet.failing_replicas} of the pods asked for cannot start (a container the "
            "kubelet cannot start: condition Ready says which and why)"
        )
    if fleet.cluster_full:
        return Bound.CLUSTER, _cluster_refusal(spec, fleet)
    return None


def _cluster_refusal(spec: ModelDeploymentSpec, fleet: FleetState) -> str:
    """What the cluster refuses of the pods already asked for."""
    if fleet.uncreated_replicas > 0:
        return (
            f"the cluster refuses to create {fleet.uncreated_replicas} of the pods asked for "
            "(the Deployment's ReplicaFailure: a quota or admission)"
        )
    return (
        f"the cluster cannot place {fleet.unplaceable_replicas} of the pods asked for "
        f"(unschedulable past provisioningTimeoutSeconds "
        f"{spec.scaling.provisioning_timeout_seconds} s)"
    )


def _blind(
    spec: ModelDeploymentSpec,
    fleet: FleetState,
    obs: Observations,
    history: ScalerHistory,
    now: float,
    lim: budget.Limits,
) -> Decision:
    """Neither the request rate nor the queue is known: hold, or raise to fallbackReplicas."""
    current = fleet.replicas
    since = history.metrics_unknown_since if history.metrics_unknown_since is not None else now
    history = replace(
        history,
        metrics_unknown_since=since,
        last_queue_depth=None,
        last_observed_at=None,
        idle_since=None,
    )
    woken = activation(spec, fleet, obs)
    act = spec.scaling.activation
    if current == 0 and woken is None and act is not None and obs.activation is not None:
        # Zero pods export nothing: the activation query is the one signal there is.
        return Decision(
            desired_replicas=0,
            reason_code=ReasonCode.STEADY,
            reason=(
                f"holding 0 replicas: activation query {obs.activation:g} <= threshold "
                f"{act.threshold:g}: no request waits"
            ),
            bounds_hit=frozenset(),
            predicted_p95_ms=None,
            hourly_cost=0.0,
            metrics_available=True,
            slo_met=None,
            history=history,
            capacity_per_replica=None,
            rule="activation",
        )
    wanted, code, rule = current, ReasonCode.METRICS_UNKNOWN_HOLD, "metrics-unknown"
    fallback = spec.scaling.fallback_replicas
    if spec.scaling.on_metrics_loss is MetricsLossBehavior.FALLBACK and fallback is not None:
        # Fallback raises to a safe size; lowering would be scaling down blind.
        wanted, code = max(current, fallback), ReasonCode.METRICS_UNKNOWN_FALLBACK
    if woken is not None and woken.replicas > wanted:
        wanted, code, rule = woken.replicas, woken.code, woken.rule
    # Blind, the need is unknown: the capacity held is the pods asked for, and pods that
    # stopped serving are replaced unless pods already starting stand in for them.
    replacing = max(0, fleet.replaceable_replicas - fleet.starting_replicas)
    if replacing > 0 and current + replacing > wanted:
        wanted, code = current + replacing, ReasonCode.REPLACING_LOST_PODS
    desired, bounds = budget.clamp(wanted, lim)
    refusal = _growth_refusal(spec, fleet)
    if refusal is not None and desired > current:
        desired, bounds = current, frozenset({refusal[0]})
    if rule == "activation" and woken is not None and desired > current:
        reason = f"{explain.verb(current, desired)}: {woken.sentence}"
    else:
        reason = explain.metrics_lost_reason(obs, now - since, current, desired, code, bounds, lim)
        if code is ReasonCode.REPLACING_LOST_PODS and not bounds:
            reason = f"{_lost_text(replacing)}; {reason}"
    history = _record_change(history, current, desired, now, reason)
    if bounds:
        code = explain.bound_code(bounds)
    return Decision(
        desired_replicas=desired,
        reason_code=code,
        reason=reason,
        bounds_hit=bounds,
        predicted_p95_ms=None,
        hourly_cost=desired * lim.replica_hourly_cost,
        metrics_available=False,
        slo_met=_slo_met(spec, obs),
        history=history,
        capacity_per_replica=None,
        rule=rule,
    )


def as_applied(decision: Decision, before: ScalerHistory, current: int, now: float) -> Decision:
    """``decision`` (its count overridden: a pause, a refusal) with its memory of this tick's
    change made true: the policy recorded the change it wanted -- a scale-up whose pods it
    then waits for, a ``lastScaleTime`` -- and what was done is ``desired_replicas``.
    ``before``: the history the decision was made from."""
    history = decision.history
    if history.last_scale_time == now and before.last_scale_time != now:
        history = replace(
            history,
            last_scale_time=before.last_scale_time,
            last_scale_reason=before.last_scale_reason,
        )
    if history.scale_ups and history.scale_ups[-1][0] == now and now not in dict(before.scale_ups):
        history = replace(history, scale_ups=history.scale_ups[:-1])
    history = _record_change(history, current, decision.desired_replicas, now, decision.reason)
    return replace(decision, history=history)


def _record_change(
    history: ScalerHistory, current: int, desired: int, now: float, reason: str
) -> ScalerHistory:
    if desired == current:
        return history
    if desired > current:
        history = coldstart.record_scale_up(history, now, desired - current)
    return replace(history, last_scale_time=now, last_scale_reason=reason)


def _slo_met(spec: ModelDeploymentSpec, obs: Observations) -> bool | None:
    """Every measured latency within its target; ``None`` when none is measured."""
    known = [c for c in context.latency_checks(spec, obs) if c.measured_ms is not None]
    if not known:
        return None
    return all(c.measured_ms is not None and c.measured_ms <= c.target_ms for c in known)
