"""``gpufleet local demo`` and ``up`` refuse bad arguments before starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet_devtools.local.cli import app


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
