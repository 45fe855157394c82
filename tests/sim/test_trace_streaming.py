"""Trace files stream: the text is decoded a chunk at a time and the rows converted a block
at a time, so that a week of a production trace (tens of millions of rows) loads in the
memory of its arrays, and loads as it did when read whole."""

from __future__ import annotations

import gzip
import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpufleet.sim import trace_files
from gpufleet.sim.trace_files import load_trace

AZURE_2024 = "TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(
    f"2024-05-10 00:00:{i:02d}.{i * 7919 % 1_000_000:06d}{'+00:00' if i % 5 else '+02:00'},"
    f"{i * 37 % 1000},{i * 13 % 200}\n"
    for i in range(23)
)
MOONCAKE = "".join(
    json.dumps({"timestamp": 1000 * i + i * i, "input_length": 600 + i, "output_length": i}) + "\n"
    for i in range(17)
)
BURSTGPT = "Timestamp,Model,Request tokens,Response tokens\r\n" + "".join(
    f"{(i * 31) % 50},GPT-4,{i * 3},{i + 1}\r\n" for i in range(19)
)
SMALL = {"_BLOCK_ROWS": 3, "_CHUNK_BYTES": 7}
"""Every boundary mid-file: blocks of 3 rows, chunks of 7 bytes (mid-line, mid-date)."""


def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SMALL.items():
        monkeypatch.setattr(trace_files, name, value)


@pytest.mark.parametrize(
    ("name", "content", "unit"),
    [
        ("azure.csv", AZURE_2024.encode(), "s"),
        ("azure.csv.gz", gzip.compress(AZURE_2024.encode()), "s"),
        ("mooncake.jsonl", b"\xef\xbb\xbf" + MOONCAKE.encode(), "ms"),
        ("burstgpt.csv", BURSTGPT.encode(), "s"),
        ("plain.csv", "".join(f"{40 - i}\n" for i in range(11)).encode(), "s"),
    ],
)
def test_a_trace_read_in_blocks_is_the_trace_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: bytes, unit: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    asked: dict[str, Any] = {"time_unit": unit}
    if name != "plain.csv":
        asked |= {"llm": True, "token_sized": True}
    whole = load_trace(str(path), **asked)
    small_blocks(monkeypatch)
    streamed = load_trace(str(path), **asked)
    assert len(streamed) == len(whole) > SMALL["_BLOCK_ROWS"] * 3
    for column in ("arrivals", "sizes", "prompt_tokens", "output_tokens"):
        expected, got = getattr(whole, column), getattr(streamed, column)
        assert (got is None) == (expected is None)
        if expected is not None:
            assert np.array_equal(got, expected)


def rows(stamps: list[str]) -> str:
    return "TIMESTAMP,GeneratedTokens\n" + "".join(
        f"{stamp},{i}\n" for i, stamp in enumerate(stamps)
    )


DAY = [f"2024-01-01T00:00:{i:02d}" for i in range(12)]


@pytest.mark.parametrize(
    ("content", "asked", "message"),
    [
        # The first refused of each column, in the order the checks run, as when whole.
        (rows([*DAY[:8], "noon", *DAY[8:]]), {}, "line 10: timestamp 'noon' is not a date"),
        # A date numpy reads as not-a-time in an early block, one it cannot read in a later
        # block: the one it cannot read is what is refused.
        (rows([DAY[0], "", *DAY[1:8], "noon", *DAY[8:]]), {},
         "line 11: timestamp 'noon' is not a date"),
        (rows([*DAY[:8], "", *DAY[8:]]), {}, "line 10: timestamp '' is not a date"),
        (rows([*DAY[:8], "noon", *DAY[8:]]).replace(",10\n", ",ten\n"), {"token_sized": True},
         "line 10: timestamp 'noon' is not a date"),
        (rows(DAY).replace(",10\n", ",ten\n").replace(",3\n", ",-3\n"), {"token_sized": True},
         "line 5, column 'GeneratedTokens': '-3' is not a count"),
        (rows(DAY).replace(",10\n", ",ten\n"), {"token_sized": True},
         "line 12, column 'GeneratedTokens': 'ten' is not a count"),
        # A row that is refused before a byte that is not UTF-8: the file is not text.
        (b"timestamp,tokens\n1\n" + b"2,3\n" * 9 + b"caf\xe9,4\n", {},
         "line 12: not UTF-8 text (byte 0xe9)"),
        ("".join(json.dumps({"t": i, "size": i}) + "\n" for i in range(9))
         + '{"t": 9, "size": true}\n{"t": 10}\n', {"token_sized": True},
         "line 10, column 'size': 'true' is not a count"),
    ],
)  # fmt: skip
def test_what_is_refused_in_a_later_block_is_what_is_refused_whole(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str | bytes,
    asked: dict[str, Any],
    message: str,
) -> None:
    data = content if isinstance(content, bytes) else content.encode()
    path = tmp_path / ("t.jsonl" if data.startswith(b"{") else "t.csv")
    path.write_bytes(data)
    with pytest.raises(ValueError, match=re.escape(f"{path}: {message}")):
        load_trace(str(path), **asked)
    small_blocks(monkeypatch)
    with pytest.raises(ValueError, match=re.escape(f"{path}: {message}")):
        load_trace(str(path), **asked)


def test_a_byte_that_is_not_utf8_after_a_byte_order_mark_is_found_where_it_is(
    tmp_path: Path,
) -> None:
    # The line and byte were counted from after the mark: "line 2 ... (byte 0x31)".
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbftimestamp\n1\n2\xe9\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}: line 3: not UTF-8 text (byte 0xe9)")):
        load_trace(str(path))


def test_a_jsonl_file_whose_first_request_is_a_bare_timestamp_has_no_columns(
    tmp_path: Path,
) -> None:
    # The first request says which columns a file has; the columns of a later one were
    # taken, one value short, and an IndexError was raised.
    path = tmp_path / "t.jsonl"
    path.write_text('1\n{"t": 2, "size": 3}\n')
    assert load_trace(str(path)).arrivals.tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="token-sized requests need a size column"):
        load_trace(str(path), token_sized=True)


@pytest.mark.parametrize(
    ("rows", "bad_row", "message"),
    [
        ("\n\nTIMESTAMP,GeneratedTokens\n2023-11-16 18:15:46.68,20\n", "2023-11-16 18:15:47,x\n",
         "line 5, column 'GeneratedTokens': 'x' is not a count"),
        ("\n1.0\n2.5\n", "foo\n", "line 4: timestamp 'foo' is not a number (the first one is)"),
    ],
    ids=["header", "no header"],
)  # fmt: skip
def test_blank_lines_before_the_first_row_are_skipped(
    tmp_path: Path, rows: str, bad_row: str, message: str
) -> None:
    # An IndexError was raised: the first line was read as the header, and it was empty.
    path = tmp_path / "t.csv"
    path.write_text(rows)
    assert load_trace(str(path)).arrivals.tolist() in ([0.0], [0.0, 1.5])
    path.write_text(rows + bad_row)
    with pytest.raises(ValueError, match=re.escape(f"{path}: {message}")):
        load_trace(str(path), token_sized=True)


def test_a_long_trace_is_never_held_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read whole, a 0.8 GB week in the Azure 2024 traces' format took 9.7 GB (its text,
    # and a Python string per value); here, 11 times the file's size. Streamed: about its
    # size (the arrays, and their sorted copies).
    monkeypatch.setattr(trace_files, "_BLOCK_ROWS", 1024)
    monkeypatch.setattr(trace_files, "_CHUNK_BYTES", 1 << 14)
    path = tmp_path / "week.csv"
    n = 30_000
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        + "".join(
            f"2024-05-10 {i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.009930+00:00,"
            f"{i % 997},{i % 211}\n"
            for i in range(n)
        )
    )
    tracemalloc.start()
    try:
        trace = load_trace(str(path), llm=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(trace) == n
    assert peak < 2 * path.stat().st_size
