"""The LLM mode's emulated device: every iteration holds it for the modelled time, so a
stream's tokens come no faster than one decode iteration apart and a long prompt's first
token waits for its prefill; negative costs are refused with the flag named."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from gpufleet_devtools.runtime.process import ServerProcess, start_server
from gpufleet_server.cli import parse_options
from tests.runtime.llm_client import stream

pytestmark = pytest.mark.slow

DECODE_BASE_MS = 60.0
PREFILL_MS_PER_TOKEN = 0.5
TINY_MODEL = ["--num-layers", "1", "--hidden-size", "32", "--num-heads", "2"]


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(
        None,
        tmp_path_factory.mktemp("emulated") / "server.log",
        [
            "--max-model-len", "1024", *TINY_MODEL,
            "--emulate-decode-base-ms", str(DECODE_BASE_MS),
            "--emulate-prefill-ms-per-token", str(PREFILL_MS_PER_TOKEN),
        ],
    )  # fmt: skip
    yield running
    running.stop()


def token_arrivals(server: ServerProcess, prompt_tokens: int, max_tokens: int) -> list[float]:
    """Seconds from sending to each streamed token."""
    body = {"prompt": "x" * prompt_tokens, "max_tokens": max_tokens, "stream": True}
    sent = time.monotonic()
    arrivals = []
    for event in stream(server, "/v1/completions", body):
        if event != "[DONE]":
            arrivals.append(time.monotonic() - sent)
    return arrivals


def test_tokens_come_at_most_one_per_modelled_iteration(emulated: ServerProcess) -> None:
    arrivals = token_arrivals(emulated, prompt_tokens=4, max_tokens=6)
    assert len(arrivals) == 6
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # A lower bound only (the machine may be slower, never faster): the device's hold.
    assert min(gaps) >= 0.9 * DECODE_BASE_MS / 1000


def test_a_long_prompt_waits_for_its_prefill(emulated: ServerProcess) -> None:
    prompt_tokens = 800
    (first,) = token_arrivals(emulated, prompt_tokens=prompt_tokens, max_tokens=1)
    prefill_s = (DECODE_BASE_MS + PREFILL_MS_PER_TOKEN * prompt_tokens) / 1000
    assert first >= 0.9 * prefill_s


@pytest.mark.parametrize(
    "flag",
    ["--emulate-decode-base-ms", "--emulate-decode-ms-per-seq", "--emulate-prefill-ms-per-token"],
)
def test_negative_costs_are_refused_naming_the_setting(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_options(["--mode", "llm", flag, "-1"])
    assert exited.value.code == 2
    assert flag.removeprefix("--").replace("-", "_") in capsys.readouterr().err
