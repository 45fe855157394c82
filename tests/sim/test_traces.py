"""Traces: the Azure LLM CSV, plain CSV/JSONL timestamps, synthetic shapes, time scaling."""

from __future__ import annotations

import gzip
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpufleet.sim.trace_files import load_trace


def test_azure_conv_trace_loads_every_request(azure_trace: Path) -> None:
    trace = load_trace(str(azure_trace), token_sized=True)
    assert len(trace) == 19_366
    assert trace.arrivals[0] == 0.0
    assert 3_400 < trace.duration < 3_600  # one hour
    assert trace.sizes is not None
    assert float(trace.sizes.mean()) == pytest.approx(1.0)


def test_rate_scale_compresses_time(azure_trace: Path) -> None:
    plain = load_trace(str(azure_trace))
    fast = load_trace(str(azure_trace), rate_scale=2.0)
    assert len(fast) == len(plain)
    assert fast.duration == pytest.approx(plain.duration / 2)
    assert fast.peak_rate(30.0) == pytest.approx(2 * plain.peak_rate(60.0), rel=0.5)
    assert fast.sizes is None  # sizes only with token_sized


def test_csv_of_iso_timestamps_and_jsonl_of_seconds(tmp_path: Path) -> None:
    csv_file = tmp_path / "t.csv"
    csv_file.write_text("timestamp,tokens\n2024-01-01T00:00:02Z,30\n2024-01-01T00:00:00Z,10\n")
    trace = load_trace(str(csv_file), token_sized=True)
    assert trace.arrivals.tolist() == [0.0, 2.0]
    assert trace.sizes is not None
    assert trace.sizes.tolist() == [0.5, 1.5]  # sorted with their arrivals, mean 1
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("\n".join(json.dumps({"t": t}) for t in (5.0, 5.5, 9.0)))
    assert load_trace(str(jsonl)).arrivals.tolist() == [0.0, 0.5, 4.0]


BURSTGPT = (
    "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
    "5,ChatGPT,472,18,490,Conversation log\n"
    "45,ChatGPT,1087,230,1317,Conversation log\n"
    "118,GPT-4,417,276,693,Conversation log\n"
)
MOONCAKE = (
    '{"timestamp": 0, "input_length": 655, "output_length": 52, "hash_ids": [46, 47]}\n'
    '{"timestamp": 10535, "input_length": 672, "output_length": 26, "hash_ids": [46, 47]}\n'
    '{"timestamp": 27482, "input_length": 655, "output_length": 52, "hash_ids": [46, 47]}\n'
)
AZURE = (
    "TIMESTAMP,ContextTokens,GeneratedTokens\n"
    "2023-11-16 18:15:46.6805900,374,44\n"
    "2023-11-16 18:15:50.9951690,396,109\n"
    "2023-11-16 18:15:51.0000000,879,0\n"
)


@pytest.mark.parametrize(
    ("name", "text", "unit", "arrivals", "prompt", "output", "sizes"),
    [
        ("burstgpt.csv", BURSTGPT, "s", [0.0, 40.0, 113.0], [472, 1087, 417], [18, 230, 276],
         [18 / 174.67, 230 / 174.67, 276 / 174.67]),
        ("mooncake.jsonl", MOONCAKE, "ms", [0.0, 10.535, 27.482], [655, 672, 655], [52, 26, 52],
         [52 / 43.33, 26 / 43.33, 52 / 43.33]),
        # An answer of no tokens still takes one decode step (its size is its count).
        ("azure.csv", AZURE, "s", [0.0, 4.314579, 4.31941], [374, 396, 879], [44, 109, 1],
         [44 / 51, 109 / 51, 0.0]),
    ],
)  # fmt: skip
def test_public_llm_traces_load_as_published(
    tmp_path: Path,
    name: str,
    text: str,
    unit: str,
    arrivals: list[float],
    prompt: list[int],
    output: list[int],
    sizes: list[float],
) -> None:
    path = tmp_path / name
    path.write_text(text)
    trace = load_trace(str(path), llm=True, time_unit=unit)
    assert trace.arrivals.tolist() == pytest.approx(arrivals)
    assert trace.prompt_tokens is not None
    assert trace.output_tokens is not None
    assert trace.prompt_tokens.tolist() == prompt
    assert trace.output_tokens.tolist() == output
    sized = load_trace(str(path), token_sized=True, time_unit=unit)
    assert sized.sizes is not None  # the output tokens over their mean
    assert sized.sizes.tolist() == pytest.approx(sizes, rel=0.001)


@pytest.mark.parametrize(
    ("name", "text", "asked", "message"),
    [
        ("short.csv", "timestamp,tokens\n1,5\n2\n", {}, "line 3: 1 fields, the header has 2"),
        ("word.csv", "timestamp,tokens\n1,5\n2,many\n", {"token_sized": True},
         "line 3, column 'tokens': 'many' is not a count"),
        ("minus.csv", "t,output_tokens,prompt_tokens\n1,5,3\n2,-1,3\n", {"llm": True},
         "line 3, column 'output_tokens': '-1' is not a count"),
        ("late.csv", "time\n1.5\n2.5\nnoon\n", {}, "line 4: timestamp 'noon' is not a number"),
        # Request ids are numbers too: read as arrival times they would replay as a trace.
        ("ids.csv", "request_id,sent,tokens\n7,0.5,3\n8,1.0,2\n", {},
         "line 1: no arrival-time column among 'request_id', 'sent', 'tokens' (one of "
         "timestamp, time, t, arrival, arrivaltime, ignoring case"),
        ("date.csv", "TIMESTAMP\n2024-01-01T00:00:00Z\nyesterday\n", {},
         "line 3: timestamp 'yesterday' is not a date"),
        ("unit.csv", "TIMESTAMP\n2024-01-01T00:00:00Z\n", {"time_unit": "ms"},
         "a time unit is for numeric timestamps"),
        ("plain.csv", "timestamp\n1\n2\n", {"token_sized": True},
         "token-sized requests need a size column"),
        ("plain.jsonl", '{"t": 1}\n{"t": 2}\n', {"llm": True},
         "an LLM profile needs prompt and output token columns"),
        ("broken.jsonl", '{"t": 1}\n{"t": 2\n', {}, "line 2: not JSON"),
        ("keyless.jsonl", '{"t": 1}\n{"at": 2}\n', {}, "line 2: no timestamp"),
        ("gap.jsonl", '{"t": 1, "size": 3}\n{"t": 2}\n', {"token_sized": True},
         "line 2: no 'size', which the first request has"),
        # It read "'None' is not a count": Python's word, not the file's.
        ("null.jsonl", '{"t": 1, "input_length": 9, "output_length": 5}\n'
         '{"t": 2, "input_length": null, "output_length": 4}\n', {"llm": True},
         "line 2, column 'input_length': 'null' is not a count"),
        # numpy reads an empty cell as not-a-time, which would shift every arrival.
        ("blank.csv", "TIMESTAMP,GeneratedTokens\n2024-01-01T00:00:00Z,3\n,4\n", {},
         "line 3: timestamp '' is not a date (the first one is)"),
        ("us.csv", "TIMESTAMP\n11/16/2023 18:15\n11/16/2023 18:16\n", {},
         "line 2: timestamp '11/16/2023 18:15' is neither a number nor an ISO 8601 date"),
        ("nan.csv", "timestamp\nnan\n1\n", {},
         "line 2: timestamp 'nan' is neither a number nor an ISO 8601 date"),
        # Microsecond stamps read as seconds: 11 days become 31,700 years (and no memory).
        ("unit.jsonl", '{"timestamp": 0}\n{"timestamp": 1e12}\n', {},
         "the requests span 1.16e+07 days; at most a year is replayed (are the timestamps "
         "in another time unit?)"),
    ],
)  # fmt: skip
def test_a_file_it_cannot_read_is_refused_naming_the_line_and_column(
    tmp_path: Path, name: str, text: str, asked: dict[str, Any], message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"{path}: {message}")):
        load_trace(str(path), **asked)


@pytest.mark.parametrize(
    ("name", "text"),
    [("t.csv", "timestamp,tokens\n1,5\n2,n/a\n"), ("t.jsonl", '{"t": 1, "size": 3}\n{"t": 2}\n')],
)
def test_a_column_not_asked_for_is_not_read(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert load_trace(str(path)).arrivals.tolist() == [0.0, 1.0]


def test_an_unknown_time_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="one of s, ms, us"):
        load_trace("synthetic:constant", time_unit="min")


def test_synthetic_step_has_its_two_rates() -> None:
    trace = load_trace("synthetic:step?base=10&peak=40&at=300&duration=600", seed=4)
    rates = trace.rate_per_window(300.0)
    assert rates[0] == pytest.approx(10, rel=0.1)
    assert rates[1] == pytest.approx(40, rel=0.1)


@pytest.mark.parametrize("shape", ["step", "ramp", "diurnal", "bursty", "flash", "onoff"])
def test_synthetic_shapes_are_seeded(shape: str) -> None:
    a = load_trace(f"synthetic:{shape}", seed=11)
    b = load_trace(f"synthetic:{shape}", seed=11)
    c = load_trace(f"synthetic:{shape}", seed=12)
    assert np.array_equal(a.arrivals, b.arrivals)
    assert not np.array_equal(a.arrivals, c.arrivals)
    per_minute = a.rate_per_window(60.0)
    assert per_minute.max() > 2.5 * per_minute.min()  # base 2-5/s, peak 20/s by default


def test_unknown_synthetic_parameter_is_rejected() -> None:
    with pytest.raises(ValueError, match="no parameter 'peek'"):
        load_trace("synthetic:step?peek=3")


@pytest.mark.parametrize(
    ("source", "asked", "message"),
    [
        ("synthetic:constant?rate=abc", {}, "rate='abc': expected a number >= 0"),
        ("synthetic:constant?rate=-1", {}, "rate='-1': expected a number >= 0"),
        ("synthetic:step?at=nan", {}, "synthetic:step: at='nan': expected a number >= 0"),
        ("synthetic:constant?rate=2&rate=3", {}, "synthetic:constant: rate is given twice"),
        ("synthetic:constant?duration=0", {}, "synthetic:constant: duration=0: seconds, > 0"),
        ("synthetic:constant?duration=1e9", {}, "synthetic:constant: duration=1e+09: seconds, > 0 "
         "and at most 3.16224e+07 (a year)"),
        ("synthetic:constant?rate=1e9", {}, "synthetic:constant?rate=1e9: about 1.8e+12 requests"),
        ("synthetic:constant?rate=0", {}, "synthetic:constant?rate=0: no requests"),
        ("synthetic:constant", {"duration": 0.0}, "duration 0: expected seconds > 0"),
        ("synthetic:constant", {"duration": 1e12}, "duration 1e+12: expected seconds > 0, at most "
         "a year"),
        ("synthetic:constant?rate=1", {"duration": 1e-3}, "synthetic:constant?rate=1: no requests "
         "in the first 0.001 s"),
        ("synthetic:constant", {"rate_scale": 1e-6}, "synthetic:constant: the requests span "
         "2.08e+04 days; at most a year is replayed (a rate scale of 1e-06 slows it down)"),
        ("synthetic:constant", {"rate_scale": float("nan")}, "rate scale nan: expected a "),
        ("synthetic:constant", {"rate_scale": float("inf")}, "rate scale inf: expected a "),
        # A period of 0 divided by zero: a numpy warning and "lam < 0 or lam is NaN".
        ("synthetic:diurnal?period=0", {}, "synthetic:diurnal: period=0: expected seconds > 0"),
        ("synthetic:bursty?every=0", {}, "synthetic:bursty: every=0: expected seconds > 0"),
        ("synthetic:bursty?burst=0", {}, "synthetic:bursty: burst=0: expected seconds > 0"),
        ("synthetic:flash?decay=0", {}, "synthetic:flash: decay=0: expected seconds > 0"),
        # Accepted: a constant rate (on=0, off=0: the base) under the name of a cycle.
        ("synthetic:onoff?on=0&off=0", {}, "synthetic:onoff: on=0: expected seconds > 0"),
        ("synthetic:onoff?off=0", {}, "synthetic:onoff: off=0: expected seconds > 0"),
        ("synthetic:constant?clump=0.5", {}, "synthetic:constant: clump=0.5: expected a number "
         ">= 1"),
        # Accepted as a step at 100 s (base > peak is the ramp down; start > end is no ramp).
        ("synthetic:ramp?start=100&end=50", {}, "synthetic:ramp: end=50 is not after start=100"),
        ("synthetic:ramp?start=1500", {}, "synthetic:ramp: end=1200 (the default) is not after "
         "start=1500"),
    ],
)  # fmt: skip
def test_a_trace_that_is_no_trace_is_refused_saying_why(
    source: str, asked: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_trace(source, **asked)


@pytest.mark.parametrize(
    "source",
    [
        "synthetic:ramp?base=20&peak=5&duration=600",  # the suite's ramp down
        "synthetic:step?base=20&peak=5&duration=900",
        "synthetic:flash?rise=0&duration=900",  # the crowd at once
        "synthetic:bursty?base=0&duration=900",  # idle between bursts
    ],
)
def test_a_shape_that_falls_or_jumps_is_a_trace(source: str) -> None:
    assert len(load_trace(source, seed=1)) > 0


AZURE_ROWS = (
    "TIMESTAMP,GeneratedTokens\r\n2023-11-16 18:15:46.68,44\r\n2023-11-16 18:15:50.99,109\r\n"
)


@pytest.mark.parametrize(
    ("name", "content", "arrivals"),
    [
        # A byte-order mark is not part of the first timestamp: no row is taken for a header.
        ("plain.csv", b"\xef\xbb\xbf5\n6\n7\n", [0.0, 1.0, 2.0]),
        ("azure.csv", b"\xef\xbb\xbf" + AZURE_ROWS.encode(), [0.0, 4.31]),
        ("azure.csv.gz", gzip.compress(AZURE_ROWS.encode()), [0.0, 4.31]),
        ("mooncake.jsonl.gz", gzip.compress(MOONCAKE.encode()), [0.0, 10.535, 27.482]),
        # A spreadsheet's empty rows: they were refused as "timestamp '' is not a date".
        ("excel.csv", AZURE_ROWS.encode() + b",\r\n,\r\n", [0.0, 4.31]),
    ],
)  # fmt: skip
def test_what_editors_and_archives_do_to_a_trace_changes_nothing(
    tmp_path: Path, name: str, content: bytes, arrivals: list[float]
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    unit = "ms" if "mooncake" in name else "s"
    trace = load_trace(str(path), token_sized=name != "plain.csv", time_unit=unit)
    assert trace.arrivals.tolist() == pytest.approx(arrivals)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"timestamp,tokens\n1,5\n2,caf\xe9\n", "line 3: not UTF-8 text (byte 0xe9)"),
        (gzip.compress(b"timestamp\n1\n2\n")[:-6], "a gzip file that does not decompress"),
    ],
)
def test_a_file_that_is_not_text_is_refused_naming_the_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(f"{path}: {message}")):
        load_trace(str(path))


@pytest.mark.parametrize(
    ("window", "expected_rate"),
    [
        ((0.0, 600.0), 3.0),  # before the crowd
        ((612.0, 620.0), 30.0),  # x10 within 10 s
        ((910.0, 930.0), 3.0 + 27.0 * np.exp(-1.0)),  # one decay constant later
        ((2400.0, 3000.0), 3.0),  # gone after many minutes
    ],
)
def test_flash_crowd_rises_tenfold_in_ten_seconds_and_decays(
    window: tuple[float, float], expected_rate: float
) -> None:
    trace = load_trace(
        "synthetic:flash?base=3&peak=30&at=600&rise=10&decay=300&duration=3000", seed=2
    )
    lo, hi = np.searchsorted(trace.arrivals, window)
    assert (hi - lo) / (window[1] - window[0]) == pytest.approx(expected_rate, rel=0.3)


def test_onoff_alternates_between_its_rates() -> None:
    trace = load_trace("synthetic:onoff?base=0&peak=20&on=100&off=200&duration=900", seed=3)
    per_100s = trace.rate_per_window(100.0).tolist()
    assert per_100s[0] == per_100s[1] == per_100s[3] == 0.0
    assert per_100s[2] == pytest.approx(20, rel=0.15)
    assert per_100s[5] == pytest.approx(20, rel=0.15)


@pytest.mark.parametrize(("clump", "close_gaps"), [(1.0, (0.0, 0.15)), (8.0, (0.75, 0.95))])
def test_clumped_arrivals_keep_the_rate_and_come_milliseconds_apart(
    clump: float, close_gaps: tuple[float, float]
) -> None:
    trace = load_trace(f"synthetic:constant?rate=10&duration=2000&clump={clump:g}", seed=5)
    assert len(trace) / trace.duration == pytest.approx(10, rel=0.1)
    share = float(np.mean(np.diff(trace.arrivals) < 0.01))
    assert close_gaps[0] <= share <= close_gaps[1]


def test_dates_with_an_offset_from_utc_load_as_the_azure_2024_traces_write_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "AzureLLMInferenceTrace_conv_1week.csv"
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2024-05-10 00:00:00.009930+00:00,374,44\n"
        "2024-05-10 00:00:01.5+00:00,396,109\n"
        "2024-05-10 02:00:03+02:00,1,1\n"  # the same clock, two hours east
        "2024-05-09 19:00:04-0500,1,1\n"
    )
    with warnings.catch_warnings():
        # numpy's own reading of an offset is deprecated, to become an error.
        warnings.simplefilter("error")
        trace = load_trace(str(path))
    assert trace.arrivals.tolist() == pytest.approx([0.0, 1.49007, 2.99007, 3.99007])


def test_an_offset_on_a_later_row_only_is_applied_as_on_the_first(tmp_path: Path) -> None:
    # Only the first row was looked at for offsets: a later row's went to numpy, whose
    # reading of one is deprecated (to become an error, refusing a trace it reads today).
    path = tmp_path / "t.csv"
    path.write_text("timestamp\n2023-11-16T18:15:00Z\n2023-11-16T20:15:01+02:00\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trace = load_trace(str(path))
    assert trace.arrivals.tolist() == [0.0, 1.0]
