"""What a scaling tick of an LLM fleet writes to status: the TTFT and ITL predicted at the
desired replicas and the engine model learned, from the real policy's decision."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpufleet.domain.scaling.learned import LearnedState, history_from_learned
from gpufleet.domain.scaling.policy import decide
from gpufleet.domain.scaling.tuning import DEFAULT_TUNING
from gpufleet.domain.scaling.types import ScalerHistory
from gpufleet.domain.spec import parse_spec
from gpufleet.services.autoscale import TickOutcome, history_from_status
from tests.operator.specs import minimal_spec
from tests.scaling.builders import fleet
from tests.scaling.test_llm_rules import LLM_SLO, llm
from tests.scaling.test_llm_tail import ticks

ENGINE = LearnedState(
    iteration_fixed_ms=20.0, iteration_ms_per_sequence=2.0, kv_per_sequence=0.01, itl_tail=1.0
)


def test_llm_status_shows_the_predicted_itl_and_the_learned_engine() -> None:
    """4 pods at 32 sequences each generate 1524 tokens/s; the fleet grows to 5, where
    each replica runs n = (305 tokens/s) x (20 + 2n) ms: n = 15.6 on average, 22.1 on the
    p95-busy replica (n + 1.645 sqrt(n)), whose tokens come 20 + 2 x 22.1 = 64 ms apart."""
    spec = parse_spec(minimal_spec(slo={"ttftP95Ms": 2000, "itlP95Ms": 100}))
    obs = llm(1000.0, 4, 32.0)
    decision = decide(spec, fleet(4), obs, history_from_learned(ENGINE), 1000.0)
    assert decision.desired_replicas == 5
    change = TickOutcome(spec, decision, obs, 4, False, DEFAULT_TUNING).status(1, 1000.0, 0.0)({})
    assert change is not None
    assert 63.0 <= change.fields["predictedItlP95Ms"] <= 65.0
    assert change.fields["predictedTtftP95Ms"] is None  # no TTFT measured on a settled fleet
    learned = change.fields["learned"]
    assert (learned["iterationFixedMs"], learned["iterationMsPerSequence"]) == (20.0, 2.0)
    # A restarted operator reads the engine model back from what status stores.
    restored = history_from_status({"learned": learned})
    assert restored.tokens.iteration == (20.0, 2.0)
    assert restored.tokens.kv_per_sequence == 0.01


def test_llm_status_predicts_the_ttft_on_the_line_measured_on_a_settled_fleet() -> None:
    """The ticks of ``test_llm_tail`` (4 pods, 10 -> 30 sequences each, iterations of
    20 + 2 n ms), each with a TTFT p95 on the line 400 + 25 n ms. At the end 4 pods
    generate 1500 tokens/s and the fleet grows to 5: each replica then runs n = 0.3 x 20
    / (1 - 0.3 x 2) = 15 sequences, at which the line gives 400 + 25 x 15 = 775 ms."""
    spec = parse_spec(minimal_spec(slo=LLM_SLO))
    history = ScalerHistory()
    for state, obs in ticks(lambda tick, n: replace(tick, ttft_p95_ms=400.0 + 25.0 * n)):
        decision = decide(spec, state, obs, history, obs.at)
        history = decision.history
    assert decision.desired_replicas == 5
    outcome = TickOutcome(spec, decision, obs, 4, False, DEFAULT_TUNING)
    change = outcome.status(1, obs.at, 0.0)({})
    assert change is not None
    assert change.fields["predictedTtftP95Ms"] == pytest.approx(775.0, abs=0.5)


def test_llm_status_shows_the_kv_cache_and_the_preemptions_as_measured() -> None:
    """vLLM preempting 0.3 sequences/s with its caches 0.93 full on average: status says
    so beside the latencies, where a user looking into a scale-up would look."""
    spec = parse_spec(minimal_spec(slo=LLM_SLO))
    obs = replace(llm(1000.0, 4, 32.0, kv=0.93), preemption_rate=0.3)
    decision = decide(spec, fleet(4), obs, history_from_learned(ENGINE), 1000.0)
    change = TickOutcome(spec, decision, obs, 4, False, DEFAULT_TUNING).status(1, 1000.0, 0.0)({})
    assert change is not None
    assert (change.fields["kvCacheUsage"], change.fields["preemptionRate"]) == (0.93, 0.3)
