"""``gpufleet profile`` refuses an endpoint or an output it cannot use before it measures
anything (a measurement takes minutes), naming the flag."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet.profiling import cli as profiling_cli
from gpufleet.profiling.cli import app as profile_app
from gpufleet.sim.profile import ServiceProfile


def _profile(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(profile_app, ["--model", "m", "--requests", "3", *args])
    # However the console wrapped it, in or out of its error box.
    return result.exit_code, " ".join(result.output.replace("│", "").split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "nonsense::"], "--url"),
        (["--url", "127.0.0.1:99999"], "Port out of range"),
        (["--url", "ftp://models:21"], "expected host:port or http(s)://host:port"),
        (["--url", "http://:8000"], "expected host:port or http(s)://host:port"),
        (["--metrics-url", "ftp://127.0.0.1:8002/metrics"], "--metrics-url"),
        (["--llm", "--kv-tokens", "4096", "--url", "nonsense::"], "--url"),
    ],
    ids=["no-port", "port-range", "scheme", "no-host", "metrics-scheme", "llm-url"],
)
def test_an_endpoint_that_is_no_http_url_is_a_usage_error(
    tmp_path: Path, args: list[str], message: str
) -> None:
    code, said = _profile("--out", str(tmp_path / "p.yaml"), *args)
    assert code == 2
    assert message in said
    assert "Traceback" not in said


@pytest.mark.parametrize("llm", [False, True], ids=["triton", "llm"])
def test_an_output_that_cannot_be_written_is_refused_before_measuring(
    tmp_path: Path, llm: bool
) -> None:
    # Nothing listens on port 9: a refusal that names --out came before any request.
    extra = ["--llm", "--kv-tokens", "4096"] if llm else []
    code, said = _profile("--url", "127.0.0.1:9", "--out", str(tmp_path / "no" / "p.yaml"), *extra)
    assert code == 2
    assert "--out" in said
    assert "is not a directory" in said


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "127.0.0.1:9"], ids=["scheme", "bare"])
def test_an_endpoint_with_or_without_its_scheme_reaches_the_server(
    tmp_path: Path, url: str
) -> None:
    # tritonclient refuses a scheme in its URL (with a NameError of its own): the profile
    # hands it the endpoint alone, so both spellings end at the connection, refused here.
    code, said = _profile("--url", url, "--out", str(tmp_path / "p.yaml"))
    assert code == 2
    assert "error:" in said
    assert "127.0.0.1:9" in said
    assert not (tmp_path / "p.yaml").exists()


def test_a_name_too_long_for_the_file_system_is_refused_naming_out(tmp_path: Path) -> None:
    # It raised OSError (ENAMETOOLONG) out of the check: a traceback, not a usage error.
    code, said = _profile("--url", "127.0.0.1:9", "--out", str(tmp_path / ("p" * 300)))
    assert code == 2
    assert "--out" in said
    assert "File name too long" in said
    assert "Traceback" not in said


def test_a_profile_it_cannot_write_after_measuring_is_printed_not_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The measurement (minutes against a server) stands in; /dev/full takes the open and
    # refuses the write, as a disk that fills up while the profile is measured does.
    measured = ServiceProfile(name="m", a_ms=5.0, c_ms=2.0, max_batch=8, source="measured")
    monkeypatch.setattr(profiling_cli, "profile_model", lambda plan: measured)
    result = CliRunner().invoke(
        profile_app, ["--model", "m", "--url", "127.0.0.1:9", "--out", "/dev/full"]
    )
    assert result.exit_code == 1
    assert "/dev/full: No space left on device" in " ".join(result.output.split())
    assert "a_ms: 5.0" in result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit)
