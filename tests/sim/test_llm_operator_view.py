"""What the operator's reader sees of simulated LLM replicas: vLLM's histograms read at
the 95th and the 99th percentile, over the requests finished within the rate window."""

from __future__ import annotations

from gpufleet.domain.scaling.types import Observations
from gpufleet.settings import OperatorSettings
from gpufleet.sim.engine import simulate
from gpufleet.sim.llm import LlmProfile, with_llm_work
from gpufleet.sim.policies.base import PolicyContext
from gpufleet.sim.policies.gpufleet import observe
from gpufleet.sim.settings import SimSettings
from gpufleet.sim.trace_files import load_trace
from tests.sim.scripted import ScriptedPolicy

PROFILE = LlmProfile(
    prefill_ms_per_token=0.3, decode_base_ms=30.0, decode_ms_per_seq=1.0, kv_tokens=32768
)


class Probe(ScriptedPolicy):
    """Holds the fleet and records what the operator's reader would report each tick."""

    tick_seconds = 5.0

    def __init__(self, replicas: int) -> None:
        super().__init__(replicas, {})
        self.seen: list[Observations] = []

    def decide(self, now: float, ctx: PolicyContext) -> int | None:
        self.seen.append(observe(now, ctx.metrics, OperatorSettings()))
        return None


def steady_view() -> list[Observations]:
    """What the reader sees of 4 replicas at 6 requests/s (1.5 prompts/s each), after the
    first minute."""
    trace = load_trace("synthetic:constant?rate=6&duration=300", seed=3, llm=True)
    probe = Probe(replicas=4)
    simulate(with_llm_work(trace, PROFILE), PROFILE, SimSettings(seed=3), probe)
    steady = [o for o in probe.seen if o.at >= 60]
    assert steady
    return steady


def test_the_tails_are_read_beside_the_p95s() -> None:
    """Prompts of 1,000 tokens on average (gamma-distributed) prefill in 300 ms each; a
    long one stalls the sequences beside it, so the slowest 1 % start and stream later
    than the slowest 5 %."""
    steady = steady_view()
    for obs in steady:
        assert obs.ttft_p95_ms is not None
        assert obs.ttft_p99_ms is not None
        assert obs.tpot_p95_ms is not None
        assert obs.tpot_p99_ms is not None
        assert obs.ttft_p99_ms >= obs.ttft_p95_ms > 30.0
        assert obs.tpot_p99_ms >= obs.tpot_p95_ms >= 31.0
    assert any((o.ttft_p99_ms or 0.0) > (o.ttft_p95_ms or 0.0) for o in steady)
    assert any((o.tpot_p99_ms or 0.0) > (o.tpot_p95_ms or 0.0) for o in steady)


def test_itl_holds_every_gap_and_tpot_each_streams_mean() -> None:
    """1.5 prompts/s of ~1,000 tokens on each replica stall its iterations to ~330 ms, a
    few in a hundred: vLLM's ITL histogram holds each stalled gap, so its p99 is a stall;
    a stream's mean gap (TPOT) spreads its few stalls over its ~200 tokens."""
    for obs in steady_view():
        assert obs.itl_p95_ms is not None
        assert obs.itl_p99_ms is not None
        assert obs.tpot_p99_ms is not None
        assert obs.itl_p95_ms >= 31.0  # no gap is shorter than an iteration alone
        assert obs.itl_p99_ms > 250.0 > obs.tpot_p99_ms


def test_replicas_out_of_kv_show_preemptions_and_a_nearly_full_cache() -> None:
    """1 request/s of ~1,200 tokens each on two replicas, each running several sequences
    at a time. With caches of 4,000 tokens they outgrow the cache as they decode, and the
    reader sees what vLLM exports -- caches near full and sequences preempted; with caches
    of 32,768, neither."""
    trace = load_trace("synthetic:constant?rate=1&duration=240", seed=3, llm=True)
    seen = {}
    for kv_tokens in (4000, 32768):
        profile = PROFILE.model_copy(update={"kv_tokens": kv_tokens})
        probe = Probe(replicas=2)
        simulate(with_llm_work(trace, profile), profile, SimSettings(seed=3), probe)
        seen[kv_tokens] = [o for o in probe.seen if o.at >= 60]
    assert max(o.preemption_rate or 0.0 for o in seen[4000]) > 0.0
    assert max(o.kv_cache_usage or 0.0 for o in seen[4000]) > 0.9
    assert all(o.preemption_rate == 0.0 for o in seen[32768])
    assert max(o.kv_cache_usage or 0.0 for o in seen[32768]) < 0.5


def test_the_running_batch_averaged_over_the_rate_window_gives_the_iteration_time() -> None:
    """Requests in clumps of 4 at 2/s on 2 replicas: the running batch jumps when a clump
    arrives and drains over its answers. The generated tokens' rate is an average over
    the rate window, and so must the batch be for their ratio to be the mean iteration
    time (Little's law): averaged, it never reads an iteration faster than the engine's
    30 ms alone; taken at the tick's moment, it does (a clump just drained), and reads
    slower ones than any window ran (a clump just admitted)."""
    trace = load_trace("synthetic:constant?rate=2&duration=300&clump=4", seed=3, llm=True)
    probe = Probe(replicas=2)
    simulate(with_llm_work(trace, PROFILE), PROFILE, SimSettings(seed=3), probe)
    steady = [o for o in probe.seen if o.at >= 60 and o.generation_tokens_rate]
    assert steady
    averaged, at_the_tick = [], []
    for obs in steady:
        assert obs.mean_running_requests is not None
        assert obs.running_requests is not None
        assert obs.generation_tokens_rate is not None
        averaged.append(1000.0 * obs.mean_running_requests / obs.generation_tokens_rate)
        at_the_tick.append(1000.0 * obs.running_requests / obs.generation_tokens_rate)
    assert min(averaged) >= 30.0
    assert min(at_the_tick) < 30.0
    assert max(at_the_tick) > max(averaged)
