"""The LLM demo end to end: streamed completions against the LLM example (runtime vllm, run
by gpufleet-server's LLM mode on an emulated GPU), real Prometheus, the real operator.

What a user sees: every stream completes with all its tokens; the summary reports TTFT and
ITL against the spec's targets, tokens/s and KV usage; a burst one replica cannot hold makes
the operator add replicas, reading vLLM's metrics (its status shows the TTFT and ITL it
measured from vllm:* histograms).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from gpufleet.services.status import MODELDEPLOYMENTS
from gpufleet_devtools.local.demo import DemoRun, bootstrap_model, replay_against
from gpufleet_devtools.local.fleet import LocalFleet
from gpufleet_devtools.local.llm_trace import uniform_streams
from gpufleet_devtools.local.manifest import DemoManifest, load_manifest
from gpufleet_devtools.local.paths import LLM_EXAMPLE_MANIFEST, LocalPaths
from gpufleet_devtools.local.trace import poisson_phases
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.slow
QUIET = Console(quiet=True)
PROMPT_TOKENS, OUTPUT_TOKENS = 400, 100
KV_CACHE_TOKENS = 4096
"""Ten streams of 500 tokens per replica: at ~3 s a stream, about 3 streams/s."""
CALM_S, BURST_S, AFTER_S = 8.0, 35.0, 10.0
CALM_RATE, BURST_RATE = 1.0, 6.0
"""The burst is two replicas' worth: one queues it (TTFT grows), two serve it."""


def small_replicas(manifest: Path) -> dict[str, object]:
    """The example's args with a small KV cache; one replica to start; short windows."""
    args = yaml.safe_load(manifest.read_text())["spec"]["runtime"]["args"]
    args = [a for a in args if not a.startswith("--kv-cache-tokens")]
    return {
        "runtime": {"args": [*args, f"--kv-cache-tokens={KV_CACHE_TOKENS}"]},
        "scaling": {"minReplicas": 1, "scaleDownStabilizationSeconds": 10, "coldStartSeconds": 5},
    }


async def test_streams_complete_and_the_operator_scales_on_vllm_metrics(
    fleet: LocalFleet, tmp_path: Path
) -> None:
    manifest = load_manifest(LLM_EXAMPLE_MANIFEST, small_replicas(LLM_EXAMPLE_MANIFEST))
    bootstrap_model(LocalPaths(tmp_path / ".gpufleet"), manifest)
    phases = [(CALM_S, CALM_RATE), (BURST_S, BURST_RATE), (AFTER_S, CALM_RATE)]
    streams = uniform_streams(poisson_phases(phases), PROMPT_TOKENS, OUTPUT_TOKENS)
    run = DemoRun(streams.arrivals, live=False, streams=streams)

    replay = asyncio.create_task(replay_against(fleet, manifest, run, QUIET))
    # While it runs, the operator reads vLLM's TTFT and ITL histograms into its status.
    measured = await wait_for_async(
        lambda: measured_latencies(fleet, manifest), timeout=60, what="status.ttftP95Ms"
    )
    result = await replay

    summary = result.summary
    story = [
        (round(s.t), s.desired, s.ready, s.ttft_p95_ms and round(s.ttft_p95_ms))
        for s in result.timeline.samples
    ]
    # Every stream came back whole: all its tokens, then [DONE].
    assert summary.failed == 0, summary.failure_reasons
    assert summary.requests == len(streams.arrivals.offsets)
    llm = summary.llm
    assert llm is not None
    assert llm.tokens == summary.requests * OUTPUT_TOKENS
    # The summary judges TTFT and ITL against the spec's targets ...
    assert (llm.target_ttft_p95_ms, llm.target_itl_p95_ms) == (
        manifest.spec.slo.ttft_p95_ms,
        manifest.spec.slo.itl_p95_ms,
    )
    assert None not in (llm.ttft_p95_ms, llm.itl_p95_ms)
    assert None not in (llm.seconds_within_ttft_pct, llm.seconds_within_itl_pct)
    # ... and shows what the pods report to Prometheus: their KV cache filled.
    assert (llm.kv_cache_usage_max or 0.0) > 0.5, story
    # The operator added a replica for the burst, within the budget.
    assert summary.replicas_max >= 2, story
    assert summary.max_hourly_cost <= manifest.spec.cost.max_hourly_cost
    assert min(measured.values()) > 0, measured


async def measured_latencies(fleet: LocalFleet, manifest: DemoManifest) -> dict[str, float] | None:
    """The MD's status once it shows a measured TTFT and ITL p95 (else None)."""
    assert fleet.kube is not None
    md = await fleet.kube.get(MODELDEPLOYMENTS, manifest.namespace, manifest.name)
    status = (md or {}).get("status") or {}
    values = {key: status.get(key) for key in ("ttftP95Ms", "itlP95Ms")}
    if all(isinstance(v, int | float) for v in values.values()):
        return {key: float(v) for key, v in values.items() if v is not None}
    return None
