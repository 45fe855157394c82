"""The LLM demo's requests: a trace's arrivals with its token counts (``ContextTokens``,
``GeneratedTokens``), each replayed as one streamed completion."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gpufleet_devtools.local.trace import Arrivals, describe, parse_timestamp, replayed_indices

DEFAULT_MAX_MODEL_LEN = 2048
"""gpufleet-server's own default context (vLLM's depends on the model)."""
PROMPT_COLUMN = "ContextTokens"
OUTPUT_COLUMN = "GeneratedTokens"


@dataclass(frozen=True, slots=True)
class TokenTrace:
    """Arrival times (s from the first request) with each request's token counts."""

    times: tuple[float, ...]
    prompt_tokens: tuple[int, ...]
    output_tokens: tuple[int, ...]


def read_token_trace(path: Path) -> TokenTrace:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"TIMESTAMP", PROMPT_COLUMN, OUTPUT_COLUMN} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: no column {', '.join(sorted(missing))} (an LLM trace)")
        rows = sorted(
            (parse_timestamp(row["TIMESTAMP"]), int(row[PROMPT_COLUMN]), int(row[OUTPUT_COLUMN]))
            for row in reader
        )
    if not rows:
        raise ValueError(f"{path}: no requests")
    start = rows[0][0]
    return TokenTrace(
        tuple(at - start for at, _, _ in rows),
        tuple(prompt for _, prompt, _ in rows),
        tuple(output for _, _, output in rows),
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
