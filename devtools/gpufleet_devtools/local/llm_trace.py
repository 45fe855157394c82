"""The LLM demo's requests: a trace's arrivals with its token counts (read by
``gpufleet.sim.trace_files``: the Azure, BurstGPT and Mooncake columns), each replayed as
one streamed completion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gpufleet.sim.trace import Trace
from gpufleet_devtools.local.trace import Arrivals, describe, replayed_indices

DEFAULT_MAX_MODEL_LEN = 2048
"""gpufleet-server's own default context (vLLM's depends on the model)."""


@dataclass(frozen=True, slots=True)
class TokenTrace:
    """Arrival times (s from the first request) with each request's token counts."""

    times: tuple[float, ...]
    prompt_tokens: tuple[int, ...]
    output_tokens: tuple[int, ...]


def token_trace(trace: Trace) -> TokenTrace:
    """A trace read with its token counts (``load_trace(..., llm=True)``)."""
    if trace.prompt_tokens is None or trace.output_tokens is None:
        raise ValueError(f"{trace.name}: read without its token counts")
    return TokenTrace(
        tuple(float(t) for t in trace.arrivals),
        tuple(int(n) for n in trace.prompt_tokens),
        tuple(int(n) for n in trace.output_tokens),
    )


@dataclass(frozen=True, slots=True)
class StreamRequests:
    """What the LLM load generator sends: when, and how many tokens in and out."""

    arrivals: Arrivals
    prompt_tokens: tuple[int, ...]
    max_tokens: tuple[int, ...]
    clipped: int
    """Requests whose prompt was shortened to fit the model's context (max_model_len)."""


def replay_streams(
    trace: TokenTrace,
    duration_s: float,
    speedup: float,
    rate_scale: float,
    max_model_len: int,
    name: str = "trace",
) -> StreamRequests:
    """The trace's requests as :func:`~gpufleet_devtools.local.trace.replay` picks them, with
    their token counts; a request longer than ``max_model_len`` keeps its output and loses
    the start of its prompt (as a chat front end truncates history), so none is refused."""
    sent = replayed_indices(trace.times, duration_s, speedup, rate_scale)
    prompts, outputs, clipped = [], [], 0
    for _, index in sent:
        output = max(1, min(trace.output_tokens[index], max_model_len - 1))
        prompt = max(1, trace.prompt_tokens[index])
        if prompt + output > max_model_len:
            prompt, clipped = max_model_len - output, clipped + 1
        prompts.append(prompt)
        outputs.append(output)
    arrivals = Arrivals(
        tuple(at for at, _ in sent), duration_s, describe(name, speedup, rate_scale)
    )
    return StreamRequests(arrivals, tuple(prompts), tuple(outputs), clipped)


def max_model_len(server_args: Sequence[str]) -> int:
    """The ``--max-model-len`` of a server's arguments (``--flag=value`` or ``--flag value``)."""
    for index, arg in enumerate(server_args):
        flag, sep, value = arg.partition("=")
        if flag == "--max-model-len":
            text = value if sep else "".join(server_args[index + 1 : index + 2])
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"runtime.args: --max-model-len {text!r} is no number") from None
    return DEFAULT_MAX_MODEL_LEN


def uniform_streams(arrivals: Arrivals, prompt_tokens: int, max_tokens: int) -> StreamRequests:
    """Every stream the same size: for synthetic loads (no token trace)."""
    count = len(arrivals.offsets)
    description = f"{arrivals.description}, {prompt_tokens} prompt + {max_tokens} output tokens"
    arrivals = Arrivals(arrivals.offsets, arrivals.duration_s, description)
    return StreamRequests(arrivals, (prompt_tokens,) * count, (max_tokens,) * count, 0)
