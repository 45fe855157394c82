"""A heap-based discrete-event clock: callbacks run in time order, ties in FIFO order."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

Callback = Callable[[float], None]


class Scheduler:
    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Callback]] = []
        self._seq = itertools.count()

    def at(self, when: float, callback: Callback) -> None:
        heapq.heappush(self.heap, (when, next(self._seq), callback))

    def every(self, period: float, callback: Callback, *, start: float, until: float) -> None:
        """Run ``callback`` at ``start``, ``start + period``, ... while the time is <= ``until``."""

        def tick(now: float) -> None:
            callback(now)
            if now + period <= until + 1e-9:
                self.at(now + period, tick)

        if start <= until:
            self.at(start, tick)

    def run_next(self) -> None:
        when, _, callback = heapq.heappop(self.heap)
        callback(when)
