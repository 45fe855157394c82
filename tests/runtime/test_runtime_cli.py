"""Command line: flags mirror tritonserver's; unknown flags and broken repositories fail loudly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gpufleet_server.cli import parse_options


def test_flags_parse_into_options(tmp_path: Path) -> None:
    options, _ = parse_options(
        [
            "--model-repository", str(tmp_path), "--http-port", "9000", "--grpc-port", "9001",
            "--metrics-port", "9002", "--exit-timeout-secs", "5", "--host", "127.0.0.1",
            "--device", "cpu", "--dtype", "bf16", "--metrics-config", "summary_latencies=false",
        ]
    )  # fmt: skip
    assert (options.http_port, options.grpc_port, options.metrics_port) == (9000, 9001, 9002)
    assert options.model_repository == tmp_path
    assert options.exit_timeout_secs == 5
    assert options.dtype == "bf16"
    assert options.summary_latencies is False


def test_defaults_match_tritonserver(tmp_path: Path) -> None:
    options, _ = parse_options(["--model-repository", str(tmp_path)])
    assert (options.http_port, options.grpc_port, options.metrics_port) == (8000, 8001, 8002)
    assert options.host == "0.0.0.0"
    assert options.exit_timeout_secs == 30


@pytest.mark.parametrize(
    "flags",
    [["--strict-model-config", "false"], ["--http-p", "9000"], ["--metrics-config", "x=1"]],
    ids=["triton-only-flag", "abbreviation", "unknown-metrics-config"],
)
def test_unknown_flags_are_rejected(
    tmp_path: Path, flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_options(["--model-repository", str(tmp_path), *flags])
    assert exited.value.code == 2
    assert flags[0].split("=")[0] in capsys.readouterr().err


@pytest.mark.slow
def test_broken_repository_exits_nonzero_with_reason(tmp_path: Path) -> None:
    (tmp_path / "broken" / "1").mkdir(parents=True)
    (tmp_path / "broken" / "config.pbtxt").write_text("max_batch_size: oops")
    result = subprocess.run(
        [sys.executable, "-m", "gpufleet_server.cli", "--model-repository", str(tmp_path),
         "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "config.pbtxt" in result.stderr
