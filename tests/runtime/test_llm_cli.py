"""The LLM mode's command line: its flags parse into settings, they are refused outside
--mode llm, and inconsistent limits fail at start with the setting named."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet_server.cli import parse_options


def test_llm_flags_parse_into_options() -> None:
    options, _ = parse_options(
        [
            "--mode", "llm", "--served-model-name", "tiny", "--max-model-len", "512",
            "--kv-cache-tokens", "4096", "--max-num-seqs", "16", "--num-layers", "2",
            "--hidden-size", "128", "--num-heads", "2", "--seed", "7",
        ]
    )  # fmt: skip
    assert options.mode == "llm"
    assert options.model_repository is None
    assert options.llm is not None
    assert (options.llm.served_model_name, options.llm.max_model_len) == ("tiny", 512)
    assert (options.llm.kv_cache_tokens, options.llm.max_num_seqs) == (4096, 16)
    assert (options.llm.num_layers, options.llm.hidden_size, options.llm.num_heads) == (2, 128, 2)
    assert options.llm.seed == 7


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--model-repository", "REPO", "--max-model-len", "512"], "--max-model-len"),
        (["--mode", "llm", "--model-repository", "REPO"], "--model-repository"),
        (
            ["--mode", "llm", "--max-model-len", "4096", "--kv-cache-tokens", "1024"],
            "max_model_len",
        ),
        (["--mode", "llm", "--hidden-size", "100", "--num-heads", "3"], "hidden_size"),
        (["--mode", "llm", "--max-num-seqs", "0"], "max_num_seqs"),
        (["--mode", "llm", "--max-num-batched-tokens", "32"], "max_num_batched_tokens"),
        ([], "--model-repository"),
    ],
    ids=[
        "llm-flag-in-triton-mode",
        "repository-in-llm-mode",
        "context-above-cache",
        "heads",
        "zero-seqs",
        "budget-below-a-decode-step",
        "no-mode-no-repository",
    ],
)
def test_bad_llm_settings_exit_2_naming_them(
    tmp_path: Path, argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_options([str(tmp_path) if arg == "REPO" else arg for arg in argv])
    assert exited.value.code == 2
    assert named in capsys.readouterr().err
