"""The contract of the scaling policy: what it reads and what it decides.

``decide(spec, fleet, observations, history, now) -> Decision`` lives in
``gpufleet.domain.scaling.policy``. The operator fills these types from Kubernetes
and Prometheus; the simulator fills them from its simulated fleet and simulated
scrapes. Neither may reach into the other's sources: this module is the seam.

A signal that could not be measured is ``None`` (*unknown*), never ``0``: a lost
metric must never look like an idle fleet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Observations:
    """Fleet-wide measurements of one ModelDeployment at one tick.

    Rates are per second over the operator's rate window; latencies in ms.
    ``unknown`` names each signal that is ``None`` with why (stale, missing pods,
    NaN, empty result, Prometheus unreachable), for status and Events.
    """

    at: float
    request_rate: float | None = None
    queue_depth: float | None = None
    least_pod_queue_depth: float | None = None
    """Requests waiting at the ready pod that has the fewest waiting (``None``: some
    pod's count is unknown). At least a batch waiting there means no pod idles."""
    p95_latency_ms: float | None = None
    avg_latency_ms: float | None = None
    avg_queue_ms: float | None = None
    compute_ms_per_request: float | None = None
    """Compute time of the batch each request ran in, averaged over the requests (ms):
    Triton credits every request with its whole batch's compute time, so this weights a
    batch by its size -- E[b t] / E[b], not the mean batch time E[t]."""
    inferences_per_exec: float | None = None
    """Requests per execution: the executions' mean batch size E[b]."""
    unserved_rate: float | None = None
    """Requests/s that left unserved for want of capacity: timed out in the queue or
    cancelled by the client (Triton ``REJECTED``/``CANCELED``, vLLM ``abort``). Demand:
    ``request_rate`` counts them."""
    error_rate: float | None = None
    """Requests/s the model or server failed (Triton ``BACKEND``/``OTHER``, vLLM
    ``error``). Not demand -- more replicas do not serve them -- nor idleness."""
    served_rate: float | None = None
    """Successful completions per second, fleet sum (``request_rate`` is arrivals/s)."""
    activation: float | None = None
    """Value of the user's ``scaling.activation.query`` (scale from zero); None: unknown."""
    ttft_p95_ms: float | None = None
    """LLM: p95 time to first token."""
    itl_p95_ms: float | None = None
    """LLM: p95 inter-token latency."""
    ttft_p99_ms: float | None = None
    """LLM: p99 time to first token (the same histogram as the p95)."""
    itl_p99_ms: float | None = None
    """LLM: p99 inter-token latency (the same histogram as the p95)."""
    tpot_p95_ms: float | None = None
    """LLM: p95 time per output token (each finished request's mean gap after its first)."""
    tpot_p99_ms: float | None = None
    """LLM: p99 time per output token (the same histogram as the p95)."""
    kv_cache_usage: float | None = None
    """LLM: KV-cache usage, fleet mean, 0..1."""
    kv_cache_usage_max: float | None = None
    """LLM: KV-cache usage, max over pods, 0..1."""
    prompt_tokens_rate: float | None = None
    """LLM: prompt tokens/s, fleet sum."""
    generation_tokens_rate: float | None = None
    """LLM: generated tokens/s, fleet sum."""
    preemption_rate: float | None = None
    """LLM (vLLM): sequences preempted per second, fleet sum: above 0, some pod's KV
    cache ran out, whatever its mean usage reads."""
    running_requests: float | None = None
    """LLM: requests being processed, fleet sum."""
    mean_running_requests: float | None = None
    """LLM: requests being processed, fleet sum, averaged over the rate window."""
    configured_max_batch: int | None = None
    """The most requests one execution serves, as the model server's configuration
    states (Triton's ``max_batch_size`` with a batching scheduler, 1 without); ``None``:
    not read (yet), or a runtime without one. Not a metric: read from a pod's API."""
    pods_reporting: int = 0
    unknown: dict[str, str] = field(default_factory=dict)
    lower_bounds: dict[str, float] = field(default_factory=dict)
    """For a load signal that is unknown because some pods do not report it yet (a pod
    just became ready and was scraped once, a scrape is late): its sum over the pods
    that do. A known lower bound of the fleet's load, never evidence that the load
    dropped: the policy may scale up on it, not down."""

    @property
    def all_unknown(self) -> bool:
        return (
            self.request_rate is None and self.queue_depth is None and self.p95_latency_ms is None
        )


@dataclass(frozen=True, slots=True)
class FleetState:
    """What Kubernetes says about the ModelDeployment's pods right now."""

    replicas: int
    """The Deployment's ``spec.replicas``: pods asked for (ready or starting)."""
    ready_replicas: int
    """Pods passing readiness: the capacity serving traffic now."""
    gpus_per_replica: int
    gpu_hourly_price: float
    """USD per GPU-hour, resolved from the spec override or the price catalog."""
    unplaceable_replicas: int = 0
    """Pods asked for that stayed unschedulable past ``scaling.provisioningTimeoutSeconds``:
    not capacity on its way. While > 0 the policy adds no pods (bound: cluster)."""
    uncreated_replicas: int = 0
    """Pods asked for that the ReplicaSet cannot create (a ResourceQuota exceeded, a
    LimitRange or admission refusing the pod): they do not exist, so they neither start
    nor are capacity on its way. While > 0 the policy adds no pods (bound: cluster)."""
    failing_replicas: int = 0
    """Pods with a container the kubelet cannot start (an image it cannot pull, a Secret
    that does not exist): placed, holding their GPUs, never serving; not capacity on its
    way, and more of the same pod would fail alike. While > 0 the policy adds no pods
    (bound: failing pods)."""
    crash_looping_replicas: int = 0
    """Pods with a container in CrashLoopBackOff: the kubelet restarts it after a backoff
    that grows to 5 minutes, so it is not capacity on its way; nor are they replaced (a
    crash at start repeats in every copy of the pod)."""
    lost_replicas: int = 0
    """Pods that had started and stopped passing readiness (a hung model server, a node
    gone NotReady, whose pods Kubernetes evicts only after 5 minutes): neither serving
    nor starting. The policy asks for replacements on top of the pods it needs serving
    (a replacement is a cold start away; the ReplicaSet removes unready pods first when
    the count comes down): all of them while other pods serve, else only those whose
    node stopped answering (``node_lost_replicas``)."""
    node_lost_replicas: int = 0
    """Of ``lost_replicas``, those whose readiness the node lifecycle controller took
    (their node stopped answering), not the kubelet's probe: whatever stopped them does
    not follow their replacements to another node."""

    @property
    def starting_replicas(self) -> int:
        not_coming = (
            self.uncreated_replicas
            + self.failing_replicas
            + self.crash_looping_replicas
            + self.lost_replicas
        )
        return max(0, self.replicas - self.ready_replicas - not_coming)

    @property
    def replaceable_replicas(self) -> int:
        """Pods that stopped serving and are replaced: all that lost readiness while other
        pods serve; with none serving, only those on a lost node -- a probe failing on
        every pod is likely the fleet's own fault (a shared dependency, a bad model),
        which would stop the replacements alike."""
        return self.lost_replicas if self.ready_replicas > 0 else self.node_lost_replicas

    @property
    def cluster_full(self) -> bool:
        """The cluster refuses pods already asked for: adding more cannot help."""
        return self.unplaceable_replicas > 0 or self.uncreated_replicas > 0


class ReasonCode(StrEnum):
    """Machine-readable reason of a decision (Events' ``reason``)."""

    SCALE_UP_LATENCY = "ScaleUpLatency"
    SCALE_UP_QUEUE = "ScaleUpQueue"
    SCALE_UP_LOAD = "ScaleUpLoad"
    SCALE_UP_FORECAST = "ScaleUpForecast"
    SCALE_UP_ACTIVATION = "ScaleUpActivation"
    SCALE_DOWN = "ScaleDown"
    SCALE_DOWN_STABILIZING = "ScaleDownStabilizing"
    WAITING_FOR_STARTING_PODS = "WaitingForStartingPods"
    STEADY = "Steady"
    MIN_REPLICAS = "MinReplicas"
    MAX_REPLICAS = "MaxReplicas"
    COST_CAPPED = "CostCapped"
    CLUSTER_FULL = "ClusterFull"
    METRICS_UNKNOWN_HOLD = "MetricsUnknownHold"
    ERRORS_HOLD = "ErrorsHold"
    METRICS_UNKNOWN_FALLBACK = "MetricsUnknownFallback"
    PAUSED = "Paused"
    PODS_CANNOT_START = "PodsCannotStart"
    REPLACING_LOST_PODS = "ReplacingLostPods"


class Bound(StrEnum):
    MIN_REPLICAS = "minReplicas"
    MAX_REPLICAS = "maxReplicas"
    BUDGET = "maxHourlyCost"
    CLUSTER = "cluster"
    FAILING_PODS = "failingPods"


@dataclass(frozen=True, slots=True)
class TokenMemory:
    """What the policy has learned about an LLM replica's engine (``tokens.py``)."""

    iteration_fit: tuple[float, ...] = ()
    """Decayed sums (w, w*n, w*n^2, w*t, w*n*t) fitting the mean iteration time t (ms)
    to the running sequences per replica n: t = fixed + per_sequence * n."""
    iteration: tuple[float, float] | None = None
    """Last physically sensible fit ``(fixed ms, ms per running sequence)``."""
    output_tokens: float | None = None
    """Generated tokens per request, smoothed."""
    prompt_tokens: float | None = None
    """Prompt tokens per request, smoothed."""
    kv_per_sequence: float | None = None
    """Share of one replica's KV cache a running sequence holds, smoothed."""
    itl_tail: float | None = None
    """Measured ITL p95 over the mean iteration time (None: the prior)."""
    tpot_tail: float | None = None
    """Measured TPOT p95 over the mean iteration time (None: the prior)."""
    prefill_stall_ms: float | None = None
    """How long an iteration that prefills a prompt stalls the streams on its replica, as
    the ITL p99 measures it where it reads such stalls over the ITL target (smoothed;
    None: never seen over it)."""
    stalls_per_prompt: float | None = None
    """Iterations stalled over the ITL target per prompt admitted, calibrated where the
    measured ITL p95 and p99 cross the target (None: the prior, one)."""
    ttft_p99_fit: tuple[float, ...] = ()
    """Decayed sums (as ``iteration_fit``) fitting the fleet's TTFT p99 (ms) to the
    running sequences per replica."""
    ttft_p99: tuple[float, float] | None = None
    """Last sensible line ``(ms at no load, ms per running sequence)`` of that fit."""
    ttft_p95_fit: tuple[float, ...] = ()
    """Decayed sums fitting the fleet's TTFT p95 (ms) to the running sequences per replica:
    what status predicts the TTFT p95 at the desired replicas by (the policy sizes by the
    p99s)."""
    ttft_p95: tuple[float, float] | None = None
    """Last sensible line ``(ms at no load, ms per running sequence)`` of that fit."""
    itl_p99_fit: tuple[float, ...] = ()
    """Decayed sums fitting the fleet's ITL p99 (ms) to the running sequences per replica."""
    itl_p99: tuple[float, float] | None = None
    """Last sensible line ``(ms at no load, ms per running sequence)`` of that fit."""
    tpot_p99_fit: tuple[float, ...] = ()
    """Decayed sums fitting the fleet's TPOT p99 (ms) to the running sequences per replica."""
    tpot_p99: tuple[float, float] | None = None
    """Last sensible line ``(ms at no load, ms per running sequence)`` of that fit."""
    sequences_ceiling: tuple[float, float] | None = None
    """(time, running sequences per replica) at which TTFT, ITL or TPOT missed its target."""
    sequences_floor: tuple[float, float] | None = None
    """(time, running sequences per replica) served with both targets met with slack."""


@dataclass(frozen=True, slots=True)
class ScalerHistory:
    """What the policy remembers between ticks; owned and evolved by the policy.

    The caller stores the ``history`` of the last ``Decision`` and hands it back
    on the next tick. A fresh ``ScalerHistory()`` (operator restart) must be safe:
    the policy then assumes nothing it has not seen.
    """

    recommendations: tuple[tuple[float, int], ...] = ()
    """(time, replicas the load needed) over the longest stabilization window."""
    last_scale_time: float | None = None
    last_scale_reason: str = ""
    scale_ups: tuple[tuple[float, int], ...] = ()
    """(time, replicas added) not yet ready: capacity on its way."""
    observed_cold_start_s: float | None = None
    """Cold start learned from how long added replicas took to become ready."""
    metrics_unknown_since: float | None = None
    last_ready_replicas: int | None = None
    # Added by the autoscaler (all defaulted: a fresh history stays valid).
    tail_factor: float | None = None
    """Learned p95 latency in batch times (None: the prior, 2)."""
    batch_fit: tuple[float, ...] = ()
    """Decayed sums (w, w*b, w*b^2, w*t, w*b*t) fitting batch time t = a + c*b, ms."""
    batch_time: tuple[float, float] | None = None
    """Last physically sensible fit ``(a, c)`` ms, kept while batch sizes vary too little."""
    max_batch_seen: float | None = None
    """Largest mean batch (inferences per execution) measured."""
    least_batch_ms: float | None = None
    """Shortest compute time per request any tick read, ms: a mean of batch times, none
    of which is shorter than a batch's fixed part."""
    max_batch_seen_at: float | None = None
    """When the largest mean batch last grew."""
    max_batch: float | None = None
    """The server's largest batch, once requests were seen waiting behind batches of the
    largest size seen (``None``: not reached yet)."""
    rate_samples: tuple[tuple[float, float], ...] = ()
    """(time, arrival rate) over the trend window, to anticipate growth."""
    last_queue_depth: float | None = None
    last_observed_at: float | None = None
    ready_since: float | None = None
    """When the ready replica count last changed (measurements before mix two sizes);
    ``None``: not seen to change since this history began."""
    orders: tuple[tuple[float, int], ...] = ()
    """(time, replicas the deciding rule needed) over the last cold start: pods ordered
    are kept while they start, until the need they were ordered for could have come
    true."""
    capacity_per_replica: float | None = None
    """Requests/s one ready replica was measured to serve at most within the target (a
    ceiling: it saturated, or more missed the target); ``None``: not measured."""
    capacity_measured_at: float | None = None
    capacity_how: str = ""
    """How the ceiling was measured: "saturated" or "missed"."""
    capacity_floor: tuple[float, float] | None = None
    """(time, requests/s per ready replica) served with the target met with slack."""
    demand_peaks: tuple[tuple[float, float, float], ...] = ()
    """(window start, demand at its start, peak demand) per cold-start-long window of the
    recent past."""
    queue_samples: tuple[tuple[float, float], ...] = ()
    """(time, queue depth) over the rate window: the arrivals over a window are its
    completions plus the queue's growth over that same window."""
    growing_since: float | None = None
    """Since when a backlog has grown (or held) at every tick (``None``: it shrank at the
    last one, or there is none)."""
    backlog_since: float | None = None
    """Since when the queue has held a backlog (``None``: it holds none)."""
    flat_out_since: float | None = None
    """Since when every ready pod has held at least a batch waiting at every tick
    (``None``: some pod had less at the last one)."""
    idle_since: float | None = None
    """Since when no request arrived, none was queued and the activation query stayed
    at or below its threshold (``None``: not idle)."""
    tokens: TokenMemory = TokenMemory()
    """LLM fleets: the engine's iteration time, tokens per request, KV per sequence."""


@dataclass(frozen=True, slots=True)
class Decision:
    desired_replicas: int
    reason_code: ReasonCode
    reason: str
    """One sentence a person reads in status and Events, with the numbers."""
    bounds_hit: frozenset[Bound]
    predicted_p95_ms: float | None
    """p95 the model predicts at ``desired_replicas`` for the measured load."""
    hourly_cost: float
    """USD per hour at ``desired_replicas``."""
    metrics_available: bool
    slo_met: bool | None
    """Measured p95 within target; ``None`` when unknown."""
    history: ScalerHistory
    capacity_per_replica: float | None = None
    """Requests/s one ready replica serves within the latency target, as the policy now
    believes; ``None``: nothing measured or modelled yet."""
    rule: str = ""
    """Name of the rule whose proposal decided (``status.decision.rule``)."""
