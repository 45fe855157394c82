"""``gpufleet sim``: replay a trace against gpufleet's policy and the peers it replaces."""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gpufleet.cli_inputs import check_writable
from gpufleet.domain.spec import SpecError
from gpufleet.settings import OperatorSettings
from gpufleet.sim import plots, report
from gpufleet.sim.catalog import (
    LLM_POLICY_NAMES,
    POLICY_NAMES,
    REFERENCE_NAMES,
    Setup,
    sweep_grid,
)
from gpufleet.sim.compare import PolicyOutcome, compare
from gpufleet.sim.llm import LlmProfile, beyond_one_cache
from gpufleet.sim.scenario import ScenarioInputs, build
from gpufleet.sim.settings import SimSettings
from gpufleet.sim.trace import Trace
from gpufleet.sim.trace_files import TIME_UNITS

app = typer.Typer(
    help="Replay a trace against gpufleet's policy and the autoscalers it replaces.",
    add_completion=False,
    no_args_is_help=True,
)

ROUTINGS = ("random", "least-outstanding")
H_TRACE = (
    "Trace file: CSV or JSONL of arrivals, with token columns where it has them (the Azure "
    "LLM, BurstGPT and Mooncake traces load as published; docs/simulator.md), or "
    "synthetic:constant|step|ramp|diurnal|bursty|flash|onoff[?k=v&...]"
)
H_TIME_UNIT = "Unit of the trace's numeric timestamps: s, ms (Mooncake's) or us."
H_POLICIES = (
    f"Comma-separated (default {','.join(POLICY_NAMES)}; with an LLM profile "
    f"{','.join(LLM_POLICY_NAMES)}); also `reactive`: perfect sensing, no foresight (a reference)."
)
H_RATE = "Compress time by X: X times the rate for 1/X of the duration."
H_SLO = (
    "Latency target of a whole request, ms (default: the manifest's, else 3000); not with "
    "an LLM profile, whose targets are --ttft-ms, --itl-ms and --tpot-ms."
)
H_COLD = "Cold start: N, uniform:N:SPREAD or lognormal:N:SIGMA (default: manifest's, else 60)."
H_PLOT = "PNG of replicas vs demand; with --sweep also NAME-sweep.png (cost vs attainment)."
H_SWEEP = "Sweep each baseline's main setting; report the cheapest that meets the target."
H_PROFILE = (
    "Replica profile YAML/JSON: a_ms, c_ms, max_batch, max_queue_delay_ms (dynamic batching), "
    "or kind: llm with prefill/decode costs and KV tokens (token-level LLM engine)."
)
H_TOKENS = "Scale each request's service time by its GeneratedTokens (mean 1)."
H_INITIAL = "Ready replicas at t=0 (default: the first minute's load at 70 % of capacity)."
H_POD_AGE = (
    "Seconds before t=0 the initial pods were created: Prometheus discovers a pod within "
    "5 s of its creation, so a fleet started just before the load goes unscraped at first "
    "(default: a fleet running long before, scraped from t=0)."
)
H_ROUTING = (
    "random: a ClusterIP Service (a pod per connection); "
    "least-outstanding: a least-request gateway."
)
H_TTFT = "LLM profile: time-to-first-token target, ms (default 2000)."
H_ITL = (
    "LLM profile: inter-token latency target, ms: a p95 of every gap (a request meets it "
    "when 95 % of its gaps do)."
)
H_TPOT = (
    "LLM profile: time-per-output-token target (a request's mean gap between tokens), ms "
    "(default 100 when no --itl-ms)."
)
H_OUTAGE = "START:END seconds without Prometheus scrapes (repeatable)."
H_ERRORS = (
    "START:END seconds in which the model fails every execution at once, as a bad model "
    "version or a GPU fault would: errors, not load (repeatable; request-level profiles)."
)
H_NODE_LOSS = (
    "AT:PODS: a GPU node stops answering at AT seconds with PODS of the ready pods on it; "
    "Kubernetes marks them not Ready 50 s later and evicts them 300 s after that "
    "(repeatable)."
)
H_TICK = "The operator's scaling tick, s (GPUFLEET_TICK_SECONDS; default 5)."
H_SCRAPE = (
    "Prometheus scrape interval, s (GPUFLEET_SCRAPE_INTERVAL_SECONDS; default 5). Above "
    "30 s the operator's staleness limit (GPUFLEET_STALE_AFTER_SECONDS) is one interval."
)
H_WINDOW = "The operator's rate() window, s (GPUFLEET_RATE_WINDOW_SECONDS; default 30)."


def _trace_line(trace: Trace) -> str:
    """ "trace: NAME, N requests over D (R req/s on average, P in the busiest minute)"."""
    span = trace.duration
    length = f"{span / 3600:.1f} h" if span >= 5400 else f"{span / 60:.1f} min"
    n = len(trace)
    # A trace of one instant (one row, or every row the same time) has no mean rate: it
    # read "0 req/s on average" for a burst of requests.
    mean = f"{n / span:.3g} req/s on average" if span > 0 else "all arriving at once"
    return (
        f"trace: {trace.name}, {n:,} request{'' if n == 1 else 's'} over {length} ({mean}, "
        f"{trace.peak_rate(60.0):.3g} in the busiest minute)"
    )


def _colon_pairs(texts: list[str] | None, flag: str, expected: str) -> list[tuple[str, str]]:
    """Each ``A:B`` of a repeatable flag, split; a usage error naming the flag without ``:``."""
    pairs = []
    for text in texts or ():
        first, sep, second = text.partition(":")
        if not sep:
            raise typer.BadParameter(f"{flag} {text!r}: expected {expected}")
        pairs.append((first, second))
    return pairs


def _windows(texts: list[str] | None, flag: str) -> tuple[tuple[float, float], ...]:
    """START:END seconds, 0 <= START < END, or a usage error naming the flag."""
    expected = "START:END seconds, START < END"
    windows = []
    for start, end in _colon_pairs(texts, flag, expected):
        try:
            window = (float(start), float(end))
        except ValueError:
            window = (math.nan, math.nan)
        if not 0.0 <= window[0] < window[1]:
            raise typer.BadParameter(f"{flag} '{start}:{end}': expected {expected}")
        windows.append(window)
    return tuple(windows)


def _node_losses(texts: list[str] | None) -> tuple[tuple[float, int], ...]:
    """AT:PODS, AT >= 0 seconds and PODS >= 1, or a usage error naming the flag."""
    expected = "AT:PODS, AT >= 0 seconds and PODS >= 1"
    losses = []
    for at, pods in _colon_pairs(texts, "--node-loss", expected):
        try:
            loss = (float(at), int(pods))
        except ValueError:
            loss = (math.nan, 0)
        if not (math.isfinite(loss[0]) and loss[0] >= 0.0 and loss[1] >= 1):
            raise typer.BadParameter(f"--node-loss '{at}:{pods}': expected {expected}")
        losses.append(loss)
    return tuple(losses)


def _positive(value: float | None, flag: str) -> None:
    """A usage error naming the flag unless ``value`` is a number > 0 (or not given)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value:g}: expected a number > 0", param_hint=flag)


SETTING_FLAGS = {
    "attainment_target": "--attainment",
    "request_timeout_s": "--timeout-s",
    "initial_replicas": "--initial-replicas",
    "initial_pod_age_s": "--initial-pod-age-s",
    "tick_seconds": "--tick-s",
    "scrape_interval_seconds": "--scrape-interval-s",
    "rate_window_seconds": "--rate-window-s",
}
"""The flag behind each setting the simulated run's and operator's settings validate."""


def _setting_problems(exc: ValidationError) -> str:
    """Each setting the flags got wrong, named by its flag."""
    problems = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        flag = SETTING_FLAGS.get(field)
        name = f"{flag} ({field})" if flag else field
        # Pydantic's "Value error, " prefixes a validator's own sentence: noise to a user.
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{name}: {message} (got {err['input']!r})")
    return "; ".join(problems)


def _check_rate_window(scrape_interval_s: float | None, rate_window_s: float | None) -> None:
    """A usage error naming both flags when the rate window spans under two scrapes.

    The operator's settings refuse it too, but as a ``rate_window_seconds`` error when
    only ``--scrape-interval-s`` was typed, the window being the default."""
    fields = OperatorSettings.model_fields
    interval = _given_or_default(scrape_interval_s, fields["scrape_interval_seconds"].default)
    window = _given_or_default(rate_window_s, fields["rate_window_seconds"].default)
    if not (math.isfinite(interval) and interval > 0 and math.isfinite(window) and window > 0):
        return  # refused as out of range, by name, when the settings are built
    if window < 2 * interval:
        default = " (the default)"
        said_window = f"--rate-window-s {window:g}{'' if rate_window_s else default}"
        said_interval = f"--scrape-interval-s {interval:g}{'' if scrape_interval_s else default}"
        raise typer.BadParameter(
            f"{said_window} is shorter than two scrape intervals ({said_interval}: "
            f"{2 * interval:g} s): rate() needs two samples in its window"
        )


def _given_or_default(given: float | None, default: object) -> float:
    assert isinstance(default, float | int)
    return float(default) if given is None else given


@app.callback(invoke_without_command=True)
def sim(
    trace: Annotated[str, typer.Option(help=H_TRACE)],
    rate_scale: Annotated[float, typer.Option(help=H_RATE)] = 1.0,
    time_unit: Annotated[str, typer.Option(help=H_TIME_UNIT)] = "s",
    manifest: Annotated[Path | None, typer.Option(help="ModelDeployment YAML.")] = None,
    policies: Annotated[str | None, typer.Option(help=H_POLICIES)] = None,
    slo_ms: Annotated[float | None, typer.Option(help=H_SLO)] = None,
    cold_start_s: Annotated[str | None, typer.Option(help=H_COLD)] = None,
    seed: Annotated[int, typer.Option(help="Seeds traces, cold starts, routing.", min=0)] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write JSON.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write every run as CSV.")] = None,
    plot: Annotated[Path | None, typer.Option(help=H_PLOT)] = None,
    duration: Annotated[float | None, typer.Option(help="Only the first S seconds.")] = None,
    sweep: Annotated[bool, typer.Option(help=H_SWEEP)] = True,
    profile: Annotated[Path | None, typer.Option(help=H_PROFILE)] = None,
    token_sized: Annotated[bool, typer.Option(help=H_TOKENS)] = False,
    routing: Annotated[str, typer.Option(help=H_ROUTING)] = "random",
    timeout_s: Annotated[float, typer.Option(help="Request timeout (a failure).")] = 60.0,
    attainment: Annotated[float, typer.Option(help="Share within target to meet.")] = 0.99,
    initial_replicas: Annotated[int | None, typer.Option(help=H_INITIAL)] = None,
    initial_pod_age_s: Annotated[float | None, typer.Option(help=H_POD_AGE, min=0.0)] = None,
    metrics_outage: Annotated[list[str] | None, typer.Option(help=H_OUTAGE)] = None,
    model_errors: Annotated[list[str] | None, typer.Option(help=H_ERRORS)] = None,
    node_loss: Annotated[list[str] | None, typer.Option(help=H_NODE_LOSS)] = None,
    ttft_ms: Annotated[float | None, typer.Option(help=H_TTFT)] = None,
    itl_ms: Annotated[float | None, typer.Option(help=H_ITL)] = None,
    tpot_ms: Annotated[float | None, typer.Option(help=H_TPOT)] = None,
    tick_s: Annotated[float | None, typer.Option(help=H_TICK)] = None,
    scrape_interval_s: Annotated[float | None, typer.Option(help=H_SCRAPE)] = None,
    rate_window_s: Annotated[float | None, typer.Option(help=H_WINDOW)] = None,
) -> None:
    """Simulate the fleet under each policy and compare GPU cost and SLO attainment."""
    console = Console(stderr=True)
    # Each policy once: "static,static" would run it twice, for two identical rows.
    names = list(dict.fromkeys(n.strip() for n in (policies or "").split(",") if n.strip()))
    if not trace.strip():
        raise typer.BadParameter("expected a file or synthetic:SHAPE", param_hint="--trace")
    if routing not in ROUTINGS:
        raise typer.BadParameter(f"--routing must be one of {', '.join(ROUTINGS)}")
    known = (*POLICY_NAMES, "wva", *REFERENCE_NAMES)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise typer.BadParameter(f"unknown policies {unknown}; known: {', '.join(known)}")
    if time_unit not in TIME_UNITS:
        raise typer.BadParameter(f"--time-unit must be one of {', '.join(TIME_UNITS)}")
    for value, flag in (
        (rate_scale, "--rate-scale"),
        (duration, "--duration"),
        (slo_ms, "--slo-ms"),
        (ttft_ms, "--ttft-ms"),
        (itl_ms, "--itl-ms"),
        (tpot_ms, "--tpot-ms"),
    ):
        _positive(value, flag)
    _check_rate_window(scrape_interval_s, rate_window_s)
    if plot is not None and not plot.suffix:
        # matplotlib would write NAME.png, not the NAME checked here, and not say so.
        plot = plot.with_name(f"{plot.name}.png")
    for out_path, flag in ((json_out, "--json"), (csv_out, "--csv"), (plot, "--plot")):
        check_writable(out_path, flag)
    if plot is not None and plot.suffix and plot.suffix[1:].lower() not in plots.image_formats():
        formats = ", ".join(sorted(plots.image_formats()))
        raise typer.BadParameter(
            f"{plot.suffix}: not an image format ({formats})", param_hint="--plot"
        )
    inputs = ScenarioInputs(
        trace=trace,
        time_unit=time_unit,
        rate_scale=rate_scale,
        duration=duration,
        token_sized=token_sized,
        profile=profile,
        manifest=manifest,
        slo_ms=slo_ms,
        cold_start=cold_start_s,
        seed=seed,
        routing=routing,
        request_timeout_s=timeout_s,
        attainment=attainment,
        initial_replicas=initial_replicas,
        initial_pod_age_s=initial_pod_age_s,
        metrics_outages=_windows(metrics_outage, "--metrics-outage"),
        model_errors=_windows(model_errors, "--model-errors"),
        node_losses=_node_losses(node_loss),
        ttft_ms=ttft_ms,
        itl_ms=itl_ms,
        tpot_ms=tpot_ms,
        tick_s=tick_s,
        scrape_interval_s=scrape_interval_s,
        rate_window_s=rate_window_s,
    )
    try:
        setup, settings = build(inputs)
    except ValidationError as exc:
        _fail(console, _setting_problems(exc))
    except (SpecError, ValueError) as exc:
        _fail(console, str(exc))
    except OSError as exc:
        _fail(console, f"{exc.filename}: {exc.strerror}")
    if "wva" in names and not isinstance(setup.profile, LlmProfile):
        _fail(
            console,
            "--policies wva: llm-d's autoscaler reads the KV cache's usage, which only an LLM "
            "profile (kind: llm) has",
        )
    if not names:
        names = list(LLM_POLICY_NAMES if isinstance(setup.profile, LlmProfile) else POLICY_NAMES)
    for note in _flags_not_taken_as_given(setup, settings, slo_ms):
        console.print(f"note: {note}", highlight=False)
    # What was read, before hours of simulated time: a wrong --time-unit shows here.
    console.print(_trace_line(setup.trace))
    if isinstance(setup.profile, LlmProfile) and (
        too_long := beyond_one_cache(setup.trace, setup.profile)
    ):
        one = too_long == 1
        console.print(
            f"{too_long:,} request{'' if one else 's'} need{'s' if one else ''} more KV cache "
            f"than one replica holds (prompt + output > {setup.profile.kv_tokens:,} tokens): "
            f"{'it fails' if one else 'they fail'} on every fleet, as vLLM refuses a request "
            "longer than its context",
            highlight=False,
        )

    unmeetable = _unmeetable_target(setup, settings)
    if unmeetable is not None:
        console.print(f"note: {unmeetable}: no fleet meets it", highlight=False)

    runs = sum(len(sweep_grid(n, setup)) if sweep else 1 for n in names)
    outcomes = _run_with_progress(
        console, runs, lambda on_run: compare(setup, settings, names, sweep=sweep, on_run=on_run)
    )
    table = report.table(
        outcomes, settings.attainment_target, report.oracle_gpu_hours(outcomes), swept=sweep
    )
    # Into a file or a CI log, as wide as the table: at 140 columns the LLM table's
    # settings came out as "replicas…", "concurre…", the one thing a sweep is run to learn.
    wide = Console(width=1000).measure(table).maximum
    out = Console(width=None if sys.stdout.isatty() else max(140, wide))
    out.print(table)
    for o in outcomes:
        sentence = report.where_misses_fall(o.best)
        if sentence is not None:
            out.print(f"{o.policy}: {sentence}", highlight=False)
    meta: dict[str, Any] = {
        "command": shlex.join(["gpufleet", "sim", *sys.argv[1:]]),
        "trace": {
            "name": setup.trace.name,
            "requests": len(setup.trace),
            "duration_s": setup.trace.duration,
            "peak_rps_60s": setup.trace.peak_rate(),
        },
        "profile": setup.profile.model_dump(),
        "settings": settings.model_dump(mode="json"),
    }
    writing: Path | None = None
    try:
        if json_out:
            writing = json_out
            report.to_json(outcomes, meta, json_out)
        if csv_out:
            writing = csv_out
            report.to_csv(outcomes, csv_out)
        if plot:
            writing = plot
            plots.replicas_vs_demand(outcomes, setup.profile.max_throughput_rps, plot)
            if sweep:
                writing = plot.with_name(f"{plot.stem}-sweep{plot.suffix}")
                plots.cost_vs_attainment(outcomes, settings.attainment_target, writing)
    except OSError as exc:
        # Checked before the runs, but a disk fills up: the table above is the result.
        _fail(console, f"{writing}: {exc.strerror or exc} (not written)")


def _flags_not_taken_as_given(
    setup: Setup, settings: SimSettings, slo_ms: float | None
) -> list[str]:
    """What the runs do other than a flag said: each was done without a word before."""
    notes = []
    if slo_ms is not None and isinstance(setup.profile, LlmProfile):
        notes.append(
            f"--slo-ms {slo_ms:g} is ignored: an LLM profile's runs are scored on their token "
            "targets (--ttft-ms, --itl-ms, --tpot-ms)"
        )
    initial, low, high = settings.initial_replicas, settings.min_replicas, settings.max_replicas
    if initial is not None and not low <= initial <= high:
        side, bound, name = (
            ("above", high, "maxReplicas") if initial > high else ("below", low, "minReplicas")
        )
        notes.append(
            f"--initial-replicas {initial} is {side} {name} ({bound}): the fleets start at {bound}"
        )
    return notes


def _unmeetable_target(setup: Setup, settings: SimSettings) -> str | None:
    """The target no request can meet on this profile, however many replicas serve it."""
    profile = setup.profile
    if isinstance(profile, LlmProfile):
        # An iteration decoding one sequence alone is the fastest a token comes.
        floor_ms = profile.decode_base_ms + profile.decode_ms_per_seq
        for target, name in ((settings.tpot_ms, "TPOT"), (settings.itl_ms, "ITL")):
            if target is not None and target < floor_ms:
                return (
                    f"the {name} target {target:g} ms is below one decode iteration alone "
                    f"({floor_ms:.3g} ms on {profile.name})"
                )
        return None
    sizes = setup.trace.sizes
    smallest = float(sizes.min()) if sizes is not None and len(sizes) else 1.0
    alone_ms = profile.a_ms + profile.c_ms * smallest
    if profile.max_batch > 1:
        # A request is dispatched when it has waited the batcher's delay, or in a batch of
        # two or more (behind an older request, or full): whichever costs it less.
        alone_ms += min(profile.max_queue_delay_ms, profile.c_ms * smallest)
    if settings.slo_ms < alone_ms:
        return (
            f"the latency target {settings.slo_ms:g} ms is below the fastest any request "
            f"can be served ({alone_ms:.4g} ms on {profile.name}, on an idle replica)"
        )
    return None


def _fail(console: Console, message: str) -> NoReturn:
    # Escaped: a message quoting the input ("items[0]", a list of names) is not markup.
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(2)


def _run_with_progress(console: Console, runs: int, work: Any) -> list[PolicyOutcome]:
    columns = (
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total} runs"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("simulating", total=runs)
        finished = [0]

        def on_run(name: str, knob: float | None, fraction: float) -> None:
            if fraction >= 1.0:
                finished[0] += 1
            label = name if knob is None else f"{name} {knob:g}"
            bar.update(task, completed=finished[0] + min(fraction, 0.999), description=label)

        outcomes: list[PolicyOutcome] = work(on_run)
        return outcomes
