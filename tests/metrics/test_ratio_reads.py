"""Ratios of two counters are read as the server ran them, against a real Prometheus.

An exporter with Triton's metric names moves its counters together: 8 inferences per
execution, 5 ms of compute and 10 ms end to end per request. The operator's reader must
read exactly that, however the scrapes fall:

- a scrape stored while a tick reads is seen by all of the tick's signals or by none;
- a new pod's series, younger than the rate window, whose two counters ``rate()``
  stretches differently, is left out of ratios while a settled pod has them, instead of
  read as a batch size the server never ran.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from gpufleet.domain.scaling.types import Observations
from gpufleet.metrics.reader import FleetMetricsReader
from gpufleet.settings import OperatorSettings
from tests.support.exposition import ExpositionServer
from tests.support.waiting import wait_for_async

if TYPE_CHECKING:
    from gpufleet_devtools.prometheus import PrometheusServer

pytestmark = pytest.mark.slow

BATCH = 8
COMPUTE_US_PER_REQUEST = 5000
NAMESPACE, NAME = "test", "ratios"

Counters = Callable[[int], tuple[int, int]]
"""Scrape number -> (executions, inferences) the exporter shows at it."""


def uneven_load(scrape: int) -> tuple[int, int]:
    executions = sum(3 + k % 5 for k in range(scrape + 1))
    return executions, BATCH * executions


def started_before_the_first_scrape(scrape: int) -> tuple[int, int]:
    """At the first scrape the pod has run 115 executions of 7.3 on average (a first
    batch forming), then 100 of 8 between scrapes: its counters' first values stand at
    different fractions of their increases, 1.15 and 1.05 intervals' worth."""
    return 115 + 100 * scrape, 840 + 800 * scrape


class Exporter:
    """Serves ``counters`` of the next scrape number; with ``hold``, each scrape's answer
    waits for ``release`` (the scrape has begun: its samples carry that earlier time)."""

    def __init__(self, counters: Counters, *, hold: bool = False) -> None:
        self.scrapes = 0
        self.scrape_waiting = threading.Event()
        self.release = threading.Event()

        def render() -> str:
            body = self.text(*counters(self.scrapes))
            self.scrapes += 1
            if hold:
                self.scrape_waiting.set()
                self.release.wait(timeout=5.0)
                self.release.clear()
                self.scrape_waiting.clear()
            return body

        self._endpoint = ExpositionServer(render)

    @property
    def address(self) -> str:
        return self._endpoint.address

    @staticmethod
    def text(executions: int, inferences: int) -> str:
        lines = [
            ("nv_inference_pending_request_count", "gauge", 0),
            ("nv_inference_request_success", "counter", inferences),
            ("nv_inference_count", "counter", inferences),
            ("nv_inference_exec_count", "counter", executions),
            (
                "nv_inference_request_duration_us",
                "counter",
                inferences * 2 * COMPUTE_US_PER_REQUEST,
            ),
            ("nv_inference_queue_duration_us", "counter", inferences * 100),
            (
                "nv_inference_compute_infer_duration_us",
                "counter",
                inferences * COMPUTE_US_PER_REQUEST,
            ),
        ]
        return "".join(
            f'# TYPE {name} {kind}\n{name}{{model="m",version="1"}} {value}\n'
            for name, kind, value in lines
        )

    def stop(self) -> None:
        self.release.set()
        self._endpoint.stop()


class ScrapedFleet:
    """Exporters scraped every 0.5 s by a real Prometheus, each as one pod of the
    ModelDeployment, and the operator's reader with a 5 s rate window."""

    def __init__(self, prometheus: PrometheusServer) -> None:
        self._prometheus = prometheus
        self.exporters: dict[str, Exporter] = {}
        self.reader = FleetMetricsReader(
            OperatorSettings(
                prometheus_url=prometheus.url,
                rate_window_seconds=5.0,
                scrape_interval_seconds=0.5,
                stale_after_seconds=5.0,
                query_timeout_seconds=2.0,
            )
        )

    def add_pod(self, pod: str, counters: Counters, *, hold: bool = False) -> Exporter:
        from gpufleet_devtools.prometheus import ScrapeTarget

        self.exporters[pod] = Exporter(counters, hold=hold)
        self._prometheus.set_targets(
            [
                ScrapeTarget(e.address, {"namespace": NAMESPACE, "modeldeployment": NAME, "pod": p})
                for p, e in self.exporters.items()
            ]
        )
        return self.exporters[pod]

    async def observe(self) -> Observations:
        sample = await self.reader.sample()
        return sample.observations(NAMESPACE, NAME, expected_pods=len(self.exporters))


@contextmanager
def scraped_fleet() -> Iterator[ScrapedFleet]:
    if shutil.which("prometheus") is None:
        pytest.skip("the Debian prometheus binary is not installed")
    from gpufleet_devtools.prometheus import PrometheusServer

    with PrometheusServer(scrape_interval_s=0.5) as prometheus:
        fleet = ScrapedFleet(prometheus)
        try:
            yield fleet
        finally:
            for exporter in fleet.exporters.values():
                exporter.stop()


def assert_read_as_served(obs: Observations) -> None:
    assert obs.inferences_per_exec == pytest.approx(BATCH, rel=1e-9)
    assert obs.compute_ms_per_request == pytest.approx(COMPUTE_US_PER_REQUEST / 1000, rel=1e-9)
    assert obs.avg_latency_ms == pytest.approx(2 * COMPUTE_US_PER_REQUEST / 1000, rel=1e-9)


async def test_signals_of_one_tick_agree_when_a_scrape_is_stored_mid_tick() -> None:
    with scraped_fleet() as fleet:
        exporter = fleet.add_pod("ratios-0", uneven_load, hold=True)
        loop = asyncio.get_running_loop()
        read = 0
        for i in range(24):
            await wait_for_async(
                lambda: asyncio.to_thread(exporter.scrape_waiting.is_set),
                until=bool,
                timeout=10.0,
                interval=0.01,
                what="a scrape in flight",
            )
            tick = asyncio.create_task(fleet.observe())
            # Stored at an instant swept over the tick's first milliseconds, when it reads.
            loop.call_later((i % 8) * 0.002, exporter.release.set)
            obs = await tick
            if obs.inferences_per_exec is None:
                continue  # fewer than two samples yet
            read += 1
            assert_read_as_served(obs)
        assert read >= 12


async def test_a_new_pods_young_series_is_left_out_of_ratios_while_a_settled_pod_has_them() -> None:
    with scraped_fleet() as fleet:
        fleet.add_pod("ratios-0", uneven_load)
        settled = await wait_for_async(
            fleet.observe,
            until=lambda o: o.inferences_per_exec is not None and not o.lower_bounds,
            timeout=30.0,
            interval=0.2,
            what="the first pod's series spanning the rate window",
        )
        assert_read_as_served(settled)

        fleet.add_pod("ratios-1", started_before_the_first_scrape)
        warming: list[Observations] = []

        async def observe() -> Observations:
            obs = await fleet.observe()
            if obs.pods_reporting == 2:
                assert_read_as_served(obs)  # never the new pod's skewed ratio
                if "served_rate" in obs.lower_bounds:
                    warming.append(obs)
            return obs

        await wait_for_async(
            observe,
            until=lambda o: o.pods_reporting == 2 and not o.lower_bounds,
            timeout=30.0,
            interval=0.2,
            what="the new pod's series spanning the rate window",
        )
        assert len(warming) >= 5  # read while the new pod was warming, its load counted
