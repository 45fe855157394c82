"""The learned state survives an operator restart: what status stores reads back to
the same learned values, and a history rebuilt from it decides like one that learned."""

from __future__ import annotations

import pytest

from gpufleet.domain.scaling.learned import LearnedState, history_from_learned, learned_state

FULL = LearnedState(
    cold_start_s=95.0,
    capacity_per_replica=42.5,
    tail_factor=2.4,
    batch_fixed_ms=600.0,
    batch_per_request_ms=300.0,
    max_batch_seen=3.5,
    max_batch=4.0,
)


@pytest.mark.parametrize(
    "state",
    [
        FULL,
        LearnedState(),
        LearnedState(cold_start_s=30.0),
        LearnedState(capacity_per_replica=7.0, tail_factor=1.5),
    ],
)
def test_learned_state_round_trips_through_history_and_status(state: LearnedState) -> None:
    assert learned_state(history_from_learned(state)) == state
    assert LearnedState.from_dict(dict(state.as_dict())) == state


def test_status_keeps_only_what_was_learned() -> None:
    assert LearnedState(cold_start_s=30.0).as_dict() == {"cold_start_s": 30.0}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"cold_start_s": "fast"}, LearnedState()),
        ({"cold_start_s": -5}, LearnedState()),
        ({"cold_start_s": float("nan")}, LearnedState()),
        ({"cold_start_s": True}, LearnedState()),
        ({"cold_start_s": 60, "unknown_key": 1.0}, LearnedState(cold_start_s=60.0)),
    ],
)
def test_a_hand_edited_status_never_breaks_the_restore(
    raw: dict[str, object], expected: LearnedState
) -> None:
    assert LearnedState.from_dict(raw) == expected


def test_a_batch_time_needs_both_parts() -> None:
    half = LearnedState(batch_fixed_ms=600.0)
    assert learned_state(history_from_learned(half)).batch_fixed_ms is None
