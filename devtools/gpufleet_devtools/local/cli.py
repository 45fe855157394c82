"""``gpufleet local``: the whole autoscaling loop on this machine (mounted by gpufleet.cli)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from gpufleet.cli_inputs import check_writable
from gpufleet.sim.trace import Trace
from gpufleet.sim.trace_files import load_trace
from gpufleet_devtools.local.llm_trace import StreamRequests, replay_streams
from gpufleet_devtools.local.paths import DEFAULT_TRACE, EXAMPLES, LocalPaths
from gpufleet_devtools.local.trace import Arrivals, poisson_phases, replay

app = typer.Typer(
    help="Run a whole gpufleet on this machine: API emulator, Prometheus, operator, pods.",
    no_args_is_help=True,
    add_completion=False,
)

DEMO_RATE_SCALE = {"gpu-like": 1.2, "cpu": 0.4, "triton": 0.35, "llm": 0.03}
"""The Azure hour played in 3 minutes is 60-160 requests/s. A GPU-like torch replica
(20 ms + 2.5 ms per request a batch: 40 ms for a full batch of 8) serves up to 200
requests/s for ~2 ms of this machine's CPU per request (HTTP, client and server): x1.2
(70-190, bursts to ~270) needs one to two replicas at a third of a core. x0.4 (25-60)
peaks above one CPU-bound torch replica (about 45 requests/s) and within two cores;
Triton's replicas serve 25 requests/s each, waiting rather than computing: x0.35 is 20-55.
The LLM example's streams carry the trace's token counts (mean 1,155 prompt and 211 output
tokens): x0.03 is 2.6-4.7 streams/s (9 s means), ~650 tokens/s, about 0.5 ms of this machine's
CPU per token streamed (server and client). A replica's KV cache holds ~20 such streams for
~6 s each: it serves about 2 streams/s within the TTFT target, so the example's two replicas
serve the trace's start and its peak needs three to four."""

StartDelay = Annotated[
    float, typer.Option(help="Extra seconds before each pod starts (imitates a GPU pod's start).")
]
Tick = Annotated[float, typer.Option(help="The operator's scaling tick, seconds.")]


def _refuse_bad_numbers(positive: dict[str, float | None], start_delay: float) -> None:
    """A usage error naming the first option out of range (NaN included)."""
    for flag, value in positive.items():
        if value is not None and not value > 0:
            raise typer.BadParameter(f"{flag} must be a number > 0, not {value:g}")
    if not start_delay >= 0:
        raise typer.BadParameter(f"--start-delay must be >= 0, not {start_delay:g}")


@app.command()
def up(start_delay: StartDelay = 0.0, tick: Tick = 2.0) -> None:
    """Start the fleet in the background (state in .gpufleet/); apply manifests with kubectl."""
    _refuse_bad_numbers({"--tick": tick}, start_delay)
    from gpufleet_devtools.local.background import FleetError, start_background
    from gpufleet_devtools.local.demo import bootstrap_model
    from gpufleet_devtools.local.fleet import FleetOptions
    from gpufleet_devtools.local.manifest import load_manifest

    paths = LocalPaths.under().ensure()
    # The examples' models, so that applying either example just works.
    for example in EXAMPLES.values():
        bootstrap_model(paths, load_manifest(example))
    try:
        state = start_background(paths, FleetOptions(tick_seconds=tick, start_delay_s=start_delay))
    except FleetError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    typer.echo(f"fleet up: API {state.api_url}, Prometheus {state.prometheus_url}")
    for example in EXAMPLES.values():
        typer.echo(f"  kubectl --kubeconfig {state.kubeconfig} apply -f {example}")
    typer.echo(f"  kubectl --kubeconfig {state.kubeconfig} get modeldeployments")


@app.command()
def down() -> None:
    """Stop the background fleet and every process it started."""
    from gpufleet_devtools.local.background import stop_background

    for note in stop_background(LocalPaths.under()):
        typer.echo(note)


@app.command()
def status() -> None:
    """Show the background fleet: endpoints, processes, ModelDeployments and pods."""
    from gpufleet_devtools.local.background import describe

    for line in describe(LocalPaths.under()):
        typer.echo(line)


DEFAULT_DURATION_S = 180.0


SYNTHETIC = "synthetic:"


def _readable(trace: str) -> bool:
    """A trace to read: a synthetic shape, or a file that is there."""
    return trace.startswith(SYNTHETIC) or Path(trace).exists()


def _trace_name(trace: str) -> str:
    return trace if trace.startswith(SYNTHETIC) else Path(trace).name


def _read(trace: str, console: Console, *, llm: bool = False) -> Trace:
    """The trace (a file, or a seeded synthetic shape), or a clear refusal naming its line
    and column, or the shape's parameter."""
    try:
        return load_trace(trace, llm=llm)
    except ValueError as error:
        # Escaped: "[red]" markup around a message quoting "[...]" would eat it.
        console.print(f"[red]--trace: {escape(str(error))}[/]")
        raise typer.Exit(2) from error


def _arrivals(
    trace: str, duration: float, speedup: float | None, rate_scale: float, console: Console
) -> Arrivals:
    if _readable(trace):
        times = _read(trace, console).arrivals.tolist()
        # By default the whole trace plays in the default duration, so its rise and fall
        # both show; a shorter --duration replays less of it at the same rate (faster
        # would overload a small machine: the rate is what the example is sized for).
        factor = speedup or max(1.0, times[-1] / DEFAULT_DURATION_S)
        return replay(times, duration, factor, rate_scale, name=_trace_name(trace))
    console.print(f"[yellow]{trace} not found: replaying a synthetic burst instead[/]")
    third = duration / 3
    return poisson_phases(
        [(third, 10 * rate_scale), (third, 60 * rate_scale), (third, 10 * rate_scale)]
    )


SYNTHETIC_PROMPT_TOKENS, SYNTHETIC_OUTPUT_TOKENS = 1155, 211
"""Without a token trace, every stream has the Azure conversation trace's mean sizes."""


def _streams(
    trace: str,
    duration: float,
    speedup: float | None,
    rate_scale: float,
    manifest: Path,
    console: Console,
) -> StreamRequests:
    from gpufleet_devtools.local.llm_trace import max_model_len, token_trace, uniform_streams
    from gpufleet_devtools.local.manifest import load_manifest

    if not _readable(trace):
        console.print(f"[yellow]{trace} not found: replaying a synthetic burst instead[/]")
        # The Azure hour played in 180 s is ~108 requests/s; its minutes range 60-160.
        third = duration / 3
        phases = [(third, 50 * rate_scale), (third, 150 * rate_scale), (third, 50 * rate_scale)]
        arrivals = poisson_phases(phases)
        return uniform_streams(arrivals, SYNTHETIC_PROMPT_TOKENS, SYNTHETIC_OUTPUT_TOKENS)
    tokens = token_trace(_read(trace, console, llm=True))
    factor = speedup or max(1.0, tokens.times[-1] / DEFAULT_DURATION_S)
    context = max_model_len(load_manifest(manifest).spec.runtime.args)
    return replay_streams(tokens, duration, factor, rate_scale, context, name=_trace_name(trace))


def _check_outputs(json_path: Path | None, plot: Path) -> Path:
    """Usage errors naming ``--json`` or ``--plot`` when either cannot be written: said
    before the fleet starts, not minutes later with the run's results lost. Returns the
    plot's path as matplotlib writes it."""
    from gpufleet.sim.plots import image_formats

    check_writable(json_path, "--json")
    if plot.is_dir():
        raise typer.BadParameter(f"{plot} is a directory", param_hint="--plot")
    if not plot.suffix:
        # matplotlib would write NAME.png, not the NAME checked here, and not say so.
        plot = plot.with_name(f"{plot.name}.png")
    # The plot's folder is made when the plot is written (.gpufleet/, the default's, by
    # the fleet): the nearest folder that is there must take it.
    made = plot.parent
    while not made.exists() and made != made.parent:
        made = made.parent
    if made == plot.parent:
        check_writable(plot, "--plot")
    elif not (made.is_dir() and os.access(made, os.W_OK)):
        raise typer.BadParameter(f"{made} is not a writable directory", param_hint="--plot")
    if plot.suffix[1:].lower() not in image_formats():
        formats = ", ".join(sorted(image_formats()))
        raise typer.BadParameter(
            f"{plot.suffix}: not an image format ({formats})", param_hint="--plot"
        )
    return plot


@app.command()
def demo(
    duration: Annotated[
        float, typer.Option(help="Seconds of load to replay.")
    ] = DEFAULT_DURATION_S,
    speedup: Annotated[
        float | None,
        typer.Option(help="Trace time compression (default: the whole trace in 180 s)."),
    ] = None,
    rate_scale: Annotated[
        float | None,
        typer.Option(
            help="Multiply the trace's request rate "
            "(default 1.2 gpu-like, 0.4 cpu, 0.35 triton, 0.03 llm)."
        ),
    ] = None,
    runtime: Annotated[
        str,
        typer.Option(
            help="Which example to run: torch (gpufleet-server), triton, or llm (streamed "
            "completions with the trace's token counts against gpufleet-server's LLM mode)."
        ),
    ] = "torch",
    model: Annotated[
        str,
        typer.Option(
            help="The torch example's model: gpu-like (batches wait on a GPU stand-in) "
            "or cpu (computes on one core)."
        ),
    ] = "gpu-like",
    trace: Annotated[
        str | None,
        typer.Option(
            help="Trace file or synthetic:SHAPE[?k=v&...], as `gpufleet sim --trace` reads it "
            "(with token columns for --runtime llm). Default: the Azure conversation trace "
            "of ../shared/data, or a synthetic burst where this checkout has none."
        ),
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="The ModelDeployment to apply (default: --runtime's).")
    ] = None,
    start_delay: StartDelay = 5.0,
    tick: Tick = 2.0,
    live: Annotated[bool, typer.Option(help="Live terminal view.")] = True,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the summary here.")
    ] = None,
    plot: Annotated[Path, typer.Option(help="Where to write the PNG.")] = Path(
        ".gpufleet/demo.png"
    ),
) -> None:
    """Bring the fleet up, apply the example, replay the trace, report; then tear it all down."""
    from gpufleet_devtools.local.demo import DemoModel, DemoRun, run_demo
    from gpufleet_devtools.local.fleet import FleetOptions

    if runtime not in EXAMPLES:
        raise typer.BadParameter(f"--runtime must be one of {', '.join(EXAMPLES)}")
    if model not in set(DemoModel):
        raise typer.BadParameter(f"--model must be one of {', '.join(DemoModel)}")
    # Refused before anything starts: a run of no requests, or of another trace than the
    # one named, would report a demo that never happened.
    _refuse_bad_numbers(
        {"--duration": duration, "--speedup": speedup, "--rate-scale": rate_scale, "--tick": tick},
        start_delay,
    )
    if trace is not None and not trace.startswith(SYNTHETIC) and not Path(trace).is_file():
        raise typer.BadParameter(f"--trace {trace}: no such file")
    plot = _check_outputs(json_path, plot)
    trace = trace or str(DEFAULT_TRACE)
    console = Console()
    served = model if runtime == "torch" else runtime
    scale = rate_scale if rate_scale is not None else DEMO_RATE_SCALE[served]
    manifest_path = manifest or EXAMPLES[runtime]
    streams = None
    if runtime == "llm":
        streams = _streams(trace, duration, speedup, scale, manifest_path, console)
    run = DemoRun(
        arrivals=streams.arrivals
        if streams is not None
        else _arrivals(trace, duration, speedup, scale, console),
        streams=streams,
        manifest_path=manifest_path,
        model=DemoModel(model),
        fleet=FleetOptions(tick_seconds=tick, start_delay_s=start_delay),
        live=live,
        plot_path=plot,
        json_path=json_path,
    )
    try:
        result = asyncio.run(run_demo(LocalPaths.under(), run, console))
    except KeyboardInterrupt:
        console.print("interrupted: the fleet was torn down")
        raise typer.Exit(130) from None
    except asyncio.CancelledError:
        console.print("stopped: the fleet was torn down")
        raise typer.Exit(143) from None
    if result.unwritten:
        raise typer.Exit(1)
