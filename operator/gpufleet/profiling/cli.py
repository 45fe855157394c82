"""``gpufleet profile``: measure a running model server, write a profile for ``gpufleet sim``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gpufleet.cli_inputs import check_writable, http_url
from gpufleet.profiling.llm import LlmPlan, profile_llm
from gpufleet.profiling.measure import ProfileError
from gpufleet.profiling.run import ProfilePlan, profile_model
from gpufleet.sim.llm import LlmProfile
from gpufleet.sim.profile import ServiceProfile

app = typer.Typer(
    help="Measure a running model server and write a profile for `gpufleet sim --profile`.",
    add_completion=False,
    no_args_is_help=True,
)


H_LLM = "Profile an LLM server (vLLM or gpufleet-server --mode llm) for the token-level model."
H_METRICS = (
    "Triton metrics, e.g. http://127.0.0.1:8002/metrics: adds batching and the model's "
    "compute time (the server's compute counter)."
)
H_KV = "LLM: the KV cache's size in tokens (vLLM logs it; gpufleet-server's --kv-cache-tokens)."
H_BUDGET = (
    "LLM: tokens one iteration carries, the server's --max-num-batched-tokens (vLLM V1 prefills "
    "longer prompts in chunks of it; its OpenAI server's default is 2048, 8192 on GPUs of 70 GiB "
    "or more). Unset: the profile prefills each prompt whole, as an engine without chunked "
    "prefill does."
)


H_PREFIX_CACHING = (
    "LLM: whether the server keeps freed KV for reuse, so a sequence preempted for KV "
    "recomputes only what was since taken (vLLM V1's prefix caching, on unless "
    "--no-enable-prefix-caching; gpufleet-server --mode llm keeps it too)."
)


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{option}: expected comma-separated integers") from exc
    if any(v < 1 for v in values):
        raise typer.BadParameter(f"{option}: every value must be >= 1")
    return values


@app.callback(invoke_without_command=True)
def profile(
    model: Annotated[str, typer.Option(help="Model name on the server.")],
    out: Annotated[Path, typer.Option(help="Profile YAML to write.")],
    url: Annotated[
        str, typer.Option(help="HTTP endpoint (host:port, or http(s)://host:port).")
    ] = "127.0.0.1:8000",
    model_version: Annotated[str, typer.Option(help="Version ('' = the server's).")] = "",
    metrics_url: Annotated[
        str | None,
        typer.Option(help=H_METRICS),
    ] = None,
    batch_sizes: Annotated[
        str, typer.Option(help="Comma-separated (default: powers of 2 up to max batch).")
    ] = "",
    concurrency: Annotated[str, typer.Option(help="Comma-separated client counts.")] = (
        "1,2,4,8,16"
    ),
    requests: Annotated[int, typer.Option(min=3, help="Requests per batch size.")] = 30,
    seconds: Annotated[float, typer.Option(min=0.5, help="Seconds per concurrency.")] = 5.0,
    llm: Annotated[bool, typer.Option(help=H_LLM)] = False,
    kv_tokens: Annotated[int | None, typer.Option(min=1, help=H_KV)] = None,
    max_num_seqs: Annotated[int, typer.Option(min=1, help="LLM: running sequences at most.")] = 256,
    max_num_batched_tokens: Annotated[int | None, typer.Option(min=1, help=H_BUDGET)] = None,
    prefix_caching: Annotated[bool, typer.Option(help=H_PREFIX_CACHING)] = True,
    prompt_tokens: Annotated[str, typer.Option(help="LLM: prompt lengths to time.")] = (
        "16,256,512,1024"
    ),
) -> None:
    """Measure one request per batch size (alone), fit a + c*b end to end (and, with
    --metrics-url, the model's compute time from the server's compute counter, which the
    simulated replica credits to that counter; without it the simulator credits the
    whole batch time), then measure throughput and latency at each concurrency next to
    what the fitted profile predicts. With
    --llm: time to first token by prompt length and inter-token gaps by concurrent
    streams (OpenAI-compatible streaming), fitted to the token-level model."""
    console = Console(stderr=True)
    # Said before the measurement, which takes minutes, not after it with its results lost.
    check_writable(out, "--out")
    url = http_url(url, "--url")
    if metrics_url is not None:
        metrics_url = http_url(metrics_url, "--metrics-url")
    if llm:
        if kv_tokens is None:
            raise typer.BadParameter("--kv-tokens: the KV cache's size in tokens is needed")
        if max_num_batched_tokens is not None and max_num_batched_tokens < max_num_seqs:
            raise typer.BadParameter(
                f"--max-num-batched-tokens: {max_num_batched_tokens} is below --max-num-seqs "
                f"({max_num_seqs}); one iteration decodes a token for every running sequence"
            )
        if max_num_batched_tokens is None:
            console.print(
                "note: no --max-num-batched-tokens: the profile prefills each prompt whole in "
                "one iteration. vLLM V1 prefills in chunks of its budget (2048 by default on "
                "its OpenAI server, 8192 on GPUs of 70 GiB or more): pass the server's."
            )
        llm_plan = LlmPlan(
            url=url,
            model=model,
            kv_tokens=kv_tokens,
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            prefix_caching=prefix_caching,
            prompt_tokens=_ints(prompt_tokens, "--prompt-tokens"),
            concurrencies=_ints(concurrency, "--concurrency") or (1,),
            repeats=requests,
        )
        try:
            measured = profile_llm(llm_plan)
        except (ProfileError, OSError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        _save(measured, out, console)
        console.print(measured.source or "")
        console.print(f"wrote {out}: gpufleet sim --profile {out} ...")
        return
    plan = ProfilePlan(
        url=url,
        model=model,
        version=model_version,
        batch_sizes=_ints(batch_sizes, "--batch-sizes"),
        concurrencies=_ints(concurrency, "--concurrency") or (1,),
        requests_per_batch=requests,
        seconds_per_concurrency=seconds,
        metrics_url=metrics_url,
    )
    try:
        result = profile_model(plan)
    except (ProfileError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    _save(result, out, console)
    console.print(summary(result))
    console.print(f"wrote {out}: gpufleet sim --profile {out} ...")


def _save(profile: ServiceProfile | LlmProfile, path: Path, console: Console) -> None:
    """Write the profile; when that fails (a disk fills up during minutes of measuring),
    print it to stdout rather than lose the measurement, and exit non-zero."""
    try:
        write_profile(profile, path)
    except OSError as exc:
        sys.stdout.write(profile_text(profile))
        console.print(
            f"[red]error:[/red] {escape(str(path))}: {exc.strerror or exc} (not written; the "
            "profile is on stdout above)"
        )
        raise typer.Exit(1) from exc


def write_profile(profile: ServiceProfile | LlmProfile, path: Path) -> None:
    path.write_text(profile_text(profile))


def profile_text(profile: ServiceProfile | LlmProfile) -> str:
    """The profile as YAML, headed by comments saying what it models."""
    if isinstance(profile, LlmProfile):
        header = (
            f"# An iteration takes {profile.decode_base_ms:.3g} ms + "
            f"{profile.decode_ms_per_seq:.3g} ms per running sequence + "
            f"{profile.prefill_ms_per_token:.3g} ms per prompt token prefilled.\n"
        )
        budget = profile.max_num_batched_tokens
        header += (
            f"# It carries {budget} tokens at most: longer prompts are prefilled in chunks.\n"
            if budget is not None
            else "# Prompts are prefilled whole (no --max-num-batched-tokens given).\n"
        )
    else:
        header = (
            f"# {profile.source}\n"
            f"# A batch of b requests takes {profile.a_ms:.3g} + {profile.c_ms:.3g} b ms "
            "(fitted to one request per batch size, sent alone, end to end).\n"
        )
        if profile.compute_a_ms is not None and profile.compute_c_ms is not None:
            header += (
                f"# Of that, the model computes {profile.compute_a_ms:.3g} + "
                f"{profile.compute_c_ms:.3g} b ms (the server's compute counter, per request).\n"
            )
        else:
            header += (
                "# No compute fit (no --metrics-url): the simulator credits it all to compute.\n"
            )
    body = yaml.safe_dump(profile.model_dump(mode="json", exclude_none=True), sort_keys=False)
    return header + body


def summary(profile: ServiceProfile) -> Table:
    compute = (
        ""
        if profile.compute_a_ms is None or profile.compute_c_ms is None
        else f" (compute {profile.compute_a_ms:.3g} + {profile.compute_c_ms:.3g} b ms)"
    )
    table = Table(
        title=f"{profile.name}: a={profile.a_ms:.3g} ms, c={profile.c_ms:.3g} ms{compute}, "
        f"max batch {profile.max_batch}"
    )
    for column in ("clients", "req/s", "predicted req/s", "p50 ms", "p95 ms", "mean batch"):
        table.add_column(column, justify="right")
    points = profile.measured.concurrency if profile.measured else []
    for p in points:
        table.add_row(
            str(p.concurrency),
            f"{p.throughput_rps:.1f}",
            "-" if p.predicted_rps is None else f"{p.predicted_rps:.1f}",
            f"{p.p50_ms:.1f}",
            f"{p.p95_ms:.1f}",
            "-" if p.mean_batch is None else f"{p.mean_batch:.2f}",
        )
    return table
