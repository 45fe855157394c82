"""llm-d's workload-variant autoscaler (saturation mode) in the LLM simulator."""

from __future__ import annotations

from gpufleet.sim.engine import simulate
from gpufleet.sim.llm import LlmProfile, with_llm_work
from gpufleet.sim.policies.wva import WvaPolicy
from gpufleet.sim.result import RunResult
from gpufleet.sim.settings import ColdStart, SimSettings
from gpufleet.sim.trace_files import load_trace

PROFILE = LlmProfile(
    prefill_ms_per_token=0.2, decode_base_ms=20.0, decode_ms_per_seq=0.5, kv_tokens=16384
)


def run(kv_threshold: float) -> RunResult:
    trace = load_trace("synthetic:constant?rate=4&duration=1500", seed=2, llm=True)
    settings = SimSettings(
        ttft_ms=2000, itl_ms=100, initial_replicas=1, cold_start=ColdStart(seconds=60), seed=2
    )
    return simulate(with_llm_work(trace, PROFILE), PROFILE, settings, WvaPolicy(kv_threshold))


def test_adds_one_replica_at_a_time_and_counts_the_starting_one() -> None:
    result = run(0.8)
    tl = result.timeline
    starting = [n - ready for n, ready in zip(tl.replicas, tl.ready, strict=True)]
    assert max(starting) == 1  # never a second pod while one is starting
    assert max(tl.replicas) > 2  # one replica's KV cache cannot hold 4 requests/s


def test_a_lower_kv_threshold_keeps_more_replicas() -> None:
    assert run(0.5).mean_replicas > run(0.9).mean_replicas
