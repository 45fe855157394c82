"""What the policy has learned about a model, in a form the operator can persist.

``ScalerHistory`` is the policy's whole memory (windows of recent samples); only a
few numbers in it are *learned* properties of the model and its cluster that stay
true across an operator restart: the cold start, what one replica serves within
the target, how its latency tail relates to its batch time; for an LLM engine, the
time each running sequence adds to an iteration, the KV one sequence holds, its ITL
tail and its prefills' stalls. The operator stores a ``LearnedState`` in status and
restores it with ``history_from_learned`` on start, so a restarted operator does not
re-learn them from the priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from gpufleet.domain.scaling.types import ScalerHistory, TokenMemory


@dataclass(frozen=True, slots=True)
class LearnedState:
    """Learned properties of one ModelDeployment; ``None``: not learned (the prior holds)."""

    cold_start_s: float | None = None
    """Seconds from asking for a pod to it passing readiness, as measured."""
    capacity_per_replica: float | None = None
    """Requests/s one ready replica serves within the latency target, as measured."""
    tail_factor: float | None = None
    """Measured p95 latency in batch times."""
    batch_fixed_ms: float | None = None
    """Fixed part of one batch execution's time, ms."""
    batch_per_request_ms: float | None = None
    """Time each request adds to a batch execution, ms."""
    max_batch_seen: float | None = None
    """Largest mean batch (inferences per execution) measured."""
    max_batch: float | None = None
    """The server's largest batch, once measured (requests waited behind full batches)."""
    iteration_fixed_ms: float | None = None
    """LLM: fixed part of one engine iteration (token gap), ms."""
    iteration_ms_per_sequence: float | None = None
    """LLM: time each running sequence adds to an iteration, ms."""
    kv_per_sequence: float | None = None
    """LLM: share of a replica's KV cache one running sequence holds."""
    itl_tail: float | None = None
    """LLM: measured ITL p95 over the iteration time of the p95-busy replica."""
    tpot_tail: float | None = None
    """LLM: measured TPOT p95 over the iteration time of the p95-busy replica."""
    prefill_stall_ms: float | None = None
    """LLM: how long an iteration that prefills stalls the streams, where over the ITL
    target."""
    stalls_per_prompt: float | None = None
    """LLM: iterations stalled over the ITL target per prompt admitted."""

    def as_dict(self) -> dict[str, float]:
        """The learned values only (for status); unknown ones are left out."""
        out: dict[str, float] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> LearnedState:
        """Read back ``as_dict``; unknown keys and values that are not finite
        positive numbers are ignored (a hand-edited status must not break scaling)."""
        values: dict[str, float] = {}
        for f in fields(cls):
            raw = data.get(f.name)
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                continue
            value = float(raw)
            if math.isfinite(value) and value > 0.0:
                values[f.name] = value
        return cls(**values)


def learned_state(history: ScalerHistory) -> LearnedState:
    fixed, per_request = history.batch_time if history.batch_time is not None else (None, None)
    tokens = history.tokens
    it_fixed, it_per_seq = tokens.iteration if tokens.iteration is not None else (None, None)
    return LearnedState(
        cold_start_s=history.observed_cold_start_s,
        capacity_per_replica=history.capacity_per_replica,
        tail_factor=history.tail_factor,
        batch_fixed_ms=fixed,
        batch_per_request_ms=per_request,
        max_batch_seen=history.max_batch_seen,
        max_batch=history.max_batch,
        iteration_fixed_ms=it_fixed,
        iteration_ms_per_sequence=it_per_seq,
        kv_per_sequence=tokens.kv_per_sequence,
        itl_tail=tokens.itl_tail,
        tpot_tail=tokens.tpot_tail,
        prefill_stall_ms=tokens.prefill_stall_ms,
        stalls_per_prompt=tokens.stalls_per_prompt,
    )


def history_from_learned(state: LearnedState) -> ScalerHistory:
    """A fresh history that starts from ``state``'s learned values (no windows: the
    policy still waits a full window before scaling down after a restart)."""
    batch_time = None
    if state.batch_fixed_ms is not None and state.batch_per_request_ms is not None:
        batch_time = (state.batch_fixed_ms, state.batch_per_request_ms)
    iteration = None
    if state.iteration_fixed_ms is not None and state.iteration_ms_per_sequence is not None:
        iteration = (state.iteration_fixed_ms, state.iteration_ms_per_sequence)
    tokens = TokenMemory(
        iteration=iteration,
        kv_per_sequence=state.kv_per_sequence,
        itl_tail=state.itl_tail,
        tpot_tail=state.tpot_tail,
        prefill_stall_ms=state.prefill_stall_ms,
        stalls_per_prompt=state.stalls_per_prompt,
    )
    return ScalerHistory(
        observed_cold_start_s=state.cold_start_s,
        capacity_per_replica=state.capacity_per_replica,
        tail_factor=state.tail_factor,
        batch_time=batch_time,
        max_batch_seen=state.max_batch_seen,
        max_batch=state.max_batch,
        tokens=tokens,
    )
