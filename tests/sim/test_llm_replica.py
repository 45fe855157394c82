"""The token-level LLM replica: what a client of one vLLM-like engine sees.

Profile: an iteration takes 30 ms + 1 ms per running sequence + 0.3 ms per prompt
token prefilled in it. Expected times below are worked out by hand from that.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpufleet.sim.llm import LlmProfile, LlmReplica, gap_quantile_s
from gpufleet.sim.replica import PodState
from gpufleet.sim.request_log import RequestLog
from gpufleet.sim.result import latency_stats
from gpufleet.sim.scheduler import Scheduler
from gpufleet.sim.trace import Trace

PROFILE = LlmProfile(
    prefill_ms_per_token=0.3, decode_base_ms=30.0, decode_ms_per_seq=1.0, kv_tokens=4096
)


def arrive(pod: LlmReplica, rid: int, now: float) -> None:
    pod.accept(rid, now)


def started(
    requests: list[tuple[float, int, int]],
    profile: LlmProfile,
    until: float,
    slow_gap_s: float | None = None,
) -> tuple[RequestLog, LlmReplica]:
    """(arrival s, prompt tokens, output tokens) on one ready replica, its events run up to
    ``until`` seconds; gaps longer than ``slow_gap_s`` counted per request."""
    arrivals = np.asarray([r[0] for r in requests])
    trace = Trace(
        "t",
        arrivals,
        prompt_tokens=np.asarray([float(r[1]) for r in requests]),
        output_tokens=np.asarray([float(r[2]) for r in requests]),
    )
    log = RequestLog.for_trace(trace, slow_gap_s=slow_gap_s)
    sched = Scheduler()
    pod = LlmReplica(0, 0.0, profile, log, sched, timeout_s=600.0)
    pod.state = PodState.READY
    for rid, at in enumerate(arrivals):
        sched.at(float(at), partial(arrive, pod, rid))
    while sched.heap and sched.heap[0][0] < until:
        sched.run_next()
    return log, pod


def serve(
    requests: list[tuple[float, int, int]],
    profile: LlmProfile = PROFILE,
    slow_gap_s: float | None = None,
) -> tuple[RequestLog, LlmReplica]:
    """(arrival s, prompt tokens, output tokens) on one ready replica, run to the end."""
    return started(requests, profile, math.inf, slow_gap_s)


def ms(values: list[float] | None) -> list[float]:
    assert values is not None
    return [round(v * 1000.0, 2) for v in values]


@pytest.mark.parametrize(
    ("requests", "ttft_ms", "tpot_ms", "e2e_ms"),
    [
        # Alone: prefill 30 + 0.3 x 1000 = 330 ms; then 9 tokens at 30 + 1 = 31 ms each.
        ([(0.0, 1000, 10)], [330.0], [31.0], [609.0]),
        # Together: one prefill iteration of 30 + 600 ms; then 32 ms per shared iteration.
        ([(0.0, 1000, 10), (0.0, 1000, 10)], [630.0, 630.0], [32.0, 32.0], [918.0, 918.0]),
        # B arrives while A decodes: it joins at the next boundary (423 ms); that iteration
        # decodes A and prefills B: 30 + 1 + 300 = 331 ms, so B's first token at 754 ms.
        ([(0.0, 1000, 100), (0.4, 1000, 2)], [330.0, 354.0], [None, 32.0], [None, 386.0]),
    ],
    ids=["alone", "batched-together", "joins-mid-decode"],
)
def test_ttft_is_wait_plus_prefill_and_tpot_is_the_iteration_time(
    requests: list[tuple[float, int, int]],
    ttft_ms: list[float],
    tpot_ms: list[float | None],
    e2e_ms: list[float | None],
) -> None:
    log, _ = serve(requests)
    assert ms(log.ttft) == ttft_ms
    for got, want in zip(ms(log.tpot), tpot_ms, strict=True):
        if want is not None:
            assert got == want
    for got, want in zip(ms(log.latency), e2e_ms, strict=True):
        if want is not None:
            assert got == want
    assert log.answered == len(requests)


CHUNKED = PROFILE.model_copy(update={"max_num_batched_tokens": 512})
"""vLLM V1's chunked prefill with a 512-token budget per iteration."""


@pytest.mark.parametrize(
    ("requests", "ttft_ms", "e2e_ms"),
    [
        # Alone: 1,000 prompt tokens in two iterations, 30 + 0.3 x 512 = 183.6 ms and
        # 30 + 0.3 x 488 = 176.4 ms; then 9 tokens at 31 ms.
        ([(0.0, 1000, 10)], [360.0], [639.0]),
        # A (100-token prompt) decodes from 60 ms, a token every 31 ms; B (2,000 tokens)
        # arrives at 500 ms and joins at A's next boundary, 525 ms. Each iteration decodes
        # A and prefills 511 of B's tokens (31 + 153.3 = 184.3 ms), the fourth the last
        # 467 (171.1 ms): B's first token at 1,249 ms, TTFT 749 ms -- and A never waits
        # more than 184.3 ms for a token, where a whole prefill would stall it 631 ms.
        # Then both decode (32 ms; B is done at 1,281 ms), and A's last 29 tokens at 31 ms.
        ([(0.0, 100, 50), (0.5, 2000, 2)], [60.0, 749.0], [2180.0, 781.0]),
    ],
    ids=["alone", "long-prompt-joins-mid-decode"],
)
def test_a_token_budget_prefills_long_prompts_in_chunks(
    requests: list[tuple[float, int, int]], ttft_ms: list[float], e2e_ms: list[float]
) -> None:
    log, _ = serve(requests, CHUNKED)
    assert ms(log.ttft) == ttft_ms
    assert ms(log.latency) == e2e_ms


def test_a_prompt_being_prefilled_in_chunks_counts_as_running_and_its_tokens_when_done() -> None:
    _, pod = started([(0.0, 1000, 10)], CHUNKED, 0.2)  # the first chunk's iteration, 183.6 ms
    # vLLM's gauge counts a request being prefilled as running; its prompt tokens are
    # counted when its prefill completes, as vLLM counts them.
    assert (pod.running_count, pod.waiting, pod.prompt_tokens_total) == (1, 0, 0.0)
    _, done = serve([(0.0, 1000, 10)], CHUNKED)
    assert (done.prompt_tokens_total, done.generation_tokens_total) == (1000.0, 10.0)


def test_a_token_budget_must_hold_a_full_decode_step() -> None:
    wanted = r"max_num_batched_tokens \(32\) must be at least max_num_seqs \(64\)"
    with pytest.raises(ValueError, match=wanted):
        LlmProfile.model_validate(
            {**PROFILE.model_dump(), "max_num_seqs": 64, "max_num_batched_tokens": 32}
        )


def test_a_full_kv_cache_queues_the_next_request_until_one_finishes() -> None:
    small = PROFILE.model_copy(update={"kv_tokens": 1500})
    # Each needs 1,010 tokens of KV: the second waits for the first to finish (609 ms),
    # then is prefilled alone (330 ms).
    log, _ = serve([(0.0, 1000, 10), (0.0, 1000, 10)], small)
    assert ms(log.ttft) == [330.0, 939.0]


def test_the_slot_limit_bounds_the_running_batch() -> None:
    two_slots = PROFILE.model_copy(update={"max_num_seqs": 2})
    log, _ = serve([(0.0, 100, 5)] * 3, two_slots)
    first, second, third = ms(log.ttft)
    assert first == second == 90.0  # 30 + 0.3 x 200
    assert third > first + 90.0  # admitted only after one of the first two left


def test_a_request_larger_than_the_kv_cache_fails_instead_of_blocking() -> None:
    log, _ = serve([(0.0, 5000, 10), (0.0, 100, 5)])
    assert log.failed == [True, False]
    assert math.isnan(ms(log.ttft)[0])


def test_gauges_have_vllm_semantics() -> None:
    small = PROFILE.model_copy(update={"kv_tokens": 1500})
    _, pod = started([(0.0, 1000, 10), (0.0, 1000, 10)], small, 0.001)  # woken, admitted
    # One runs (holding its 1,000 prompt tokens of 1,500), one waits: no room for its prompt.
    assert (pod.running_count, pod.waiting) == (1, 1)
    assert pod.kv_usage_at(0.001) == pytest.approx(1000 / 1500)


def test_a_sequence_holds_the_kv_of_the_tokens_computed_so_far() -> None:
    """vLLM V1 allocates as a sequence grows: its prompt, then a slot per token fed."""
    _, pod = started([(0.0, 100, 50)], PROFILE, 0.1)  # its prefill, 30 + 0.3 x 100 = 60 ms
    assert pod.kv_usage_at(0.0601) == pytest.approx(100 / 4096)
    # Ten decode iterations of 31 ms later, ten more tokens were fed.
    assert pod.kv_usage_at(0.060 + 10 * 0.031 + 0.001) == pytest.approx(110 / 4096)


@pytest.mark.parametrize(
    ("prefix_caching", "b_latency_ms", "b_gap_ms"),
    [
        # Recomputed whole: 30 + 0.3 x 551 = 195.3 ms; 6,549 + 195.3 + 148 x 31.
        (False, 11332.3, 4814.3),
        # Its 550 tokens freed as 34 cached blocks (544 tokens), the part block's 6 first;
        # A's last 149 tokens take those 6, then 143 of B's prefix from its tail: 401 are
        # left, 400 in whole blocks. B recomputes 151 tokens: 30 + 0.3 x 151 = 75.3 ms.
        (True, 11212.3, 4694.3),
    ],
    ids=["recomputed-whole", "prefix-cached"],
)
def test_a_full_kv_cache_preempts_the_newest_sequence_which_is_recomputed_later(
    prefix_caching: bool, b_latency_ms: float, b_gap_ms: float
) -> None:
    """KV for 1,100 tokens; A and B (500-token prompts, 200-token answers) arrive together.
    Both prefill at once (30 + 0.3 x 1,000 = 330 ms) and decode at 32 ms a token; 50
    iterations later (1,930 ms) the cache is full (2 x 500 + 2 x 50) and B, the newest, is
    preempted: its 550 tokens freed, its 51 generated ones kept. A decodes alone at 31 ms
    for its last 149 tokens (B's 551-token sequence never fits beside it), finishing at
    1,930 + 149 x 31 = 6,549 ms. Then B is readmitted: it prefills again what the cache no
    longer holds of its prompt and tokens, and its last 148 tokens come at 31 ms, its first
    token still the one at 330 ms."""
    small = PROFILE.model_copy(update={"kv_tokens": 1100, "prefix_caching": prefix_caching})
    log, pod = serve([(0.0, 500, 200), (0.0, 500, 200)], small, slow_gap_s=0.1)
    assert ms(log.ttft) == [330.0, 330.0]
    assert ms(log.latency) == [6549.0, b_latency_ms]
    assert pod.preemptions == 1
    # B's client waits from its token at 1,930 ms to the first after its recompute: the
    # only gap over 100 ms.
    assert max(ms(pod.gap_s)) == b_gap_ms
    assert log.slow_gaps == [0, 1]
    assert (pod.prompt_tokens_total, pod.generation_tokens_total) == (1000.0, 400.0)
    assert (pod.running_count, pod.waiting, pod.kv_used) == (0, 0, 0.0)


def test_every_gap_counts_for_itl_where_tpot_averages_a_stall_away() -> None:
    """A (1,000-token prompt, 10 tokens) decodes alone at 31 ms; B (1,000 + 2) arrives at
    400 ms and joins at the boundary at 423 ms: that iteration decodes A and prefills B,
    30 + 1 + 300 = 331 ms. A's 9 gaps: 31, 31, 31, 331, 32 (beside B), 31 x 4; its mean
    (TPOT) 580 / 9 = 64.4 ms is within a 100 ms target, but 1 gap in 9 is over it: more
    than the 5 % a p95 allows, so A misses an ITL target of 100 ms and meets a TPOT one."""
    log, pod = serve([(0.0, 1000, 10), (0.4, 1000, 2)], slow_gap_s=0.1)
    assert ms(log.tpot) == [64.44, 32.0]
    assert log.slow_gaps == [1, 0]
    assert sum(pod.gap_count) == 9 + 1
    # The ten gaps: seven of 31 ms, two of 32, the stall: the p95 is the stall.
    assert round(gap_quantile_s(pod.gap_s, pod.gap_count, 0.5) * 1000.0, 2) == 31.0
    assert round(gap_quantile_s(pod.gap_s, pod.gap_count, 0.95) * 1000.0, 2) == 331.0
    within_itl = latency_stats(log, 3000.0, itl_ms=100.0)["within_slo"]
    within_tpot = latency_stats(log, 3000.0, tpot_ms=100.0)["within_slo"]
    assert (within_itl, within_tpot) == (0.5, 1.0)


def test_a_ttft_is_observed_when_the_first_token_comes_not_when_the_request_ends() -> None:
    """As vLLM (and gpufleet-server's LLM mode) observe their TTFT histogram: a
    100-token answer's first token comes at 330 ms; it finishes 99 x 31 ms later, at
    3,399 ms -- the TTFT sample is there from 330 ms on."""
    _, pod = serve([(0.0, 1000, 100)])
    assert ms(pod.first_token_times) == [330.0]
    assert ms(pod.first_token_ttft) == [330.0]
    assert ms(pod.done_at) == [3399.0]


@settings(max_examples=60, deadline=None)
@given(
    requests=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=5.0),
            st.integers(min_value=1, max_value=3000),
            st.integers(min_value=1, max_value=40),
        ),
        min_size=1,
        max_size=25,
    ),
    budget=st.sampled_from([None, 64, 100, 512, 2048]),
    kv_tokens=st.sampled_from([4096, 2000]),
    prefix_caching=st.booleans(),
)
def test_every_request_is_served_whole_or_failed_whatever_the_budget(
    requests: list[tuple[float, int, int]], budget: int | None, kv_tokens: int, prefix_caching: bool
) -> None:
    """Chunked or not, preempted or not, the engine loses no request and no token: each is
    answered with all its output tokens, or failed (it cannot fit the KV cache); every
    prompt of an answered request is counted once."""
    profile = PROFILE.model_copy(
        update={
            "max_num_batched_tokens": budget,
            "max_num_seqs": 64,
            "kv_tokens": kv_tokens,
            "prefix_caching": prefix_caching,
        }
    )
    ordered = sorted(requests)
    log, pod = serve(ordered, profile)
    answered = [not failed for failed in log.failed]
    assert log.answered == sum(answered)
    fits = [prompt + output <= kv_tokens for _, prompt, output in ordered]
    assert answered == fits
    served = [r for r, fit in zip(ordered, fits, strict=True) if fit]
    assert pod.generation_tokens_total == sum(output for _, _, output in served)
    assert pod.prompt_tokens_total == sum(prompt for _, prompt, _ in served)
    # Every gap between two tokens of an answered stream recorded once, a recompute's too.
    assert sum(pod.gap_count) == sum(output - 1 for _, _, output in served)
    assert (pod.running_count, pod.waiting, pod.kv_used) == (0, 0, 0.0)
