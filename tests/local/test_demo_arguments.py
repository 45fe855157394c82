"""``gpufleet local demo`` and ``up`` refuse bad arguments before starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from gpufleet_devtools.local.cli import _arrivals, app
from gpufleet_devtools.local.demo import DemoRun, write_outputs
from gpufleet_devtools.local.summary import summarize
from gpufleet_devtools.local.trace import Arrivals


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--rate-scale", "-1"], "--rate-scale must be a number > 0, not -1"),
        (["demo", "--rate-scale", "0"], "--rate-scale must be a number > 0, not 0"),
        (["demo", "--duration", "0"], "--duration must be a number > 0, not 0"),
        (["demo", "--speedup", "nan"], "--speedup must be a number > 0, not nan"),
        (["demo", "--tick", "-2"], "--tick must be a number > 0, not -2"),
        (["demo", "--start-delay", "-1"], "--start-delay must be >= 0, not -1"),
        (["demo", "--trace", "no-such-trace.csv"], "--trace no-such-trace.csv: no such file"),
        (["up", "--tick", "0"], "--tick must be a number > 0, not 0"),
    ],
)
def test_a_bad_argument_is_refused_by_name_and_nothing_starts(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A negative rate ran a demo of no requests and reported it; a trace named but absent
    was silently replaced by a synthetic burst. Both are usage errors now, raised before
    the fleet (API emulator, Prometheus, operator) starts or anything is written."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [*args, "--no-live"] if args[0] == "demo" else args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "fleet up" not in result.output
    assert not (tmp_path / ".gpufleet").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # Each was found minutes later, the run over, by a traceback from write_text.
        (["--json", "no/such/dir/s.json"], "Invalid value for --json: no/such/dir is not a "
         "directory"),
        (["--json", "."], "Invalid value for --json: . is a directory"),
        (["--json", "a-file/s.json"], "Invalid value for --json: a-file is not a directory"),
        (["--plot", "a-file/d.png"], "Invalid value for --plot: a-file is not a directory"),
        (["--plot", "a-file/plots/d.png"], "Invalid value for --plot: a-file is not a writable "
         "directory"),
        (["--plot", "."], "Invalid value for --plot: . is a directory"),
        (["--plot", "d.jgp"], "Invalid value for --plot: .jgp: not an image format"),
        # The help said "as `gpufleet sim --trace` reads it", which takes synthetic shapes.
        (["--trace", "synthetic:diurnal?period=0"], "--trace: synthetic:diurnal: period=0: "
         "expected seconds > 0"),
    ],
)  # fmt: skip
def test_an_output_or_trace_it_cannot_use_is_refused_before_the_fleet_starts(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    result = CliRunner().invoke(app, ["demo", "--no-live", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", "").split())
    assert "fleet up" not in result.output
    assert not (tmp_path / ".gpufleet").exists()


def test_a_synthetic_trace_is_replayed_as_gpufleet_sim_reads_it() -> None:
    arrivals = _arrivals(
        "synthetic:step?base=1&peak=4&at=60&duration=120", 120.0, 1.0, 1.0, Console()
    )
    assert isinstance(arrivals, Arrivals)
    assert arrivals.description.startswith("synthetic:step?base=1&peak=4&at=60&duration=120: ")
    assert arrivals.rate_between(60, 120) > 2 * arrivals.rate_between(0, 60)


def test_an_output_that_fails_after_the_run_is_said_not_raised(tmp_path: Path) -> None:
    # Checked before the fleet starts, but a disk fills up: the write raised, and the
    # summary table of a run minutes long was never printed.
    summary = summarize("t", [], [], 100.0, 1.0, None)
    run = DemoRun(Arrivals((), 1.0, "t"), json_path=tmp_path)
    written, unwritten = write_outputs(summary, [], run)
    assert written == summary
    assert unwritten == (f"--json {tmp_path}: Is a directory (not written)",)
