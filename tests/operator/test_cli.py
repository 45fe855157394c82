"""`gpufleet run` watches the namespaces it is told to, by flag or by setting."""

from __future__ import annotations

from gpufleet.cli import watched_namespaces


def test_flags_win_over_the_setting() -> None:
    env = {"GPUFLEET_NAMESPACES": "ml,serving"}
    assert watched_namespaces(["team-a"], env) == ["team-a"]


def test_the_setting_applies_without_flags() -> None:
    assert watched_namespaces(None, {"GPUFLEET_NAMESPACES": "ml, serving"}) == ["ml", "serving"]


def test_neither_means_cluster_wide() -> None:
    assert watched_namespaces([], {}) == []
