"""Properties of the LLM rules over random fleets and loads."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet.domain.scaling.llm_rules import HOLD_SIGNALS
from gpufleet.domain.scaling.policy import decide
from gpufleet.domain.scaling.types import ScalerHistory
from tests.scaling.builders import fleet, spec
from tests.scaling.test_llm_rules import LLM_SLO, llm


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 20),
    st.floats(1.0, 60.0),
    st.floats(0.0, 30.0),
    st.sets(st.sampled_from(HOLD_SIGNALS), min_size=1),
)
def test_an_unknown_token_signal_never_scales_an_llm_fleet_down(
    replicas: int, busy: float, quiet: float, lost: set[str]
) -> None:
    """A fleet learns at ``busy`` sequences per pod, then the load drops to ``quiet``
    while some token signal is unknown, for longer than any window: it never shrinks."""
    s = spec(slo=LLM_SLO)
    history = ScalerHistory()
    for t in range(0, 300, 5):
        d = decide(s, fleet(replicas), llm(float(t), replicas, busy), history, float(t))
        history = d.history
    current = d.desired_replicas
    for t in range(300, 1200, 5):
        obs = llm(float(t), current, quiet, lost=tuple(sorted(lost)))
        d = decide(s, fleet(current), obs, history, float(t))
        history = d.history
        assert d.desired_replicas >= current
        current = d.desired_replicas
