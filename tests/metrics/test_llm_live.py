"""The reader against a real LLM server: gpufleet-server's LLM mode (vLLM's metric names)
under streaming load, scraped by the Debian ``prometheus``.

The operator must recognise the engine as vLLM, read TTFT and ITL p95s (and the p99s
the LLM rules size for) from the histograms, token rates from the counters, KV-cache
usage and running requests from the gauges, preemptions from their counter when a small
cache runs out, and leave Triton's batch signals out of ``unknown``. Slow (~40 s).
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gpufleet.domain.scaling.types import Observations
from gpufleet.metrics.queries import Engine
from gpufleet.metrics.reader import FleetMetricsReader
from gpufleet.settings import OperatorSettings

pytestmark = pytest.mark.slow

NAMESPACE, NAME, POD = "llm", "chat", "chat-0"
MAX_TOKENS = 24


class Streams:
    """``clients`` threads each streaming one completion after the other."""

    def __init__(self, http_url: str, clients: int, max_tokens: int = MAX_TOKENS) -> None:
        self._url = f"http://{http_url}/v1/completions"
        self._max_tokens = max_tokens
        self._stop = threading.Event()
        self.tokens = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        body = {"prompt": "the fleet scales", "max_tokens": self._max_tokens, "stream": True}
        while not self._stop.is_set():
            try:
                with requests.post(self._url, json=body, stream=True, timeout=60) as response:
                    for line in response.iter_lines():
                        if line.startswith(b"data: {"):
                            with self._lock:
                                self.tokens += 1
            except requests.RequestException:
                if self._stop.wait(0.2):
                    return

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def _rig(root: Path, server_args: list[str]) -> Iterator[tuple[str, FleetMetricsReader]]:
    if shutil.which("prometheus") is None:
        pytest.skip("the Debian prometheus binary is not installed")
    from gpufleet_devtools.prometheus import PrometheusServer, ScrapeTarget
    from gpufleet_devtools.runtime.process import start_server

    server = start_server(None, root / "server.log", server_args)
    prometheus = PrometheusServer(scrape_interval_s=1.0)
    try:
        prometheus.start()
        labels = {"namespace": NAMESPACE, "modeldeployment": NAME, "pod": POD}
        prometheus.set_targets([ScrapeTarget(f"127.0.0.1:{server.metrics_port}", labels)])
        settings = OperatorSettings(
            prometheus_url=prometheus.url,
            rate_window_seconds=6.0,
            scrape_interval_seconds=1.0,
            stale_after_seconds=5.0,
            query_timeout_seconds=3.0,
        )
        yield server.http_url, FleetMetricsReader(settings)
    finally:
        prometheus.stop()
        server.stop()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FleetMetricsReader]]:
    yield from _rig(tmp_path_factory.mktemp("llm"), ["--max-model-len", "256"])


@pytest.fixture
def small_cache_rig(tmp_path: Path) -> Iterator[tuple[str, FleetMetricsReader]]:
    """A KV cache of 224 token slots: four streams of 16 + 96 tokens outgrow it."""
    args = ["--kv-cache-tokens", "224", "--max-model-len", "224", "--block-size", "16"]
    yield from _rig(tmp_path, args)


def test_an_llm_server_under_streaming_load(rig: tuple[str, FleetMetricsReader]) -> None:
    http_url, reader = rig
    load = Streams(http_url, clients=4)

    async def settle() -> tuple[Observations, set[Engine]]:
        deadline = time.monotonic() + 60
        while True:
            sample = await reader.sample()
            obs = sample.observations(NAMESPACE, NAME, expected_pods=1)
            fresh, _ = sample.fresh_pods(NAMESPACE, NAME)
            if (
                obs.ttft_p95_ms is not None
                and obs.itl_p95_ms is not None
                and obs.tpot_p95_ms is not None
                and obs.generation_tokens_rate
                and not obs.lower_bounds
            ):
                return obs, set(sample.engines(NAMESPACE, NAME, fresh))
            if time.monotonic() > deadline:
                raise AssertionError(f"LLM signals never all known: {obs}")
            await asyncio.sleep(0.5)  # the next scrape; polling a condition

    try:
        obs, engines = asyncio.run(settle())
        streamed_from = load.tokens, time.monotonic()
        time.sleep(6.0)  # a rate window of streaming, to compare token rates
        streamed = (load.tokens - streamed_from[0]) / (time.monotonic() - streamed_from[1])
        later = asyncio.run(reader.sample()).observations(NAMESPACE, NAME, expected_pods=1)
    finally:
        load.stop()

    assert engines == {Engine.VLLM}
    assert obs.served_rate is not None
    assert obs.served_rate > 0.0
    assert obs.running_requests is not None
    assert obs.queue_depth is not None
    assert obs.running_requests + obs.queue_depth <= 4.0  # four clients, one request each
    # Averaged over the rate window, the batch streamed in: at least one, at most four.
    assert later.mean_running_requests is not None
    assert 1.0 <= later.mean_running_requests <= 4.0
    assert obs.kv_cache_usage is not None
    assert 0.0 < obs.kv_cache_usage <= 1.0
    assert obs.ttft_p95_ms is not None
    assert obs.itl_p95_ms is not None
    assert obs.ttft_p95_ms > 0.0
    assert obs.itl_p95_ms > 0.0
    # The tails the LLM rules size for: the same buckets at the 99th percentile.
    assert obs.ttft_p99_ms is not None
    assert obs.itl_p99_ms is not None
    assert obs.ttft_p99_ms >= obs.ttft_p95_ms
    assert obs.itl_p99_ms >= obs.itl_p95_ms
    # Each finished stream's mean gap (TPOT), from its own histogram.
    assert obs.tpot_p95_ms is not None
    assert obs.tpot_p99_ms is not None
    assert 0.0 < obs.tpot_p95_ms <= obs.tpot_p99_ms
    assert obs.prompt_tokens_rate is not None
    assert obs.prompt_tokens_rate > 0.0
    assert obs.preemption_rate == 0.0  # its cache holds every stream
    # The server's generated tokens/s, as Prometheus saw it, against what the clients got.
    assert later.generation_tokens_rate == pytest.approx(streamed, rel=0.35)
    for triton_only in ("compute_ms_per_request", "inferences_per_exec"):
        assert getattr(obs, triton_only) is None
        assert triton_only not in obs.unknown


def test_a_server_out_of_kv_cache_is_read_as_preempting(
    small_cache_rig: tuple[str, FleetMetricsReader],
) -> None:
    """vLLM preempts when its cache runs out, and the reader sees it through Prometheus."""
    http_url, reader = small_cache_rig
    load = Streams(http_url, clients=4, max_tokens=96)

    async def preempting() -> Observations:
        deadline = time.monotonic() + 60
        while True:
            obs = (await reader.sample()).observations(NAMESPACE, NAME, expected_pods=1)
            if obs.preemption_rate:
                return obs
            if time.monotonic() > deadline:
                raise AssertionError(f"no preemption read: {obs}")
            await asyncio.sleep(0.5)  # the next scrape; polling a condition

    try:
        obs = asyncio.run(preempting())
    finally:
        load.stop()
    assert obs.preemption_rate is not None
    assert obs.preemption_rate > 0.0
    assert "preemption_rate" not in obs.unknown
