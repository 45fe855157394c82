"""Trace files: CSV or JSONL of request arrivals (with token counts where the file has
them), and synthetic shapes.

Columns are matched by name, ignoring case, spaces and underscores, so the public traces
load as they are published: the Azure LLM inference traces 2023/2024 (``TIMESTAMP``,
``ContextTokens``, ``GeneratedTokens``), BurstGPT (``Timestamp``, ``Request tokens``,
``Response tokens``) and Mooncake's JSONL (``timestamp`` in milliseconds: ``time_unit="ms"``,
``input_length``, ``output_length``). A file without a header is one timestamp per line.
A gzip-compressed file (``trace.csv.gz``) is read as the file it holds. A file streams:
read once, a chunk of text and a block of rows at a time, it is held only as arrays of
numbers (a week of a production trace is tens of millions of rows).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
import zlib
from array import array
from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import ExitStack, suppress
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import cast

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


_BLOCK_ROWS = 1 << 14
"""Requests converted to numbers at a time: a trace of millions is held as arrays of
numbers, never as text, but for one block of its rows."""
_CHUNK_BYTES = 1 << 20
"""Bytes of the file read (and decoded) at a time."""
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"


class _NotText(ValueError):
    """The file is not text: a gzip file that does not decompress, or not UTF-8."""


@lru_cache(maxsize=4096)
def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _names(keys: Iterable[str]) -> str:
    return ", ".join(keys)


def _first(columns: Container[str], keys: Sequence[str]) -> str | None:
    return next((k for k in keys if k in columns), None)


def _read_file(path: Path, time_unit: str, *, sized: bool, tokens: bool) -> Trace:
    """The file's arrivals; with ``sized`` each request's size (mean 1), with ``tokens``
    its prompt and output tokens. Only the columns asked for are read as numbers.

    The file is read once, as it streams (a week of a production trace is tens of millions
    of rows): the text a chunk at a time, the numbers a block of rows at a time."""
    # trace.jsonl.gz is JSONL.
    suffix = Path(path.stem).suffix if path.suffix == ".gz" else path.suffix
    jsonl = suffix in (".jsonl", ".ndjson")
    requests = _Requests(path, TIME_UNITS[time_unit], sized=sized, tokens=tokens)
    with ExitStack() as stack:
        raw = stack.enter_context(path.open("rb"))
        gzipped = raw.peek(2)[:2] == _GZIP_MAGIC
        stream: io.BufferedIOBase = raw
        if gzipped:
            stream = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        chunks = _text_chunks(path, stream, gzipped=gzipped)
        try:
            if jsonl:
                _read_jsonl(path, chunks, requests)
            else:
                _read_csv(path, chunks, requests)
        except _NotText:
            raise
        except Exception:
            # A file that is not text is refused as such, wherever its fault (as when it
            # was decoded whole before it was parsed): a broken gzip or a byte that is not
            # UTF-8 after a row that is refused.
            for _ in chunks:
                pass
            raise
    # Each column is replaced by its sorted copy in place: a week's trace holds a few.
    times, work, prompt, output = requests.finish()
    order = np.argsort(times, kind="stable")
    times = times[order]
    times -= times[0]
    if work is not None:
        work = work[order]
        mean = float(work.mean())
        if mean > 0:
            work /= mean
        else:
            work = np.ones_like(work)
    if prompt is not None and output is not None:
        prompt = prompt[order]
        output = output[order]
        np.maximum(output, 1.0, out=output)
    return Trace(path.name, times, work, 0.0, prompt, output)


def _text_chunks(path: Path, stream: io.BufferedIOBase, *, gzipped: bool) -> Iterator[str]:
    """The file's text a chunk at a time, each chunk whole lines (up to a ``"\\n"``):
    UTF-8 (a byte-order mark dropped, not read as part of the first value), gunzipped
    first when it is gzip."""
    line = 1  # of the chunk's start
    pending: list[bytes] = []  # a line that is longer than what was read
    first = True
    while True:
        data = _read_bytes(path, stream, gzipped=gzipped)
        end = data.rfind(b"\n") + 1
        if data and not end:
            pending.append(data)
            continue
        chunk = b"".join((*pending, data[:end])) if pending else data[:end]
        pending = [data[end:]] if end < len(data) else []
        if first and chunk:
            first = False
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if chunk:
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError as err:
                where = line + chunk.count(b"\n", 0, err.start)
                # A gzip file that does not decompress is refused as such, as it was when
                # the whole file was decompressed before it was decoded.
                while _read_bytes(path, stream, gzipped=gzipped):
                    pass
                raise _NotText(
                    f"{path}: line {where}: not UTF-8 text (byte {chunk[err.start]:#04x}); "
                    "save the file as UTF-8"
                ) from err
            line += chunk.count(b"\n")
            yield text
        if not data:
            return


def _read_bytes(path: Path, stream: io.BufferedIOBase, *, gzipped: bool) -> bytes:
    try:
        return stream.read(_CHUNK_BYTES)
    except (OSError, EOFError, zlib.error) as err:
        if not gzipped:
            raise
        raise _NotText(f"{path}: a gzip file that does not decompress ({err})") from err


def _read_csv(path: Path, chunks: Iterable[str], requests: _Requests) -> None:
    # Lines end as a file's do when read with newline="": at "\n", "\r\n" or "\r".
    reader = csv.reader(chain.from_iterable(io.StringIO(c, newline="") for c in chunks))
    # The first line that holds something: blank lines before a header are no header.
    header = next((row for row in reader if "".join(row).strip()), None)
    if header is None:
        requests.set_columns({})
        return
    lines, stamps = requests.lines, requests.stamps
    if _is_number(header[0]) or _looks_like_date(header[0]):
        # No header: one timestamp per line, the first included.
        requests.set_columns({})
        lines.append(reader.line_num)
        stamps.append(header[0])
        for row in reader:
            if row:
                lines.append(reader.line_num)
                stamps.append(row[0])
                if len(lines) >= _BLOCK_ROWS:
                    requests.flush()
        return
    keys = [_key(name) for name in header]
    time_col = next((keys.index(k) for k in _TIME_KEYS if k in keys), None)
    if time_col is None:
        # Column 0 read as arrival times would replay request ids or sizes as a trace.
        raise ValueError(
            f"{path}: line 1: no arrival-time column among {', '.join(map(repr, header))} "
            f"(one of {_names(_TIME_KEYS)}, ignoring case, spaces and underscores)"
        )
    wanted = {k: keys.index(k) for k in (*_SIZE_KEYS, *_PROMPT_KEYS) if k in keys}
    requests.set_columns({k: header[col] for k, col in wanted.items()})
    cells = [(requests.cells[k], wanted[k]) for k in requests.cells]
    width = len(header)
    for row in reader:
        if not (row and row[0].strip()) and not "".join(row).strip():
            # A blank line, or a spreadsheet's (",,,", which Excel writes at the end).
            continue
        if len(row) != width:
            raise ValueError(
                f"{path}: line {reader.line_num}: {len(row)} fields, the header has {width}"
            )
        lines.append(reader.line_num)
        stamps.append(row[time_col])
        for values, col in cells:
            values.append(row[col])
        if len(lines) >= _BLOCK_ROWS:
            requests.flush()


def _read_jsonl(path: Path, chunks: Iterable[str], requests: _Requests) -> None:
    lines, stamps = requests.lines, requests.stamps
    cells: list[tuple[str, list[object]]] | None = None
    number = 0
    for chunk in chunks:
        # Lines end at "\n" only: str.splitlines would also split at the U+2028 a JSON
        # string may hold, and json.loads takes a "\r" before it as whitespace.
        texts = chunk.split("\n")
        if chunk.endswith("\n"):
            texts.pop()  # what follows the chunk's last line end is the next chunk's
        for line_text in texts:
            number += 1
            if not line_text.strip():
                continue
            try:
                item = json.loads(line_text)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {number}: not JSON ({err.msg})") from err
            if isinstance(item, int | float | str):
                if cells is None:
                    # The first request says which columns the file has: a bare timestamp
                    # has none.
                    requests.set_columns({})
                    cells = []
                lines.append(number)
                stamps.append(str(item))
                for _, values in cells:
                    values.append(None)
            else:
                if not isinstance(item, dict):
                    raise ValueError(f"{path}: line {number}: neither a timestamp nor an object")
                fields = {_key(k): (k, v) for k, v in item.items()}
                stamp = next((fields[k][1] for k in _TIME_KEYS if k in fields), None)
                if stamp is None:
                    raise ValueError(
                        f"{path}: line {number}: no timestamp (one of {_names(_TIME_KEYS)})"
                    )
                if cells is None:
                    # The first request says which columns the file has, as a CSV header does.
                    keys = (*_SIZE_KEYS, *_PROMPT_KEYS)
                    requests.set_columns({k: fields[k][0] for k in keys if k in fields})
                    cells = list(requests.cells.items())
                for key, values in cells:
                    if key in fields:
                        value = fields[key][1]
                        # A null is a value that is not a count, not one that is missing.
                        values.append("null" if value is None else value)
                    else:
                        values.append(None)
                lines.append(number)
                stamps.append(str(stamp))
            if len(lines) >= _BLOCK_ROWS:
                requests.flush()


def _json_text(value: object) -> str:
    """A JSON value as the file spells it (``null``, ``true``), not as Python does
    (``None``, ``True``): what an error quotes is then what the file holds."""
    return value if isinstance(value, str) else json.dumps(value)


class _Requests:
    """A file's requests as it is read: a block of rows as written (each with its line),
    converted to numbers when full, the timestamps and the token columns asked for.

    A value that is not one is remembered (the first of each column) and refused when the
    whole file has been read, the checks in the order they run: the timestamps, then the
    sizes, then the prompt and output tokens."""

    def __init__(self, path: Path, unit_s: float, *, sized: bool, tokens: bool) -> None:
        self.path = path
        self.unit_s = unit_s
        self.sized = sized
        self.tokens = tokens
        self.lines: list[int] = []
        """The block's rows: the line each came from, its timestamp as written, and the
        cells of each column asked for (``None``: a JSONL line without it)."""
        self.stamps: list[str] = []
        self.cells: dict[str, list[object]] = {}
        self.columns: dict[str, str] = {}
        """Each recognised column by its normalised key: its name in the file."""
        self.count = 0
        """Rows converted (before the block)."""
        self._numeric: bool | None = None
        self._seconds = array("d")  # numeric timestamps, in the file's unit
        self._ns = array("q")  # dates, in nanoseconds
        self._offsets: array[float] | None = None  # of dates from UTC, None: all 0
        self._stamp_error: str | None = None
        self._block_error: ValueError | None = None
        self._not_a_time: str | None = None
        self._counts: dict[str, array[float]] = {}
        self._count_errors: dict[str, str] = {}

    def set_columns(self, columns: dict[str, str]) -> None:
        """The file's recognised columns (a CSV header's, the first JSONL request's)."""
        self.columns = columns
        keys = [_first(columns, _SIZE_KEYS)] if self.sized else []
        if self.tokens:
            keys += [_first(columns, _PROMPT_KEYS), _first(columns, _OUTPUT_KEYS)]
        for key in keys:
            if key is not None and key not in self.cells:
                self.cells[key] = []
                self._counts[key] = array("d")

    def flush(self) -> None:
        """Converts the block's rows."""
        if not self.lines:
            return
        self._convert_stamps()
        for key, values in self.cells.items():
            if key not in self._count_errors:
                self._convert_counts(key, values)
            values.clear()
        self.count += len(self.lines)
        self.lines.clear()
        self.stamps.clear()

    def finish(
        self,
    ) -> tuple[FloatArray, FloatArray | None, FloatArray | None, FloatArray | None]:
        """Arrival times in seconds (dates: from the earliest), unsorted; the sizes (raw)
        with ``sized``; prompt and output tokens with ``tokens``."""
        self.flush()
        path = self.path
        if not self.count:
            raise ValueError(f"{path}: no requests")
        if not self._numeric and self.unit_s != 1.0:
            raise ValueError(
                f"{path}: a time unit is for numeric timestamps; this file's are dates"
            )
        if self._stamp_error is not None:
            raise ValueError(self._stamp_error)
        if self._block_error is not None:
            raise self._block_error
        if self._not_a_time is not None:
            raise ValueError(self._not_a_time)
        work = prompt = output = None
        if self.sized:
            size_key = _first(self.columns, _SIZE_KEYS)
            if size_key is None:
                raise ValueError(
                    f"{path}: token-sized requests need a size column (one of {_names(_SIZE_KEYS)})"
                )
            work = self._column(size_key)
        if self.tokens:
            prompt_key = _first(self.columns, _PROMPT_KEYS)
            output_key = _first(self.columns, _OUTPUT_KEYS)
            if prompt_key is None or output_key is None:
                raise ValueError(
                    f"{path}: an LLM profile needs prompt and output token columns (prompt: "
                    f"one of {_names(_PROMPT_KEYS)}; output: one of {_names(_OUTPUT_KEYS)})"
                )
            prompt = self._column(prompt_key)
            output = self._column(output_key)
        if self._numeric:
            seconds: FloatArray = np.frombuffer(self._seconds, dtype=np.float64) * self.unit_s
        else:
            ns = np.frombuffer(self._ns, dtype=np.int64)
            since = ns - ns.min()
            del ns
            self._ns = array("q")
            seconds = since.astype(np.float64)
            del since
            seconds /= 1e9
            if self._offsets is not None:
                # 12:00+02:00 is 10:00 UTC: an offset east of Greenwich is subtracted.
                seconds -= np.frombuffer(self._offsets, dtype=np.float64)
        # What was read is the caller's now (the arrays above refer to it): the memory of
        # a column goes as soon as the caller's sorted copy replaces it.
        self._seconds, self._offsets, self._counts = array("d"), None, {}
        return seconds, work, prompt, output

    def _column(self, key: str) -> FloatArray:
        if key in self._count_errors:
            raise ValueError(self._count_errors[key])
        return np.frombuffer(self._counts[key], dtype=np.float64)

    def _convert_stamps(self) -> None:
        stamps = self.stamps
        if self._numeric is None:
            self._numeric = _is_number(stamps[0])
        if self._stamp_error is not None:
            return  # the first is what is refused: the rest need no reading
        if self._numeric:
            try:
                block = array("d", map(float, stamps))
            except ValueError:
                block = array("d", map(_number, stamps))
            bad = np.flatnonzero(~np.isfinite(np.frombuffer(block, dtype=np.float64)))
            if len(bad):
                self._stamp_error = self._not_a_timestamp(int(bad[0]), "a number")
            self._seconds.extend(block)
            return
        if self.unit_s != 1.0:
            return  # refused once the whole file is read
        cleaned = [s.strip().rstrip("Z") for s in stamps]
        offsets = _utc_offsets(cleaned)
        try:
            # ISO timestamps (the Azure trace has 7 fractional digits; numpy parses them).
            parsed = np.asarray(cleaned, dtype="datetime64[ns]")
        except ValueError as err:
            for i, text in enumerate(cleaned):
                try:
                    np.datetime64(text, "ns")
                except ValueError:
                    self._stamp_error = self._not_a_timestamp(i, "a date")
                    return
            self._block_error = self._block_error or err
            return
        # numpy reads "" and "NaT" as not-a-time, which would poison every arrival's offset.
        missing = np.flatnonzero(np.isnat(parsed))
        if len(missing) and self._not_a_time is None:
            self._not_a_time = self._not_a_timestamp(int(missing[0]), "a date")
        self._ns.frombytes(parsed.view(np.int64).tobytes())
        if offsets is not None and self._offsets is None:
            self._offsets = array("d", bytes(8 * self.count))  # zeros for the rows before
        if self._offsets is not None:
            self._offsets.extend(offsets if offsets is not None else [0.0] * len(stamps))

    def _not_a_timestamp(self, i: int, first_is: str) -> str:
        """The message for the block's row ``i``, whose timestamp is unlike the first
        (``first_is``: "a number", "a date")."""
        line, text = self.lines[i], self.stamps[i]
        if self.count + i == 0:
            return (
                f"{self.path}: line {line}: timestamp {text!r} is neither a number nor an "
                "ISO 8601 date"
            )
        return f"{self.path}: line {line}: timestamp {text!r} is not {first_is} (the first one is)"

    def _convert_counts(self, key: str, values: list[object]) -> None:
        """The block's cells of the column as token counts (finite, >= 0)."""
        name = self.columns[key]
        block: array[float] | None = None
        if set(map(type, values)) <= {str, int, float}:
            with suppress(ValueError, OverflowError):
                block = array("d", map(float, cast(list[str | int | float], values)))
        if block is None:
            # A cell that is missing or not a number (a JSON null, true or list): NaN, which
            # is refused below.
            block = array(
                "d", (math.nan if value is None else _number(_json_text(value)) for value in values)
            )
        counts = np.frombuffer(block, dtype=np.float64)
        bad = np.flatnonzero(~(np.isfinite(counts) & (counts >= 0.0)))
        if len(bad):
            i = int(bad[0])
            line, value = self.lines[i], values[i]
            self._count_errors[key] = (
                f"{self.path}: line {line}: no {name!r}, which the first request has"
                if value is None
                else f"{self.path}: line {line}, column {name!r}: {_json_text(value)!r} is not "
                "a count"
            )
            return
        self._counts[key].extend(block)


def _utc_offsets(cleaned: list[str]) -> list[float] | None:
    """Each date's offset from UTC in seconds, cut from its text; ``None``: none has one.

    The Azure 2024 traces write "+00:00": numpy's parsing of an offset is deprecated (a
    warning now, an error to come), so it is applied here, on whichever rows have one (not
    only when the first has: a later row's went to numpy)."""
    if not any(_may_have_offset(text) and _UTC_OFFSET.search(text) for text in cleaned):
        return None
    offsets = [0.0] * len(cleaned)
    for i, text in enumerate(cleaned):
        if text[-6:] == "+00:00" and text[-7:-6].isdigit():
            cleaned[i] = text[:-6]  # the Azure 2024 traces' offset, without the pattern
            continue
        match = _UTC_OFFSET.search(text)
        if match:
            sign = -1.0 if match["sign"] == "-" else 1.0
            offsets[i] = sign * (int(match["hours"]) * 3600 + int(match["minutes"]) * 60)
            cleaned[i] = text[: match.start()]
    return offsets


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
