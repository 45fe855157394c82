"""Trace files: the Azure LLM inference CSV, plain CSV/JSONL timestamps, synthetic shapes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from gpufleet.sim.synthetic import synthetic_trace
from gpufleet.sim.trace import FloatArray, Trace

# Column names that carry a request's size (generated tokens first: decode dominates).
_SIZE_COLUMNS = ("GeneratedTokens", "generated_tokens", "tokens", "size")
_TIME_KEYS = ("TIMESTAMP", "timestamp", "time", "t", "arrival")
_PROMPT_COLUMNS = ("ContextTokens", "prompt_tokens")
_OUTPUT_COLUMNS = ("GeneratedTokens", "generated_tokens", "output_tokens")
SYNTHETIC_PROMPT_TOKENS = 1000.0
SYNTHETIC_OUTPUT_TOKENS = 200.0
"""Mean token counts of synthetic LLM requests (about the Azure conversation trace's)."""


def load_trace(
    source: str,
    *,
    seed: int = 0,
    rate_scale: float = 1.0,
    duration: float | None = None,
    token_sized: bool = False,
    llm: bool = False,
) -> Trace:
    """Load ``source`` (a path or ``synthetic:shape?params``), time-scaled and truncated.

    Sizes are kept only when ``token_sized`` (synthetic ``sizes=exp`` always keeps them);
    prompt and output tokens only when ``llm`` (drawn for synthetic traces, with means
    of 1,000 and 200 tokens).
    """
    if source.startswith("synthetic:"):
        trace = synthetic_trace(source, seed)
        if llm:
            rng = np.random.default_rng(seed + 1)
            n = len(trace)
            prompt = np.ceil(rng.gamma(1.5, SYNTHETIC_PROMPT_TOKENS / 1.5, n))
            output = np.ceil(rng.gamma(1.5, SYNTHETIC_OUTPUT_TOKENS / 1.5, n))
            trace = Trace(trace.name, trace.arrivals, trace.sizes, trace.duration, prompt, output)
    else:
        trace = _read_file(Path(source))
        if llm and trace.prompt_tokens is None:
            raise ValueError(
                f"{source}: an LLM profile needs ContextTokens and GeneratedTokens columns"
            )
        trace = Trace(
            trace.name,
            trace.arrivals,
            trace.sizes if token_sized else None,
            trace.duration,
            trace.prompt_tokens if llm else None,
            trace.output_tokens if llm else None,
        )
    if rate_scale != 1.0:
        trace = trace.scaled(rate_scale)
    if duration is not None:
        trace = trace.truncated(duration)
    return trace


def _read_file(path: Path) -> Trace:
    tokens = None
    if path.suffix in (".jsonl", ".ndjson"):
        stamps, sizes = _read_jsonl(path)
    else:
        stamps, sizes, tokens = _read_csv(path)
    if not stamps:
        raise ValueError(f"{path}: no requests")
    times = _to_seconds(stamps)
    order = np.argsort(times, kind="stable")
    times = times[order] - times[order][0]
    work = None
    if sizes is not None:
        raw = np.asarray(sizes, dtype=np.float64)[order]
        mean = float(raw.mean())
        work = raw / mean if mean > 0 else np.ones_like(raw)
    prompt = output = None
    if tokens is not None:
        prompt = np.asarray(tokens[0], dtype=np.float64)[order]
        output = np.maximum(np.asarray(tokens[1], dtype=np.float64)[order], 1.0)
    return Trace(path.name, times, work, 0.0, prompt, output)


Tokens = tuple[list[float], list[float]]


def _read_csv(path: Path) -> tuple[list[str], list[float] | None, Tokens | None]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return [], None, None
    header = rows[0]
    has_header = not _is_number(header[0]) and not _looks_like_date(header[0])
    if not has_header:
        return [r[0] for r in rows if r], None, None
    time_col = next((header.index(k) for k in _TIME_KEYS if k in header), 0)
    size_col = next((header.index(k) for k in _SIZE_COLUMNS if k in header), None)
    body = [r for r in rows[1:] if r]
    stamps = [r[time_col] for r in body]
    sizes = None if size_col is None else [float(r[size_col]) for r in body]
    prompt_col = next((header.index(k) for k in _PROMPT_COLUMNS if k in header), None)
    output_col = next((header.index(k) for k in _OUTPUT_COLUMNS if k in header), None)
    tokens = None
    if prompt_col is not None and output_col is not None:
        tokens = ([float(r[prompt_col]) for r in body], [float(r[output_col]) for r in body])
    return stamps, sizes, tokens


def _read_jsonl(path: Path) -> tuple[list[str], list[float] | None]:
    stamps: list[str] = []
    sizes: list[float] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        if isinstance(item, int | float | str):
            stamps.append(str(item))
            continue
        stamps.append(str(next(item[k] for k in _TIME_KEYS if k in item)))
        size_key = next((k for k in _SIZE_COLUMNS if k in item), None)
        if size_key is not None:
            sizes.append(float(item[size_key]))
    return stamps, sizes if len(sizes) == len(stamps) else None


def _to_seconds(stamps: list[str]) -> FloatArray:
    if _is_number(stamps[0]):
        return np.asarray([float(s) for s in stamps], dtype=np.float64)
    # ISO timestamps (the Azure trace has 7 fractional digits; numpy parses them).
    parsed = np.asarray([s.strip().rstrip("Z") for s in stamps], dtype="datetime64[ns]")
    seconds: FloatArray = (parsed - parsed.min()).astype(np.int64).astype(np.float64) / 1e9
    return seconds


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_date(text: str) -> bool:
    return len(text) >= 10 and text[4] == "-" and text[:4].isdigit()
