"""The metrics reader against real parts: Prometheus scraping two Triton servers under load.

Slow (~1-2 min): starts the Debian ``prometheus`` and the ``tritonserver`` bundled
in nvidia-pytriton, and drives them with tritonclient.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from gpufleet.domain.scaling.types import Observations
from gpufleet.metrics.reader import FleetMetricsReader
from gpufleet.settings import OperatorSettings
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.slow

NAMESPACE = "test"


def _skip_without_binaries() -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("the Debian prometheus binary is not installed")
    try:
        from gpufleet_devtools.triton import bundled_tritonserver

        bundled_tritonserver()
    except (ImportError, FileNotFoundError) as exc:
        pytest.skip(f"no tritonserver from nvidia-pytriton: {exc}")


class LoadGenerator:
    """Threads sending inferences to one Triton server until stopped."""

    def __init__(
        self, url: str, *, clients: int, rate_per_client: float | None, value: float = 1.0
    ) -> None:
        """``value`` fills every input: a negative one makes the test model fail the request."""
        self._url = url
        self._value = value
        self._stop = threading.Event()
        self._interval = None if rate_per_client is None else 1.0 / rate_per_client
        self.sent = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        import tritonclient.http as http

        client = http.InferenceServerClient(self._url)
        data = np.full((1, 16), self._value, dtype=np.float32)
        next_at = time.monotonic()
        while not self._stop.is_set():
            tensor = http.InferInput("INPUT", [1, 16], "FP32")
            tensor.set_data_from_numpy(data)
            try:
                client.infer("mlp", [tensor])
            except Exception:  # failed or rejected, or the server was stopped under us
                if self._interval is None and self._stop.wait(0.1):  # closed loop: no spin
                    break
            with self._lock:
                self.sent += 1
            if self._interval is not None:
                next_at += self._interval
                # Pacing an open-loop load generator, not waiting for a condition.
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        client.close()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def reader_of(prometheus_url: str) -> FleetMetricsReader:
    """The operator's metrics reader at these tests' pace: 1 s scrapes, a 5 s rate window."""
    return FleetMetricsReader(
        OperatorSettings(
            prometheus_url=prometheus_url,
            rate_window_seconds=5.0,
            scrape_interval_seconds=1.0,
            stale_after_seconds=5.0,
            query_timeout_seconds=2.0,
        )
    )


async def observe_until(
    reader: FleetMetricsReader,
    name: str,
    expected_pods: int | None,
    condition: Callable[[Observations], bool],
    timeout_s: float = 40.0,
) -> Observations:
    """``name``'s observations once ``condition`` holds (read twice per 1 s scrape interval)."""

    async def observe() -> Observations:
        return (await reader.sample()).observations(NAMESPACE, name, expected_pods)

    return await wait_for_async(
        observe, until=condition, timeout=timeout_s, interval=0.5, what=f"{name}'s observations"
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    _skip_without_binaries()
    from gpufleet_devtools.prometheus import PrometheusServer, ScrapeTarget
    from gpufleet_devtools.triton import TritonServer, write_torch_model

    root: Path = tmp_path_factory.mktemp("live")
    alpha = TritonServer(write_torch_model(root / "alpha", "mlp", work_ms=5.0))
    beta = TritonServer(write_torch_model(root / "beta", "mlp", work_ms=100.0, max_batch_size=2))
    prometheus = PrometheusServer(scrape_interval_s=1.0)
    try:
        alpha.start()
        beta.start()
        prometheus.start()
        prometheus.set_targets(
            [
                ScrapeTarget(
                    alpha.metrics_address,
                    {"namespace": NAMESPACE, "modeldeployment": "alpha", "pod": "alpha-0"},
                ),
                ScrapeTarget(
                    beta.metrics_address,
                    {"namespace": NAMESPACE, "modeldeployment": "beta", "pod": "beta-0"},
                ),
            ]
        )
        yield {"alpha": alpha, "beta": beta, "prometheus": prometheus}
    finally:
        prometheus.stop()
        beta.stop()
        alpha.stop()


async def test_reader_tracks_a_real_fleet_and_never_reads_loss_as_zero(
    fleet: dict[str, object],
) -> None:
    from gpufleet_devtools.prometheus import PrometheusServer
    from gpufleet_devtools.triton import TritonServer

    alpha = fleet["alpha"]
    beta = fleet["beta"]
    prometheus = fleet["prometheus"]
    assert isinstance(alpha, TritonServer)
    assert isinstance(beta, TritonServer)
    assert isinstance(prometheus, PrometheusServer)
    reader = reader_of(prometheus.url)

    # Open-loop 20 req/s on alpha; 8 closed-loop clients on beta, which serves at
    # most 2 requests per 100 ms batch: about 6 of them queue at any time.
    steady = LoadGenerator(alpha.http_url, clients=2, rate_per_client=10.0)
    flood = LoadGenerator(beta.http_url, clients=8, rate_per_client=None)
    try:
        obs = await observe_until(
            reader,
            "alpha",
            1,
            lambda o: o.request_rate is not None and 16.0 <= o.request_rate <= 24.0,
        )
        assert obs.compute_ms_per_request is not None
        assert obs.compute_ms_per_request >= 5.0  # the model's work_ms
        assert obs.p95_latency_ms is not None
        assert obs.pods_reporting == 1

        busy = await observe_until(
            reader, "beta", 1, lambda o: o.queue_depth is not None and o.queue_depth >= 3.0
        )
        assert busy.request_rate is not None
        assert 10.0 <= busy.request_rate <= 21.0  # <= 2 per 100 ms batch
        assert busy.inferences_per_exec is not None
        assert busy.inferences_per_exec > 1.2  # the queue lets batches fill

        queries_before = reader.queries_sent
        await reader.sample()
        assert reader.queries_sent - queries_before == 1  # every signal, one snapshot

        # A stopped server: its pod's signals become unknown, not zero.
        flood.stop()
        beta.stop()
        lost = await observe_until(
            reader, "beta", 1, lambda o: o.request_rate is None, timeout_s=30
        )
        assert lost.queue_depth is None
        assert lost.unknown["request_rate"]
        still = (await reader.sample()).observations(NAMESPACE, "alpha", 1)
        assert still.request_rate is not None
        assert still.request_rate > 10.0

        # Prometheus down: everything unknown, with the reason; back: known again.
        prometheus.stop(keep_data=True)
        down = (await reader.sample()).observations(NAMESPACE, "alpha", 1)
        assert down.all_unknown
        assert down.unknown["request_rate"].startswith("Prometheus unreachable")
        prometheus.start()
        back = await observe_until(
            reader, "alpha", 1, lambda o: o.request_rate is not None and o.request_rate > 10.0
        )
        assert back.queue_depth is not None
    finally:
        steady.stop()
        flood.stop()


@pytest.fixture(scope="module")
def failing_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetMetricsReader]:
    """``errors``: a model that fails executions with a negative input; ``rejecting``: a
    slow one whose queue policy rejects requests that waited over 150 ms."""
    _skip_without_binaries()
    from gpufleet_devtools.prometheus import PrometheusServer, ScrapeTarget
    from gpufleet_devtools.triton import TritonServer, write_torch_model

    root: Path = tmp_path_factory.mktemp("failing")
    servers = {
        # Batches of one: a good request never shares a failing execution.
        "errors": TritonServer(
            write_torch_model(root / "errors", "mlp", work_ms=5.0, max_batch_size=1)
        ),
        "rejecting": TritonServer(
            write_torch_model(
                root / "rejecting", "mlp", work_ms=100.0, max_batch_size=2, queue_timeout_ms=150.0
            )
        ),
    }
    prometheus = PrometheusServer(scrape_interval_s=1.0)
    try:
        for server in servers.values():
            server.start()
        prometheus.start()
        prometheus.set_targets(
            [
                ScrapeTarget(
                    server.metrics_address,
                    {"namespace": NAMESPACE, "modeldeployment": name, "pod": f"{name}-0"},
                )
                for name, server in servers.items()
            ]
        )
        reader = reader_of(prometheus.url)
        reader.test_servers = servers  # type: ignore[attr-defined]
        yield reader
    finally:
        prometheus.stop()
        for server in servers.values():
            server.stop()


async def test_errors_are_no_demand_requests_rejected_for_want_of_capacity_are(
    failing_fleet: FleetMetricsReader,
) -> None:
    """Triton labels each failure with its reason: a model's errors (``BACKEND``) are not
    load a replica added would serve; requests its queue policy rejected after waiting
    (``REJECTED``) are."""
    servers = failing_fleet.test_servers  # type: ignore[attr-defined]
    good = LoadGenerator(servers["errors"].http_url, clients=1, rate_per_client=10.0)
    bad = LoadGenerator(servers["errors"].http_url, clients=1, rate_per_client=4.0, value=-1.0)
    # Eight closed-loop clients on a replica that serves 2 requests per 100 ms batch.
    flood = LoadGenerator(servers["rejecting"].http_url, clients=8, rate_per_client=None)
    try:
        erring = await observe_until(
            failing_fleet,
            "errors",
            1,
            lambda o: (o.served_rate or 0.0) >= 8.0 and (o.error_rate or 0.0) >= 3.0,
        )
        assert erring.error_rate is not None
        assert erring.error_rate <= 5.0
        assert erring.unserved_rate == 0.0
        assert erring.request_rate == erring.served_rate  # the errors are not demand

        rejecting = await observe_until(
            failing_fleet, "rejecting", 1, lambda o: (o.unserved_rate or 0.0) >= 2.0
        )
        assert rejecting.served_rate is not None
        assert rejecting.served_rate <= 21.0
        assert rejecting.error_rate == 0.0
        assert rejecting.request_rate == pytest.approx(
            rejecting.served_rate + (rejecting.unserved_rate or 0.0)
        )
    finally:
        good.stop()
        bad.stop()
        flood.stop()
