"""The LLM rules: a fleet sized in tokens, bounded by its KV cache, never shrunk blind.

The engine in these tests runs iterations of 20 ms + 2 ms per running sequence
(``FIXED_MS``, ``PER_SEQ_MS``); requests carry 800 prompt and 200 generated tokens.
Each tick reports what vLLM's metrics would: running sequences, generated and prompt
tokens/s (one token per running sequence per iteration), completions, KV usage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from gpufleet.domain.scaling.types import (
    Decision,
    FleetState,
    Observations,
    ReasonCode,
)
from gpufleet.domain.spec import ModelDeploymentSpec
from tests.scaling.builders import fleet, run, spec

FIXED_MS = 20.0
PER_SEQ_MS = 2.0
PROMPT = 800.0
OUTPUT = 200.0
KV_PER_SEQ = 0.01
LLM_SLO = {"ttftP95Ms": 2000.0, "itlP95Ms": 100.0}


def llm(
    at: float,
    ready: int,
    per_replica: float,
    *,
    kv: float | None = None,
    queue: float = 0.0,
    lost: tuple[str, ...] = (),
) -> Observations:
    """A steady load of ``per_replica`` running sequences on each of ``ready`` pods."""
    iteration_s = (FIXED_MS + PER_SEQ_MS * per_replica) / 1000.0
    generated = ready * per_replica / iteration_s
    served = generated / OUTPUT
    values: dict[str, float | None] = {
        "generation_tokens_rate": generated,
        "prompt_tokens_rate": served * PROMPT,
        "running_requests": ready * per_replica,
        "mean_running_requests": ready * per_replica,
        "kv_cache_usage": KV_PER_SEQ * per_replica if kv is None else kv,
    }
    for name in lost:
        values[name] = None
    if "running_requests" in lost:
        values["mean_running_requests"] = None  # one gauge: its average goes with it
    return Observations(
        at=at,
        request_rate=served,
        served_rate=served,
        unserved_rate=0.0,
        queue_depth=queue,
        generation_tokens_rate=values["generation_tokens_rate"],
        prompt_tokens_rate=values["prompt_tokens_rate"],
        running_requests=values["running_requests"],
        mean_running_requests=values["mean_running_requests"],
        kv_cache_usage=values["kv_cache_usage"],
        kv_cache_usage_max=values["kv_cache_usage"],
        pods_reporting=ready,
        unknown=dict.fromkeys(lost, "no vllm sample from pods a, b"),
    )


def varied(ready: int, last: float, until: float = 300.0) -> list[tuple[FleetState, Observations]]:
    """Ticks whose running batch cycles 20-24-28-32 per replica (so the iteration time's
    growth per sequence can be fitted), ending on ``last`` sequences per replica."""
    cycle = (20.0, 24.0, 28.0, 32.0)
    ticks = [
        (fleet(ready), llm(t, ready, cycle[i % 4])) for i, t in enumerate(range(0, int(until), 5))
    ]
    return [*ticks, (fleet(ready), llm(until, ready, last))]


@dataclass(frozen=True)
class Case:
    name: str
    spec: ModelDeploymentSpec
    ticks: list[tuple[FleetState, Observations]]
    replicas: int
    rule: str
    fragments: tuple[str, ...]


CASES = [
    Case(
        # ITL 100 ms less 5 % headroom: 95 ms, so the busiest replica runs (95 - 20) / 2 =
        # 37.5 sequences; it sits 2.326 standard deviations (the 99th percentile) up a
        # Poisson scatter, so the mean is n with n + 2.326 sqrt(n) = 37.5: n = 25.7, at
        # 20 + 2 x 25.7 = 71 ms per token, 360 generated tokens/s per replica (1.8k with the
        # prompts). 4 pods at 32 sequences (84 ms per token) generate 1524 tokens/s: 4.2
        # replicas' worth, so 5.
        "tokens/s over per-replica token capacity, the batch bounded by ITL",
        spec(slo=LLM_SLO),
        varied(4, 32.0),
        5,
        "token-load",
        (
            "scaled 4\u21925: 7.6k tokens/s needs 5 replicas at 1.8k each with TTFT p95 <= "
            "2000 ms and ITL p95 <= 100 ms (25.7 sequences per replica, bound by ITL p95 <= "
            "100 ms; 71 ms per token); KV 0.32 on 4 pods",
        ),
    ),
    Case(
        # A TPOT target (each request's mean gap) bounds the batch as ITL does: with no
        # TPOT measured yet the same prior ratio, so the same 25.7 sequences and 5 replicas.
        "tokens/s over per-replica token capacity, the batch bounded by TPOT",
        spec(slo={"ttftP95Ms": 2000.0, "tpotP95Ms": 100.0}),
        varied(4, 32.0),
        5,
        "token-load",
        (
            "scaled 4\u21925: 7.6k tokens/s needs 5 replicas at 1.8k each with TTFT p95 <= "
            "2000 ms and TPOT p95 <= 100 ms (25.7 sequences per replica, bound by TPOT p95 <= "
            "100 ms; 71 ms per token)",
        ),
    ),
    Case(
        # 1 sequence per pod generates 45 tokens/s: no load to speak of, yet the KV cache
        # is 95 % full on each of 3 pods (long contexts): 3 x 0.95 / 0.85 = 3.4, so 4.
        "KV near full scales up even at a low token rate",
        spec(slo=LLM_SLO),
        [(fleet(3), llm(t, 3, 1.0, kv=0.95)) for t in range(0, 60, 5)],
        4,
        "kv-cache",
        ("scaled 3\u21924: KV cache 0.95 full on 3 pods: 4 replicas keep it under 0.85",),
    ),
    Case(
        # Without an ITL target, only KV bounds the batch: the busiest replica holds
        # 0.85 / 0.01 = 85 sequences, the mean n + 2.326 sqrt(n) = 85: n = 66.1 at 152 ms
        # per token, 434 tokens/s per replica; 6 pods at 32 sequences generate 2286: 6.
        "with a TTFT target only, the KV cache bounds the batch",
        spec(slo={"ttftP95Ms": 2000.0}),
        varied(6, 32.0),
        6,
        "token-load",
        (
            "tokens/s needs 6 replicas at 2.2k each with TTFT p95 <= 2000 ms (66.1 sequences "
            "per replica, bound by KV <= 0.85; 152 ms per token)",
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_llm_rule_sizes_and_explains_in_tokens(case: Case) -> None:
    d = run(case.spec, case.ticks)
    assert (d.desired_replicas, d.rule) == (case.replicas, case.rule)
    for fragment in case.fragments:
        assert fragment in d.reason


def test_the_iteration_time_is_read_from_the_running_batch_averaged_over_the_rate_window() -> None:
    """The same fleet as the first case, but the gauges are read at moments when clumps
    of requests have just been admitted (twice the window's mean batch, and the KV it
    holds) or have just drained (half of it). The generated tokens' rate is a mean over
    the rate window; so is the batch that pairs with it, and the fleet is sized as for
    the steady reading: 25.7 sequences per replica, 5 replicas."""
    ticks = []
    for i, (state, obs) in enumerate(varied(4, 32.0)):
        moment = 2.0 if i % 2 else 0.5
        kv = (obs.kv_cache_usage or 0.0) * moment
        read = replace(
            obs,
            running_requests=(obs.mean_running_requests or 0.0) * moment,
            kv_cache_usage=kv,
            kv_cache_usage_max=kv,
        )
        ticks.append((state, read))
    d = run(spec(slo=LLM_SLO), ticks)
    assert d.desired_replicas == 5
    assert "(25.7 sequences per replica, bound by ITL p95 <= 100 ms; 71 ms per token)" in d.reason


def _fall_after_peak(lost: tuple[str, ...]) -> Decision:
    """8 pods busy for 10 minutes, then the load falls to 4 sequences per pod over the
    next 12 minutes, halving every 4 (slower than the 120 s cold start: no step down to
    hold pods for) -- with ``lost`` token signals unknown throughout the fall."""
    s = spec(slo=LLM_SLO)
    ticks = varied(8, 32.0, until=600.0)
    ticks += [
        (fleet(8), llm(t, 8, max(4.0, 32.0 * 0.5 ** ((t - 600) / 240)), lost=lost))
        for t in range(605, 1500, 5)
    ]
    return run(s, ticks)


@pytest.mark.parametrize(
    "lost", [("generation_tokens_rate",), ("running_requests",), ("kv_cache_usage",)]
)
def test_unknown_token_metrics_never_scale_down(lost: tuple[str, ...]) -> None:
    d = _fall_after_peak(lost)
    assert d.desired_replicas == 8
    assert d.reason_code is ReasonCode.METRICS_UNKNOWN_HOLD
    assert f"{lost[0].replace('_', ' ')} unknown" in d.reason


def test_known_token_metrics_let_a_fallen_load_scale_down() -> None:
    """The same fall with every signal known: the fleet shrinks (so the hold above is
    the unknown metric's doing)."""
    assert _fall_after_peak(()).desired_replicas < 8


def test_a_pod_not_yet_scraped_leaves_the_fleet_sized_in_tokens() -> None:
    """A 5th pod just became ready and reports nothing yet: the 4 others' sums are lower
    bounds (1524 generated tokens/s at least). The fleet is still sized by its learned
    token capacity -- 360 generated tokens/s per replica, 1.8 req/s of 200-token answers
    -- not by a request-level figure, and says the load is a lower bound."""
    known = llm(305.0, 4, 32.0)
    bounded = Observations(
        at=305.0,
        pods_reporting=4,
        unknown={n: "4 of 5 pods reporting" for n in ("request_rate", "served_rate")},
        lower_bounds={
            "request_rate": known.served_rate or 0.0,
            "served_rate": known.served_rate or 0.0,
            "generation_tokens_rate": known.generation_tokens_rate or 0.0,
            "prompt_tokens_rate": known.prompt_tokens_rate or 0.0,
            "running_requests": known.running_requests or 0.0,
        },
        queue_depth=0.0,
    )
    d = run(spec(slo=LLM_SLO), [*varied(4, 32.0), (fleet(5), bounded)])
    assert d.capacity_per_replica == pytest.approx(1.8, rel=0.01)
    assert d.desired_replicas == 5
    assert "at least 7.6k tokens/s needs 5 replicas at 1.8k each" in d.reason


def _after_calm(
    measured: dict[str, float], slo: dict[str, float] = LLM_SLO
) -> tuple[Decision, Decision]:
    """8 settled pods at 20 sequences each meeting the targets, then, for 20 s at the same
    load, ``measured``: the decisions before and after."""
    s = spec(slo=slo)
    calm = {"ttft_p95_ms": 900.0, "itl_p95_ms": 40.0, "tpot_p95_ms": 35.0}
    ticks = varied(8, 20.0)
    ticks += [(fleet(8), replace(llm(t, 8, 20.0), **calm)) for t in range(305, 400, 5)]
    before = run(s, ticks)
    ticks += [
        (fleet(8), replace(llm(t, 8, 20.0), **{**calm, **measured})) for t in range(400, 420, 5)
    ]
    return before, run(s, ticks)


@pytest.mark.parametrize(
    ("slo", "measured"),
    [
        # The fitted line says 20 sequences each meet the targets; TTFT is measured over.
        (LLM_SLO, {"ttft_p95_ms": 2500.0, "itl_p95_ms": 60.0}),
        # Both met, but vLLM preempts: some pod's KV cache ran out (its mean reads lower).
        (LLM_SLO, {"preemption_rate": 0.2}),
        # A stream's pace: each request's mean gap over its target.
        ({**LLM_SLO, "tpotP95Ms": 80.0}, {"tpot_p95_ms": 85.0}),
    ],
    ids=["ttft-missed", "preempting", "tpot-missed"],
)
def test_a_measured_miss_caps_the_sequences_per_replica(
    slo: dict[str, float], measured: dict[str, float]
) -> None:
    """On the settled fleet at a steady load, a replica is then given at most 10 % fewer
    sequences than it missed at: 18."""
    before, after = _after_calm(measured, slo)
    assert "or KV ran out" not in before.reason
    assert "18.0 sequences per replica, bound by TTFT, ITL or TPOT p95 missed, or KV ran out" in (
        after.reason
    )
    assert after.desired_replicas > before.desired_replicas, after.reason


def _swinging(per_replica: float, ttft_p95_ms: float) -> list[tuple[FleetState, Observations]]:
    """8 pods whose iteration line is learned (``varied``), then 30 minutes at
    ``per_replica`` sequences each, the completions read 25 % below and above their mean
    on alternate ticks (few, long requests: no steady load to learn a ceiling at), TTFT
    p95 ``ttft_p95_ms`` against 2,000 ms."""
    ticks = varied(8, 20.0)
    for i, t in enumerate(range(305, 2100, 5)):
        tick = llm(t, 8, per_replica)
        assert tick.request_rate is not None
        swing = 1.25 if i % 2 else 0.75
        tick = replace(
            tick,
            request_rate=swing * tick.request_rate,
            served_rate=swing * tick.request_rate,
            ttft_p95_ms=ttft_p95_ms,
            itl_p95_ms=40.0,
        )
        ticks.append((fleet(8), tick))
    return ticks


def test_a_fleet_missing_ttft_keeps_its_replicas() -> None:
    """The token capacity (KV-bound) says 2 sequences a replica need far fewer than 8
    replicas; TTFT measured 2.5 s against 2 s says the 8 do not meet the target. No
    replica is released while the target is missed; once it is met, they are."""
    missing = run(spec(slo=LLM_SLO), _swinging(2.0, 2500.0))
    assert missing.desired_replicas == 8, missing.reason
    assert missing.rule == "target-missed"
    assert "TTFT p95 2500 ms > 2000 ms target at 2.0 sequences per replica" in missing.reason
    met = run(spec(slo=LLM_SLO), _swinging(2.0, 900.0))
    assert met.desired_replicas < 8, met.reason


def test_a_miss_no_fleet_size_removes_keeps_nothing() -> None:
    """At half a sequence a replica each request runs alone on its replica: a TTFT
    missed there is the requests' own prefill, and the idle replicas are released."""
    d = run(spec(slo=LLM_SLO), _swinging(0.5, 2500.0))
    assert d.desired_replicas < 8, d.reason
