"""Trace files: CSV or JSONL of request arrivals (with token counts where the file has
them), and synthetic shapes.

Columns are matched by name, ignoring case, spaces and underscores, so the public traces
load as they are published: the Azure LLM inference traces 2023/2024 (``TIMESTAMP``,
``ContextTokens``, ``GeneratedTokens``), BurstGPT (``Timestamp``, ``Request tokens``,
``Response tokens``) and Mooncake's JSONL (``timestamp`` in milliseconds: ``time_unit="ms"``,
``input_length``, ``output_length``). A file without a header is one timestamp per line.
A gzip-compressed file (``trace.csv.gz``) is read as the file it holds.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpufleet.sim.synthetic import synthetic_trace
from gpufleet.sim.trace import MAX_SPAN_S, FloatArray, Trace

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
"""Seconds per unit of numeric timestamps."""
_TIME_KEYS = ("timestamp", "time", "t", "arrival", "arrivaltime")
_PROMPT_KEYS = ("contexttokens", "prompttokens", "inputtokens", "inputlength", "requesttokens")
_OUTPUT_KEYS = ("generatedtokens", "outputtokens", "outputlength", "responsetokens")
# A request's size: its generated tokens first (decode dominates).
_SIZE_KEYS = (*_OUTPUT_KEYS, "tokens", "size")
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
    time_unit: str = "s",
) -> Trace:
    """Load ``source`` (a path or ``synthetic:shape?params``), time-scaled and truncated.

    Sizes are kept only when ``token_sized`` (synthetic ``sizes=exp`` always keeps them);
    prompt and output tokens only when ``llm`` (drawn for synthetic traces, with means
    of 1,000 and 200 tokens). ``time_unit`` is the unit of a file's numeric timestamps.
    A file that lacks what is asked of it, or holds a value that is not one, is refused
    with a ``ValueError`` naming the line and column.
    """
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time unit {time_unit!r}: one of {', '.join(TIME_UNITS)}")
    if duration is not None and not 0 < duration <= MAX_SPAN_S:
        raise ValueError(f"duration {duration:g}: expected seconds > 0, at most a year")
    if source.startswith("synthetic:"):
        trace = synthetic_trace(source, seed)
        if llm:
            rng = np.random.default_rng(seed + 1)
            n = len(trace)
            prompt = np.ceil(rng.gamma(1.5, SYNTHETIC_PROMPT_TOKENS / 1.5, n))
            output = np.ceil(rng.gamma(1.5, SYNTHETIC_OUTPUT_TOKENS / 1.5, n))
            trace = Trace(trace.name, trace.arrivals, trace.sizes, trace.duration, prompt, output)
    else:
        trace = _read_file(Path(source), time_unit, sized=token_sized, tokens=llm)
    if rate_scale != 1.0:
        trace = trace.scaled(rate_scale)
    if trace.duration > MAX_SPAN_S:
        cause = (
            f"a rate scale of {rate_scale:g} slows it down"
            if rate_scale < 1.0
            else "are the timestamps in another time unit?"
        )
        raise ValueError(
            f"{source}: the requests span {trace.duration / 86_400:.3g} days; at most a "
            f"year is replayed ({cause})"
        )
    if duration is not None:
        trace = trace.truncated(duration)
    if not len(trace):
        within = "" if duration is None else f" in the first {duration:g} s"
        raise ValueError(f"{source}: no requests{within}")
    return trace


@dataclass(frozen=True, slots=True)
class _Records:
    """A file's requests as read: each with the line it came from."""

    lines: list[int]
    stamps: list[str]
    columns: dict[str, tuple[str, list[str | None]]]
    """Each recognised column by its normalised key: its name in the file and its values
    as written, one per request (``None``: a JSONL line without it)."""


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _names(keys: Iterable[str]) -> str:
    return ", ".join(keys)


def _read_file(path: Path, time_unit: str, *, sized: bool, tokens: bool) -> Trace:
    """The file's arrivals; with ``sized`` each request's size (mean 1), with ``tokens``
    its prompt and output tokens. Only the columns asked for are read as numbers."""
    text = _text(path)
    # trace.jsonl.gz is JSONL.
    suffix = Path(path.stem).suffix if path.suffix == ".gz" else path.suffix
    jsonl = suffix in (".jsonl", ".ndjson")
    records = _read_jsonl(path, text) if jsonl else _read_csv(path, text)
    if not records.stamps:
        raise ValueError(f"{path}: no requests")
    times = _to_seconds(path, records, TIME_UNITS[time_unit])
    order = np.argsort(times, kind="stable")
    times = times[order] - times[order][0]
    work = prompt = output = None
    if sized:
        size_key = _first(records.columns, _SIZE_KEYS)
        if size_key is None:
            raise ValueError(
                f"{path}: token-sized requests need a size column (one of {_names(_SIZE_KEYS)})"
            )
        raw = _counts(path, records, size_key)[order]
        mean = float(raw.mean())
        work = raw / mean if mean > 0 else np.ones_like(raw)
    if tokens:
        prompt_key = _first(records.columns, _PROMPT_KEYS)
        output_key = _first(records.columns, _OUTPUT_KEYS)
        if prompt_key is None or output_key is None:
            raise ValueError(
                f"{path}: an LLM profile needs prompt and output token columns (prompt: one "
                f"of {_names(_PROMPT_KEYS)}; output: one of {_names(_OUTPUT_KEYS)})"
            )
        prompt = _counts(path, records, prompt_key)[order]
        output = np.maximum(_counts(path, records, output_key)[order], 1.0)
    return Trace(path.name, times, work, 0.0, prompt, output)


def _first(columns: dict[str, tuple[str, list[str | None]]], keys: Sequence[str]) -> str | None:
    return next((k for k in keys if k in columns), None)


def _counts(path: Path, records: _Records, key: str) -> FloatArray:
    """The column's values as token counts (finite, >= 0)."""
    name, texts = records.columns[key]
    values = np.empty(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        if text is None:
            raise ValueError(
                f"{path}: line {records.lines[i]}: no {name!r}, which the first request has"
            )
        value = _number(text)
        if not math.isfinite(value) or value < 0.0:
            raise ValueError(
                f"{path}: line {records.lines[i]}, column {name!r}: {text!r} is not a count"
            )
        values[i] = value
    return values


def _text(path: Path) -> str:
    """The file's text: UTF-8 (a byte-order mark dropped, not read as part of the first
    value), gunzipped first when it is gzip."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path}: a gzip file that does not decompress ({err})") from err
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(
            f"{path}: line {line}: not UTF-8 text (byte {data[err.start]:#04x}); save the "
            "file as UTF-8"
        ) from err


def _read_csv(path: Path, text: str) -> _Records:
    lines: list[int] = []
    stamps: list[str] = []
    with io.StringIO(text, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return _Records([], [], {})
        if _is_number(header[0]) or _looks_like_date(header[0]):
            # No header: one timestamp per line, the first included.
            rows = [(1, header), *((reader.line_num, r) for r in reader)]
            for line, row in rows:
                if row:
                    lines.append(line)
                    stamps.append(row[0])
            return _Records(lines, stamps, {})
        keys = [_key(name) for name in header]
        time_col = next((keys.index(k) for k in _TIME_KEYS if k in keys), None)
        if time_col is None:
            # Column 0 read as arrival times would replay request ids or sizes as a trace.
            raise ValueError(
                f"{path}: line 1: no arrival-time column among {', '.join(map(repr, header))} "
                f"(one of {_names(_TIME_KEYS)}, ignoring case, spaces and underscores)"
            )
        wanted = {k: keys.index(k) for k in (*_SIZE_KEYS, *_PROMPT_KEYS) if k in keys}
        columns: dict[str, tuple[str, list[str | None]]] = {
            k: (header[col], []) for k, col in wanted.items()
        }
        for row in reader:
            if not any(field.strip() for field in row):
                # A blank line, or a spreadsheet's (",,,", which Excel writes at the end).
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{path}: line {reader.line_num}: {len(row)} fields, the header has "
                    f"{len(header)}"
                )
            lines.append(reader.line_num)
            stamps.append(row[time_col])
            for key, col in wanted.items():
                columns[key][1].append(row[col])
    return _Records(lines, stamps, columns)


def _read_jsonl(path: Path, text: str) -> _Records:
    lines: list[int] = []
    stamps: list[str] = []
    columns: dict[str, tuple[str, list[str | None]]] | None = None
    # Lines end at "\n" only: str.splitlines would also split at the U+2028 a JSON string
    # may hold, and json.loads takes a "\r" before it as whitespace.
    for number, line_text in enumerate(text.split("\n"), start=1):
        if not line_text.strip():
            continue
        try:
            item = json.loads(line_text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: line {number}: not JSON ({err.msg})") from err
        if isinstance(item, int | float | str):
            lines.append(number)
            stamps.append(str(item))
            for _, values in (columns or {}).values():
                values.append(None)
            continue
        if not isinstance(item, dict):
            raise ValueError(f"{path}: line {number}: neither a timestamp nor an object")
        fields = {_key(k): (k, v) for k, v in item.items()}
        stamp = next((fields[k][1] for k in _TIME_KEYS if k in fields), None)
        if stamp is None:
            raise ValueError(f"{path}: line {number}: no timestamp (one of {_names(_TIME_KEYS)})")
        if columns is None:
            # The first request says which columns the file has, as a CSV header does.
            columns = {k: (fields[k][0], []) for k in (*_SIZE_KEYS, *_PROMPT_KEYS) if k in fields}
        for key, (_, values) in columns.items():
            values.append(_json_text(fields[key][1]) if key in fields else None)
        lines.append(number)
        stamps.append(str(stamp))
    return _Records(lines, stamps, columns or {})


def _json_text(value: object) -> str:
    """A JSON value as the file spells it (``null``, ``true``), not as Python does
    (``None``, ``True``): what an error quotes is then what the file holds."""
    return value if isinstance(value, str) else json.dumps(value)


def _to_seconds(path: Path, records: _Records, unit_s: float) -> FloatArray:
    stamps = records.stamps
    if _is_number(stamps[0]):
        numeric = np.empty(len(stamps), dtype=np.float64)
        for i, text in enumerate(stamps):
            value = _number(text)
            if not math.isfinite(value):
                raise _not_a_timestamp(path, records, i, "a number")
            numeric[i] = value * unit_s
        return numeric
    if unit_s != 1.0:
        raise ValueError(f"{path}: a time unit is for numeric timestamps; this file's are dates")
    cleaned = [s.strip().rstrip("Z") for s in stamps]
    offsets_s = np.zeros(len(cleaned))
    if any(_may_have_offset(text) and _UTC_OFFSET.search(text) for text in cleaned):
        # The Azure 2024 traces write "+00:00": numpy's parsing of an offset is deprecated
        # (a warning now, an error to come), so it is applied here, on whichever rows have
        # one (not only when the first has: a later row's went to numpy).
        for i, text in enumerate(cleaned):
            match = _UTC_OFFSET.search(text)
            if match:
                sign = -1.0 if match["sign"] == "-" else 1.0
                offsets_s[i] = sign * (int(match["hours"]) * 3600 + int(match["minutes"]) * 60)
                cleaned[i] = text[: match.start()]
    try:
        # ISO timestamps (the Azure trace has 7 fractional digits; numpy parses them).
        parsed = np.asarray(cleaned, dtype="datetime64[ns]")
    except ValueError:
        for i, text in enumerate(cleaned):
            try:
                np.datetime64(text, "ns")
            except ValueError:
                raise _not_a_timestamp(path, records, i, "a date") from None
        raise
    # numpy reads "" and "NaT" as not-a-time, which would poison every arrival's offset.
    missing = np.flatnonzero(np.isnat(parsed))
    if len(missing):
        raise _not_a_timestamp(path, records, int(missing[0]), "a date")
    local_s = (parsed - parsed.min()).astype(np.int64).astype(np.float64) / 1e9
    # 12:00+02:00 is 10:00 UTC: an offset east of Greenwich is subtracted.
    seconds: FloatArray = local_s - offsets_s
    return seconds


def _not_a_timestamp(path: Path, records: _Records, i: int, first_is: str) -> ValueError:
    """The timestamp on row ``i`` is unlike the first (``first_is``: "a number", "a date")."""
    text = records.stamps[i]
    if i == 0:
        return ValueError(
            f"{path}: line {records.lines[i]}: timestamp {text!r} is neither a number nor an "
            "ISO 8601 date"
        )
    return ValueError(
        f"{path}: line {records.lines[i]}: timestamp {text!r} is not {first_is} (the first one is)"
    )


_UTC_OFFSET = re.compile(r"(?<=\d)\s*(?P<sign>[+-])(?P<hours>\d\d):?(?P<minutes>\d\d)$")
"""A date's offset from UTC after its time: ``+00:00``, ``-0500``."""


def _may_have_offset(text: str) -> bool:
    """Whether a sign stands where an offset's would (``+00:00``, ``-0500``): a test cheaper
    than the pattern, for the millions of dates of a trace without one."""
    return text[-6:-5] in ("+", "-") or text[-5:-4] in ("+", "-")


def _number(text: str) -> float:
    """The text as a float, NaN when it is none (parsed once: a trace has many values)."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_date(text: str) -> bool:
    return len(text) >= 10 and text[4] == "-" and text[:4].isdigit()
