"""A tick reads one snapshot of the fleet, even when a scrape lands while it reads.

A real Prometheus scrapes an exporter whose counters move together (8 inferences per
execution, 5 ms of compute per request); each scrape's answer is held back until the
test starts a tick, so the scrape is stored while the tick reads. Ratios between
signals must still come out exact: a tick that saw the scrape in some signals and not
in others would read a batch size the server never ran.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gpufleet.metrics.reader import FleetMetricsReader
from gpufleet.settings import OperatorSettings
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.slow

BATCH = 8
COMPUTE_US_PER_REQUEST = 5000
LABELS = {"namespace": "test", "modeldeployment": "snap", "pod": "snap-0"}


class HeldBackExporter:
    """Triton's metric names; every scrape advances the counters and waits for ``release``."""

    def __init__(self) -> None:
        self.executions = 0
        self.scrape_waiting = threading.Event()
        self.release = threading.Event()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                exporter.executions += 3 + exporter.executions % 5  # an uneven load
                body = exporter.text().encode()
                exporter.scrape_waiting.set()
                exporter.release.wait(timeout=5.0)
                exporter.release.clear()
                exporter.scrape_waiting.clear()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def text(self) -> str:
        execs = self.executions
        requests = BATCH * execs
        lines = [
            ("nv_inference_pending_request_count", "gauge", 0),
            ("nv_inference_request_success", "counter", requests),
            ("nv_inference_count", "counter", requests),
            ("nv_inference_exec_count", "counter", execs),
            ("nv_inference_request_duration_us", "counter", requests * 2 * COMPUTE_US_PER_REQUEST),
            ("nv_inference_queue_duration_us", "counter", requests * 100),
            (
                "nv_inference_compute_infer_duration_us",
                "counter",
                requests * COMPUTE_US_PER_REQUEST,
            ),
        ]
        return "".join(
            f'# TYPE {name} {kind}\n{name}{{model="m",version="1"}} {value}\n'
            for name, kind, value in lines
        )

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def scraped_exporter() -> Iterator[tuple[HeldBackExporter, str]]:
    if shutil.which("prometheus") is None:
        pytest.skip("the Debian prometheus binary is not installed")
    from gpufleet_devtools.prometheus import PrometheusServer, ScrapeTarget

    exporter = HeldBackExporter()
    with PrometheusServer(scrape_interval_s=0.5) as prometheus:
        prometheus.set_targets([ScrapeTarget(exporter.address, LABELS)])
        try:
            yield exporter, prometheus.url
        finally:
            exporter.stop()


async def test_signals_of_one_tick_agree_when_a_scrape_is_stored_mid_tick(
    scraped_exporter: tuple[HeldBackExporter, str],
) -> None:
    exporter, url = scraped_exporter
    reader = FleetMetricsReader(
        OperatorSettings(
            prometheus_url=url,
            rate_window_seconds=3.0,
            scrape_interval_seconds=0.5,
            stale_after_seconds=3.0,
            query_timeout_seconds=2.0,
        )
    )
    read = 0
    loop = asyncio.get_running_loop()
    for i in range(24):
        # A scrape has begun (its samples will carry this earlier time): let it be stored
        # while the tick reads.
        await wait_for_async(
            lambda: asyncio.to_thread(exporter.scrape_waiting.is_set),
            until=bool,
            timeout=10.0,
            interval=0.01,
            what="a scrape in flight",
        )
        tick = asyncio.create_task(reader.sample())
        # Stored at an instant swept over the tick's first milliseconds, when it reads.
        loop.call_later((i % 8) * 0.002, exporter.release.set)
        obs = (await tick).observations("test", "snap", expected_pods=1)
        if obs.inferences_per_exec is None:
            continue  # the series do not hold two samples yet
        read += 1
        assert obs.inferences_per_exec == pytest.approx(BATCH, rel=1e-9)
        assert obs.compute_ms_per_request == pytest.approx(COMPUTE_US_PER_REQUEST / 1000, rel=1e-9)
        assert obs.avg_latency_ms == pytest.approx(2 * COMPUTE_US_PER_REQUEST / 1000, rel=1e-9)
    assert read >= 18
