"""``gpufleet local demo``: the fleet up, the example applied, a trace replayed, a report.

Whatever happens (the end of the trace, an error, Ctrl-C), the fleet is torn down
on the way out: no server, Prometheus or emulator process is left running.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from gpufleet.domain.spec import RuntimeType
from gpufleet.k8s.client import KubernetesApi
from gpufleet.services.status import MODELDEPLOYMENTS
from gpufleet_devtools.local.demo_model import (
    TORCH_INPUT,
    TRITON_INPUT,
    GpuCost,
    write_demo_model,
    write_gpu_like_model,
    write_triton_demo_model,
)
from gpufleet_devtools.local.endpoints import Endpoints
from gpufleet_devtools.local.fleet import FleetOptions, LocalFleet
from gpufleet_devtools.local.kube import LOCAL_FIELD_MANAGER
from gpufleet_devtools.local.kvprobe import kv_usage_probe
from gpufleet_devtools.local.llm_loadgen import LlmLoadGenerator
from gpufleet_devtools.local.llm_summary import summarize_streams
from gpufleet_devtools.local.llm_trace import StreamRequests
from gpufleet_devtools.local.loadgen import LoadGenerator
from gpufleet_devtools.local.manifest import DemoManifest, load_manifest
from gpufleet_devtools.local.paths import EXAMPLE_MANIFEST, LocalPaths
from gpufleet_devtools.local.plot import plot_timeline
from gpufleet_devtools.local.summary import DemoSummary, summarize
from gpufleet_devtools.local.timeline import Sample, Timeline
from gpufleet_devtools.local.trace import Arrivals
from gpufleet_devtools.local.view import LiveView, summary_table

log = logging.getLogger(__name__)
FIRST_READY_TIMEOUT_S = 120.0


class DemoModel(StrEnum):
    """What the torch example's replicas serve (the Triton example has its own model)."""

    GPU_LIKE = "gpu-like"
    """Each batch holds the GPU stand-in (no CPU spent): replicas add capacity as GPUs do."""
    CPU = "cpu"
    """Each request computes ~20 ms on one CPU thread: on two cores, replicas past two add none."""


@dataclass
class DemoRun:
    arrivals: Arrivals
    manifest_path: Path = EXAMPLE_MANIFEST
    spec_overrides: dict[str, Any] = field(default_factory=dict)
    fleet: FleetOptions = field(default_factory=FleetOptions)
    model: DemoModel = DemoModel.GPU_LIKE
    gpu_cost: GpuCost = field(default_factory=GpuCost)
    """The GPU-like model's batch cost."""
    work_steps: int | None = None
    """The CPU model's work; None: calibrated for ~20 ms a request on this machine."""
    live: bool = True
    plot_path: Path | None = None
    json_path: Path | None = None
    streams: StreamRequests | None = None
    """LLM demo: the streamed completions to send (their send times are ``arrivals``)."""
    until: Callable[[Sequence[Sample]], bool] | None = None
    """Ends the replay early once it holds of the timeline so far (no more requests are
    sent; those in flight still come back). Request demo only."""


@dataclass
class DemoResult:
    summary: DemoSummary
    timeline: Timeline
    loadgen: LoadGenerator | LlmLoadGenerator
    unwritten: tuple[str, ...] = ()
    """Each output (``--plot``, ``--json``) that could not be written, and why."""


def bootstrap_model(
    paths: LocalPaths,
    manifest: DemoManifest,
    model: DemoModel = DemoModel.GPU_LIKE,
    gpu_cost: GpuCost | None = None,
    work_steps: int | None = None,
) -> str:
    """The demo model in the repository the manifest names (made once, then reused).

    Returns the model's input name, for the load generator.
    """
    repository = manifest.repository_dir(paths.volumes)
    if manifest.spec.runtime.type is RuntimeType.VLLM:
        # The local node's vLLM stand-in draws its weights from a seed: an empty folder.
        repository.mkdir(parents=True, exist_ok=True)
        return ""
    if manifest.spec.runtime.type is RuntimeType.TRITON:
        write_triton_demo_model(repository, manifest.spec.model.name)
        return TRITON_INPUT
    if model is DemoModel.CPU:
        write_demo_model(repository, manifest.spec.model.name, work_steps)
    else:
        write_gpu_like_model(repository, manifest.spec.model.name, gpu_cost)
    return TORCH_INPUT


async def wait_for_endpoint(endpoints: Endpoints, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not endpoints.current:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no pod became ready within {timeout_s:g} s (see .gpufleet/logs)")
        await endpoints.refresh()
        await asyncio.sleep(0.2)


async def replay_against(
    fleet: LocalFleet,
    manifest: DemoManifest,
    run: DemoRun,
    console: Console,
    input_name: str = TORCH_INPUT,
) -> DemoResult:
    """Apply the ModelDeployment, wait for a first pod, replay the arrivals, summarize."""
    if run.streams is not None:
        return await replay_streams_against(fleet, manifest, run, console, run.streams)
    target = manifest.spec.slo.latency_p95_ms
    if target is None:
        # The demo's load generator measures whole requests; token latencies need an LLM.
        raise ValueError(f"{manifest.name}: the local demo needs spec.slo.latencyP95Ms")
    endpoints = await _apply_and_wait(fleet, manifest)
    loadgen = LoadGenerator(endpoints, manifest.spec.model.name, input_name)
    assert fleet.kube is not None
    timeline = Timeline(fleet.kube, manifest.namespace, manifest.name, loadgen)
    until = run.until
    stop = None if until is None else (lambda: until(timeline.samples))
    work = asyncio.create_task(loadgen.run(run.arrivals, stop))
    view = LiveView(console, target, run.arrivals.duration_s) if run.live else None
    await _follow(work, timeline, view, endpoints)
    summary = summarize(
        run.arrivals.description,
        loadgen.records,
        timeline.samples,
        target,
        manifest.replica_hourly_cost,
        manifest.spec.cost.max_hourly_cost,
    )
    return DemoResult(summary, timeline, loadgen)


async def replay_streams_against(
    fleet: LocalFleet,
    manifest: DemoManifest,
    run: DemoRun,
    console: Console,
    streams: StreamRequests,
) -> DemoResult:
    """The LLM demo: streamed completions, TTFT and ITL against the spec's targets."""
    slo = manifest.spec.slo
    targets = (slo.ttft_p95_ms, slo.itl_p95_ms)
    if targets == (None, None):
        raise ValueError(f"{manifest.name}: the LLM demo needs spec.slo.ttftP95Ms or itlP95Ms")
    endpoints = await _apply_and_wait(fleet, manifest)
    ttft_target = slo.ttft_p95_ms if slo.ttft_p95_ms is not None else float("inf")
    loadgen = LlmLoadGenerator(endpoints, manifest.spec.model.name, ttft_target)
    assert fleet.kube is not None
    kv_probe = kv_usage_probe(fleet.prometheus.url, manifest.namespace, manifest.name)
    timeline = Timeline(fleet.kube, manifest.namespace, manifest.name, loadgen, kv_probe)
    work = asyncio.create_task(loadgen.run(streams))
    duration = run.arrivals.duration_s
    view = LiveView(console, None, duration, llm_targets=targets) if run.live else None
    await _follow(work, timeline, view, endpoints)
    summary = summarize_streams(
        run.arrivals.description,
        loadgen.streams,
        timeline.samples,
        targets,
        streams.clipped,
        manifest.replica_hourly_cost,
        manifest.spec.cost.max_hourly_cost,
    )
    return DemoResult(summary, timeline, loadgen)


async def apply_manifest(kube: KubernetesApi, manifest: DemoManifest) -> None:
    """Create the ModelDeployment, as ``kubectl apply`` would."""
    await kube.create(
        MODELDEPLOYMENTS, manifest.namespace, manifest.body, field_manager=LOCAL_FIELD_MANAGER
    )


async def _apply_and_wait(fleet: LocalFleet, manifest: DemoManifest) -> Endpoints:
    assert fleet.kube is not None
    await apply_manifest(fleet.kube, manifest)
    endpoints = Endpoints(fleet.kube, manifest.namespace, manifest.name)
    await wait_for_endpoint(endpoints, FIRST_READY_TIMEOUT_S + fleet.options.start_delay_s)
    endpoints.start()
    return endpoints


async def _follow(
    work: asyncio.Task[Any], timeline: Timeline, view: LiveView | None, endpoints: Endpoints
) -> None:
    """Sample the timeline (and show it) until the replay ends."""
    try:
        if view is not None:
            with view:
                timeline.listeners.append(view.update)
                await timeline.run_while(work)
        else:
            await timeline.run_while(work)
        work.result()
    finally:
        work.cancel()
        await endpoints.stop()


async def run_demo(paths: LocalPaths, run: DemoRun, console: Console | None = None) -> DemoResult:
    console = console or Console()
    # `gpufleet local down` (SIGTERM) stops a demo as cleanly as Ctrl-C does.
    main = asyncio.current_task()
    if main is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    manifest = load_manifest(run.manifest_path, run.spec_overrides)
    paths.ensure()
    input_name = bootstrap_model(paths, manifest, run.model, run.gpu_cost, run.work_steps)
    arrivals = run.arrivals
    console.print(
        f"[bold]gpufleet local demo[/]: {arrivals.description}, "
        f"{len(arrivals.offsets):,} requests over {arrivals.duration_s:.0f} s"
    )
    async with LocalFleet(paths, run.fleet) as fleet:
        console.print(
            f"fleet up: API {fleet.api_url}, Prometheus {fleet.prometheus.url}, "
            f"kubeconfig {fleet.kubeconfig}"
        )
        result = await replay_against(fleet, manifest, run, console, input_name)
    summary, unwritten = write_outputs(result.summary, result.timeline.samples, run)
    console.print(summary_table(summary))
    for problem in unwritten:
        # After the table: the run's result is said even when a file of it is not.
        console.print(f"[red]error:[/] {escape(problem)}", highlight=False)
    return DemoResult(summary, result.timeline, result.loadgen, unwritten)


def write_outputs(
    summary: DemoSummary, samples: Sequence[Sample], run: DemoRun
) -> tuple[DemoSummary, tuple[str, ...]]:
    """Write the plot and the JSON summary where asked; the summary (naming the plot it
    wrote) and each output that could not be written. Checked before the fleet started,
    but a disk fills up: a traceback would lose the table of a run minutes long."""
    unwritten: list[str] = []
    if run.plot_path is not None:
        target = summary.llm.target_ttft_p95_ms if summary.llm else summary.target_p95_ms
        try:
            plot = plot_timeline(samples, target, run.plot_path)
        except OSError as error:
            unwritten.append(f"--plot {run.plot_path}: {error.strerror or error} (not written)")
        else:
            summary = summary.model_copy(update={"plot": str(plot)})
    if run.json_path is not None:
        try:
            run.json_path.write_text(summary.model_dump_json(indent=2))
        except OSError as error:
            unwritten.append(f"--json {run.json_path}: {error.strerror or error} (not written)")
    return summary, tuple(unwritten)
