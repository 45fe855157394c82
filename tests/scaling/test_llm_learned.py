"""An LLM engine's learned model survives an operator restart: status stores the
iteration time per running sequence, the KV one sequence holds, the ITL tail and the
prefills' stalls, and a
history rebuilt from them sizes the fleet by them from its first tick."""

from __future__ import annotations

from gpufleet.domain.scaling.learned import LearnedState, history_from_learned, learned_state
from gpufleet.domain.scaling.policy import decide
from tests.scaling.builders import fleet, spec
from tests.scaling.test_llm_rules import FIXED_MS, KV_PER_SEQ, LLM_SLO, PER_SEQ_MS, llm

ENGINE = LearnedState(
    cold_start_s=60.0,
    iteration_fixed_ms=FIXED_MS,
    iteration_ms_per_sequence=PER_SEQ_MS,
    kv_per_sequence=KV_PER_SEQ,
    itl_tail=1.0,
    prefill_stall_ms=450.0,
    stalls_per_prompt=0.1,
)


def test_llm_learned_state_round_trips_through_history_and_status() -> None:
    assert learned_state(history_from_learned(ENGINE)) == ENGINE
    assert LearnedState.from_dict(dict(ENGINE.as_dict())) == ENGINE


def test_a_restarted_operator_sizes_by_the_learned_engine_at_once() -> None:
    """One tick at 32 sequences per pod on 4 pods (1524 generated tokens/s). Restored:
    the learned 20 ms + 2 ms per sequence, and prefills that stall the streams 450 ms,
    0.1 iterations a prompt over the 100 ms target: at most 1 % of gaps stalled at
    0.01 x 200 / 0.1 - 1 = 19 sequences per replica (see test_llm_tail), at 58 ms per
    token, 5 replicas. Fresh: one point (84 ms at 32) and the prior's half
    fixed share (42 ms + 1.31 ms per sequence): the busiest replica may run
    (95 - 42) / 1.31 = 40.4 sequences, a mean of 28.1 -- the prior's guess, not the
    engine's."""
    s = spec(slo=LLM_SLO)
    obs = llm(0.0, 4, 32.0)
    restored = decide(s, fleet(4), obs, history_from_learned(ENGINE), 0.0)
    assert restored.desired_replicas == 5
    assert "(19.0 sequences per replica, bound by ITL p99 <= 100 ms (a prompt's prefill" in (
        restored.reason
    )
    assert "; 58 ms per token)" in restored.reason
    fresh = decide(s, fleet(4), obs, history_from_learned(LearnedState()), 0.0)
    assert "(28.1 sequences per replica, bound by ITL p95 <= 100 ms" in fresh.reason
