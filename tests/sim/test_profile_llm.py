"""``gpufleet profile --llm`` against gpufleet-server's LLM mode, and the profile it
writes driving the simulator's token-level model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet.profiling.cli import app as profile_app
from gpufleet.profiling.llm import prefill_slope
from gpufleet.sim.cli import app as sim_app
from gpufleet.sim.llm import LlmProfile
from gpufleet.sim.profile import load_any_profile
from gpufleet_devtools.runtime.process import ServerProcess, start_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

KV_TOKENS = 16384


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(
        None,
        tmp_path_factory.mktemp("llm-logs") / "server.log",
        ["--max-model-len", "2048", "--kv-cache-tokens", str(KV_TOKENS)],
    )
    yield running
    running.stop()


def test_llm_profile_fits_prefill_and_decode_and_drives_the_simulator(
    llm_server: ServerProcess, tmp_path: Path
) -> None:
    out = tmp_path / "llm.yaml"
    result = CliRunner().invoke(
        profile_app,
        [
            "--llm", "--url", llm_server.http_url, "--model", "gpufleet-llm",
            "--kv-tokens", str(KV_TOKENS), "--max-num-batched-tokens", "2048",
            "--no-prefix-caching", "--out", str(out), "--prompt-tokens", "16,384,768",
            "--concurrency", "1,4,8", "--requests", "3",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    profile = load_any_profile(out)
    assert isinstance(profile, LlmProfile)
    # The server's settings, as given: KV size, token budget, no prefix caching.
    assert (profile.kv_tokens, profile.max_num_batched_tokens) == (KV_TOKENS, 2048)
    assert profile.prefix_caching is False
    # A longer prompt takes longer to prefill; an iteration takes longer with more
    # sequences running (measured here: ~6 ms alone, ~13 ms with 8 streams).
    assert profile.prefill_ms_per_token > 0
    assert profile.decode_ms_per_seq > 0
    assert profile.source is not None
    assert "TTFT alone by prompt" in profile.source

    sim = CliRunner().invoke(
        sim_app,
        ["--trace", "synthetic:constant?rate=2&duration=300", "--profile", str(out),
         "--policies", "static,wva", "--no-sweep", "--ttft-ms", "5000", "--itl-ms", "500"],
    )  # fmt: skip
    assert sim.exit_code == 0, sim.output
    assert "TTFT p95" in sim.output


def test_llm_profile_needs_the_kv_cache_size(llm_server: ServerProcess, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        profile_app,
        ["--llm", "--url", llm_server.http_url, "--model", "m", "--out", str(tmp_path / "p")],
    )
    assert result.exit_code != 0
    assert "--kv-tokens" in result.output


def test_an_llm_profile_without_a_token_budget_says_it_prefills_whole_prompts(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        profile_app,
        ["--llm", "--url", "127.0.0.1:9", "--model", "m", "--kv-tokens", "4096",
         "--out", str(tmp_path / "p")],
    )  # fmt: skip
    assert result.exit_code == 2  # nothing listens on port 9
    said = " ".join(result.output.split())  # however the console wrapped it
    assert "no --max-num-batched-tokens: the profile prefills each prompt whole" in said


def test_llm_profile_refuses_a_token_budget_below_a_decode_step(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        profile_app,
        ["--llm", "--url", "127.0.0.1:9", "--model", "m", "--kv-tokens", "4096",
         "--max-num-seqs", "64", "--max-num-batched-tokens", "32", "--out", str(tmp_path / "p")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--max-num-batched-tokens" in result.output
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize(
    ("budget", "prompts", "ttft_ms"),
    [
        # 5 ms of HTTP, iterations of 20 ms fixed + 0.05 ms per prompt token; whole prompts:
        # 5 + 20 + 0.05 P.
        (None, (16, 256, 512, 1024), [25.8, 37.8, 50.6, 76.2]),
        # A 256-token budget: a prompt takes ceil(P / 256) iterations, each paying the
        # 20 ms: 5 + 20 ceil(P / 256) + 0.05 P.
        (256, (16, 256, 512, 1024), [25.8, 37.8, 70.6, 136.2]),
    ],
    ids=["whole", "chunked"],
)
def test_the_prefill_cost_is_read_net_of_each_chunks_iteration(
    budget: int | None, prompts: tuple[int, ...], ttft_ms: list[float]
) -> None:
    assert prefill_slope(prompts, ttft_ms, 20.0, budget) == pytest.approx(0.05)
