"""The command line the chart runs is one the `gpufleet` CLI accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from gpufleet.cli import app

from .render import VALUE_SETS, render


@pytest.mark.parametrize("value_set", ["defaults", "namespaced-everything", "cluster-everything"])
def test_gpufleet_run_accepts_the_charts_arguments(chart_dir: Path, value_set: str) -> None:
    container = render(chart_dir, VALUE_SETS[value_set]).container()
    assert container["command"] == ["gpufleet"]
    subcommand, *args = container["args"]
    group = typer.main.get_command(app)
    command = group.commands[subcommand]  # type: ignore[attr-defined]
    # Parse only (no invoke): unknown options and bad values raise here.
    context = command.make_context(subcommand, list(args))
    assert context.params["metrics_port"] == 9090
    assert context.params["liveness"] == "http://:8080/healthz"
