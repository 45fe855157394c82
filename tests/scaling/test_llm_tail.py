"""The slowest streams: TTFT and ITL p99s fitted against the running sequences per
replica, and the batch bounded so that both stay within their targets.

The engine is the one of ``test_llm_rules``: iterations of 20 ms + 2 ms per running
sequence, 800 prompt and 200 generated tokens per request. 4 pods run a load that
rises slowly from 10 to 30 sequences per pod over 10 minutes, then holds 30 for 5
(slow enough to be steady; flat at the end, so no trend adds to the decision). Each
tick reports TTFT and ITL p99s on the lines the case gives; the targets are TTFT 2000
ms and ITL 100 ms with the default 5 % headroom (1900 and 95 ms).

Without any p99, the ITL p95 model bounds the batch at 25.7 sequences per replica
(360 generated tokens/s): 4 pods at 30 sequences (80 ms per token) generate 1500
tokens/s, 4.2 replicas' worth: 5. A rule may word it in requests (the trend's), from
the same sequences per replica.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from gpufleet.domain.scaling.types import FleetState, Observations
from tests.scaling.builders import fleet, run, spec
from tests.scaling.test_llm_rules import LLM_SLO, llm

Line = tuple[float, float] | None
"""(ms at no load, ms per running sequence), or no p99 reported."""


def ticks(ttft: Line, itl: Line) -> list[tuple[FleetState, Observations]]:
    out = []
    for t in range(0, 1605, 5):
        n = 10.0 + 20.0 * abs((t % 800) - 400) / 400.0
        obs = llm(float(t), 4, n)
        obs = replace(
            obs,
            ttft_p99_ms=None if ttft is None else ttft[0] + ttft[1] * n,
            itl_p99_ms=None if itl is None else itl[0] + itl[1] * n,
        )
        out.append((fleet(4), obs))
    return out


@dataclass(frozen=True)
class Case:
    name: str
    ttft: Line
    itl: Line
    replicas: int
    fragment: str


CASES = [
    Case(
        # No p99 reported (an engine without the histograms' tail): the p95 model alone.
        "without p99s, the ITL p95 model",
        None,
        None,
        5,
        "(25.7 sequences per replica, bound by ITL p95 <= 100 ms",
    ),
    Case(
        # TTFT p99 = 1000 ms + 75 ms per sequence: 1900 ms at (1900 - 1000) / 75 = 12
        # sequences, at 20 + 2 x 12 = 44 ms per token: 273 generated tokens/s per replica.
        # 1500 / 273 = 5.5, so 6.
        "TTFT p99 growing with the batch bounds it",
        (1000.0, 75.0),
        None,
        6,
        "12.0 sequences per replica, bound by TTFT p99 <= 1900 ms (1000 ms + 75 ms per sequence)",
    ),
    Case(
        # ITL p99 = 35 ms + 5 ms per sequence: 95 ms at 12 sequences, 44 ms per token,
        # 273 tokens/s per replica: 1500 / 273 = 5.5, so 6.
        "ITL p99 growing with the batch bounds it",
        None,
        (35.0, 5.0),
        6,
        "(12.0 sequences per replica, bound by ITL p99 <= 95 ms (35 ms + 5 ms per sequence)",
    ),
    Case(
        # TTFT p99 of 2500 ms at any load (prompts too long to prefill in 1.9 s): no fleet
        # size removes it, so it bounds nothing (the ITL p95 model decides, as above).
        "a tail that misses at no load bounds nothing",
        (2500.0, 0.0),
        None,
        5,
        "(25.7 sequences per replica, bound by ITL p95 <= 100 ms",
    ),
    Case(
        # TTFT p99 = 1000 ms + 200 ms per sequence would allow 4.5 sequences, below the
        # points measured (10-30, the last rise weighing most: their low end, two standard
        # deviations below their mean, sits near 10): one capacity margin (10 %) below it,
        # about 9 sequences at 38 ms per token, 240 tokens/s: 1500 / 240 = 6.3, so 7.
        "below the points measured, one capacity margin at a time",
        (1000.0, 200.0),
        None,
        7,
        "bound by TTFT p99 <= 1900 ms (1000 ms + 200 ms per sequence), measured down to ",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_slowest_streams_bound_the_batch(case: Case) -> None:
    d = run(spec(slo=LLM_SLO), ticks(case.ttft, case.itl))
    assert d.desired_replicas == case.replicas, d.reason
    assert case.fragment in d.reason


def test_a_tail_bound_is_bought_only_up_to_what_it_saves() -> None:
    """TTFT p99 = 1850 ms + 20 ms per sequence: within 1900 ms at 2.5 sequences per
    replica (25 ms per token, 100 generated tokens/s each). 10 pods run 2.5-8 sequences
    each (measured down to about 2); at the end, 8 each at 36 ms per token: 2,222
    generated tokens/s, for which the tail bound alone would order 23 replicas (24 with
    the rise). The ITL p95 bound alone gives 25.7 sequences (71.4 ms per token: 360
    tokens/s each). The tail bound saves at most 4 % of the streams (99 % against
    95 %); at the ski rental's 20 cold starts of GPU time for a cold start of a pod's
    requests missing, that is worth 0.8 times the p95-sized fleet more: a replica is
    given no fewer sequences than serve 360 / 1.8 = 200 tokens/s (6.7 sequences at
    33.3 ms), and 2,222 / 200 = 11.1: 12."""
    out = []
    for t in range(0, 1605, 5):
        n = 2.5 + 5.5 * abs((t % 800) - 400) / 400.0
        obs = replace(llm(float(t), 10, n), ttft_p99_ms=1850.0 + 20.0 * n)
        out.append((fleet(10), obs))
    d = run(spec(slo=LLM_SLO), out)
    assert d.desired_replicas == 12, d.reason
    assert "6.7 sequences per replica, bound by TTFT p99 <= 1900 ms" in d.reason
    assert "bought up to 1.8x the replicas the p95s need" in d.reason
