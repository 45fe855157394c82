"""Scrape targets: where the agent tells Prometheus which pods to scrape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gpufleet_devtools.prometheus import ScrapeTarget


class TargetSink(Protocol):
    def set_targets(self, targets: Sequence[ScrapeTarget]) -> None: ...


class RecordingTargets:
    """Keeps the latest targets in memory: for running the agent without Prometheus."""

    def __init__(self) -> None:
        self.targets: list[ScrapeTarget] = []

    def set_targets(self, targets: Sequence[ScrapeTarget]) -> None:
        self.targets = list(targets)
