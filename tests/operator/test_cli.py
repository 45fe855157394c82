"""`gpufleet run` watches the namespaces it is told to, by flag or by setting."""

from __future__ import annotations

import kopf
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from gpufleet.cli import app, watched_namespaces
from gpufleet.handlers.lifecycle import configure_kopf
from gpufleet.settings import OperatorSettings


def test_flags_win_over_the_setting() -> None:
    env = {"GPUFLEET_NAMESPACES": "ml,serving"}
    assert watched_namespaces(["team-a"], env) == ["team-a"]


def test_the_setting_applies_without_flags() -> None:
    assert watched_namespaces(None, {"GPUFLEET_NAMESPACES": "ml, serving"}) == ["ml", "serving"]


def test_neither_means_cluster_wide() -> None:
    assert watched_namespaces([], {}) == []


def test_a_namespace_that_cannot_exist_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="namespaces"):
        watched_namespaces(["team-a", "Team_B"], {})
    with pytest.raises(ValidationError, match="namespaces"):
        watched_namespaces(None, {"GPUFLEET_NAMESPACES": "ml,*"})


def test_gpufleet_run_refuses_a_bad_namespace_before_it_starts() -> None:
    result = CliRunner().invoke(app, ["run", "--namespace", "Team_B"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "--namespace / GPUFLEET_NAMESPACES: not a namespace name: 'Team_B'" in result.output


BAD_SETTINGS = [
    ({"GPUFLEET_TICK_SECONDS": "abc"}, "GPUFLEET_TICK_SECONDS: 'abc': Input should be a valid"),
    ({"GPUFLEET_RATE_WINDOW_SECONDS": "0"}, "GPUFLEET_RATE_WINDOW_SECONDS: '0': Input should be"),
    ({"GPUFLEET_GPU_PRICES": '{"nvidia-l4": -1}'}, "GPUFLEET_GPU_PRICES: Value error, GPU price"),
    ({"GPUFLEET_GPU_PRICES": "/no/such.yaml"}, "GPUFLEET_GPU_PRICES: /no/such.yaml: No such file"),
    ({"GPUFLEET_GPU_PRICES": "{not json"}, "GPUFLEET_GPU_PRICES: Expecting property name"),
    ({"GPUFLEET_OPERATOR_POD_LABELS": "app"}, "GPUFLEET_OPERATOR_POD_LABELS: 'app' is not"),
    ({"GPUFLEET_PEERING_NAME": "Team_A"}, "GPUFLEET_PEERING_NAME: 'Team_A': String should"),
    # A cluster scraping every 30 s with the default 30 s window: rate() would have no value.
    (
        {"GPUFLEET_SCRAPE_INTERVAL_SECONDS": "30"},
        "GPUFLEET_RATE_WINDOW_SECONDS: Value error, 30 s is shorter than two scrape intervals",
    ),
    (
        {"GPUFLEET_SCRAPE_INTERVAL_SECONDS": "60", "GPUFLEET_RATE_WINDOW_SECONDS": "240"},
        "GPUFLEET_STALE_AFTER_SECONDS: Value error, 30 s is shorter than one scrape interval",
    ),
]


@pytest.mark.parametrize(("env", "said"), BAD_SETTINGS)
def test_gpufleet_run_refuses_a_bad_setting_naming_its_variable(
    env: dict[str, str], said: str
) -> None:
    """A bad GPUFLEET_* value stops the operator before it connects anywhere, with one line
    naming the variable -- not a traceback in a crash-looping pod's log."""
    result = CliRunner().invoke(app, ["run"], env={"COLUMNS": "200", **env})
    assert result.exit_code == 2, result.output
    assert "gpufleet run: invalid settings:" in result.output
    assert said in result.output
    assert "Traceback" not in result.output


def test_the_operator_reads_prometheus_for_the_namespaces_gpufleet_run_watches() -> None:
    env = {"GPUFLEET_NAMESPACES": "ml,serving"}
    assert OperatorSettings.from_env(env, ("team-a",)).namespaces == ("team-a",)
    assert OperatorSettings.from_env(env, ()).namespaces == ("ml", "serving")
    assert OperatorSettings.from_env({}).namespaces == ()


def test_kopf_peers_through_gpufleets_own_object_not_kopfs_default() -> None:
    """kopf's `default` peering object is every kopf-based operator's: another one there
    at an equal priority would pause gpufleet."""
    settings = kopf.OperatorSettings()
    configure_kopf(settings, OperatorSettings.from_env({}))
    assert settings.peering.name == "gpufleet"
    named = OperatorSettings.from_env({"GPUFLEET_PEERING_NAME": "gpufleet-team-a"})
    configure_kopf(settings, named)
    assert settings.peering.name == "gpufleet-team-a"
