"""The engine -> signal table against real Prometheus, with each engine's documented names.

Small exporters play a vLLM server (new metric names, and one with the deprecated
ones), Triton with a TensorRT-LLM backend model, Triton with its vLLM backend, and
Triton serving ensembles (TensorRT-LLM's preprocessing -> tensorrt_llm -> postprocessing,
and a classic model's): each serves the names and labels its project documents, with
counters growing at known rates and histograms whose observations all fall in one known
bucket. The Debian ``prometheus`` scrapes them; the operator's reader must read every
signal from each, recognise the engine, read an ensemble's requests once (its entry
model's, not once per model), and leave what an engine does not export out of
``unknown``. Slow (~40 s).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterator

import pytest

from gpufleet.domain.scaling.types import Observations
from gpufleet.metrics.queries import Engine
from gpufleet.metrics.reader import FleetMetricsReader
from gpufleet.settings import OperatorSettings
from tests.support.exposition import ExpositionServer

pytestmark = pytest.mark.slow

NAMESPACE = "llm"


class Exposition:
    """Prometheus text exposition of counters growing at fixed rates since ``start``."""

    def __init__(self, elapsed: float) -> None:
        self.elapsed = elapsed
        self.lines: list[str] = []

    def gauge(self, name: str, labels: str, value: float) -> None:
        self.lines += [f"# TYPE {name} gauge", f"{name}{{{labels}}} {value}"]

    def counter(self, name: str, labels: str, per_s: float) -> None:
        self.lines += [f"# TYPE {name} counter", f"{name}{{{labels}}} {per_s * self.elapsed}"]

    def histogram(
        self, name: str, labels: str, per_s: float, observed: float, bounds: list[float]
    ) -> None:
        """``per_s`` observations a second, each equal to ``observed``."""
        count = per_s * self.elapsed
        self.lines.append(f"# TYPE {name} histogram")
        for bound in bounds:
            filled = count if observed <= bound else 0.0
            self.lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {filled}')
        self.lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {count}')
        self.lines.append(f"{name}_sum{{{labels}}} {count * observed}")
        self.lines.append(f"{name}_count{{{labels}}} {count}")

    def summary(self, name: str, labels: str, per_s: float, quantiles: dict[str, float]) -> None:
        """``per_s`` observations a second, with these quantiles (Triton's latency summaries)."""
        count = per_s * self.elapsed
        self.lines.append(f"# TYPE {name} summary")
        for quantile, value in quantiles.items():
            self.lines.append(f'{name}{{{labels},quantile="{quantile}"}} {value}')
        self.lines.append(f"{name}_sum{{{labels}}} {count * max(quantiles.values())}")
        self.lines.append(f"{name}_count{{{labels}}} {count}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


SECONDS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]
MILLIS = [10.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
TOKENS = [10.0, 50.0, 100.0, 500.0, 1000.0]


def vllm(out: Exposition, *, deprecated: bool) -> None:
    """vLLM's /metrics: 5 finished req/s (4 stop, 1 length), 0.5 aborted and 0.25 failed."""
    m = 'model_name="llama"'
    out.gauge("vllm:num_requests_waiting", m, 3)
    out.gauge("vllm:num_requests_running", m, 7)
    out.gauge(
        "vllm:gpu_cache_usage_perc" if deprecated else "vllm:kv_cache_usage_perc",
        m,
        0.8 if deprecated else 0.6,
    )
    out.counter("vllm:prompt_tokens_total", m, 1000)
    out.counter("vllm:generation_tokens_total", m, 200)
    out.counter("vllm:num_preemptions_total", m, 0.25)
    out.counter("vllm:request_success_total", f'finished_reason="stop",{m}', 4)
    out.counter("vllm:request_success_total", f'finished_reason="length",{m}', 1)
    out.counter("vllm:request_success_total", f'finished_reason="abort",{m}', 0.5)
    out.counter("vllm:request_success_total", f'finished_reason="error",{m}', 0.25)
    out.histogram("vllm:time_to_first_token_seconds", m, 5.5, 0.3, SECONDS)
    out.histogram("vllm:e2e_request_latency_seconds", m, 5.5, 2.0, SECONDS)
    out.histogram("vllm:request_queue_time_seconds", m, 5.5, 0.1, SECONDS)
    # New vLLM exports both ITL names; the deprecated one here disagrees, to see which wins.
    out.histogram(
        "vllm:time_per_output_token_seconds", m, 200, 0.09 if not deprecated else 0.03, SECONDS
    )
    if not deprecated:
        out.histogram("vllm:inter_token_latency_seconds", m, 200, 0.03, SECONDS)
        # Each finished request's mean gap (TPOT); releases before it export none.
        out.histogram("vllm:request_time_per_output_token_seconds", m, 5, 0.06, SECONDS)


def triton_core(
    out: Exposition, success_per_s: float, failures_per_s: dict[str, float] | None = None
) -> None:
    """Triton's core counters. Triton labels failures by ``reason`` and creates the four
    series when it loads a model; ``failures_per_s`` keyed by ``""`` plays a Triton from
    before the label."""
    m = 'model="llm",version="1"'
    out.gauge("nv_inference_pending_request_count", m, 0)
    out.counter("nv_inference_request_success", m, success_per_s)
    failures = failures_per_s or dict.fromkeys(("REJECTED", "CANCELED", "BACKEND", "OTHER"), 0.0)
    for reason, per_s in failures.items():
        labels = f'{m},reason="{reason}"' if reason else m
        out.counter("nv_inference_request_failure", labels, per_s)
    out.counter("nv_inference_count", m, success_per_s)
    out.counter("nv_inference_exec_count", m, success_per_s)
    out.counter("nv_inference_request_duration_us", m, success_per_s * 900_000)
    out.counter("nv_inference_queue_duration_us", m, success_per_s * 1_000)
    out.counter("nv_inference_compute_infer_duration_us", m, success_per_s * 800_000)


def triton_trtllm(out: Exposition) -> None:
    """Triton with a TensorRT-LLM model: 3 req/s, first responses in 120 ms; 0.75 req/s
    unserved (0.5 timed out in the queue, 0.25 cancelled) and 1.25 failed in error."""
    triton_core(out, 3, {"REJECTED": 0.5, "CANCELED": 0.25, "BACKEND": 1.0, "OTHER": 0.25})
    m = 'model="tensorrt_llm",version="1"'
    for kind, value in {
        "waiting": 4,
        "scheduled": 5,
        "context": 1,
        "active": 9,
        "max": 512,
    }.items():
        out.gauge("nv_trt_llm_request_metrics", f'{m},request_type="{kind}"', value)
    # The backend creates all six series at 0 on load (custom_metrics_reporter.cc) and sets
    # those its executor's stats report: here no "Fraction used KV cache blocks".
    kv_blocks = {
        "max": 1000,
        "free": 750,
        "used": 250,
        "tokens_per": 64,
        "reused": 0,
        "fraction": 0,
    }
    for kind, value in kv_blocks.items():
        out.gauge("nv_trt_llm_kv_cache_block_metrics", f'{m},kv_cache_block_type="{kind}"', value)
    out.histogram(
        "nv_llm_input_token_len", f'{m},response_metric_type="total_input_tokens"', 3, 200, TOKENS
    )
    out.histogram(
        "nv_llm_output_token_len", f'{m},response_metric_type="total_output_tokens"', 3, 50, TOKENS
    )
    out.histogram(
        "nv_inference_first_response_histogram_ms", 'model="ensemble",version="1"', 3, 120, MILLIS
    )


def triton_vllm(out: Exposition) -> None:
    """Triton's vLLM backend: Triton's counters (2 req/s) beside its vllm: metrics. Those
    are the backend's own (vllm_backend src/utils/metrics.py): token counters and latency
    histograms only, labelled ``model``/``version``; no scheduler gauges (running, waiting)
    and no KV-cache usage."""
    triton_core(out, 2)
    m = 'model="vllm_model",version="1"'
    out.counter("vllm:prompt_tokens_total", m, 300)
    out.counter("vllm:generation_tokens_total", m, 80)
    out.histogram("vllm:time_to_first_token_seconds", m, 2, 0.07, SECONDS)
    out.histogram("vllm:time_per_output_token_seconds", m, 80, 0.02, SECONDS)
    out.histogram("vllm:e2e_request_latency_seconds", m, 2, 0.9, SECONDS)


TRTLLM_ENSEMBLE = {
    # model: (request, queue, compute us per request, pending, first response ms)
    "preprocessing": (4_000, 100, 3_000, 1, 5.0),
    "tensorrt_llm": (700_000, 50_000, 640_000, 6, 40.0),
    "postprocessing": (2_000, 100, 1_500, 0, 3.0),
    "ensemble": (720_000, 51_000, 650_000, 2, 130.0),
}


def triton_model(
    out: Exposition,
    model: str,
    success_per_s: float,
    times_us: tuple[float, float, float],
    pending: float,
    failures_per_s: dict[str, float] | None = None,
) -> None:
    """One model's series of Triton's per-model metrics (``model``, ``version`` labels):
    the server exports them for every model it has loaded."""
    m = f'model="{model}",version="1"'
    request_us, queue_us, compute_us = times_us
    out.gauge("nv_inference_pending_request_count", m, pending)
    out.counter("nv_inference_request_success", m, success_per_s)
    failures = {"REJECTED": 0.0, "CANCELED": 0.0, "BACKEND": 0.0, "OTHER": 0.0}
    for reason, per_s in {**failures, **(failures_per_s or {})}.items():
        out.counter("nv_inference_request_failure", f'{m},reason="{reason}"', per_s)
    out.counter("nv_inference_count", m, success_per_s)
    out.counter("nv_inference_exec_count", m, success_per_s)
    out.counter("nv_inference_request_duration_us", m, success_per_s * request_us)
    out.counter("nv_inference_queue_duration_us", m, success_per_s * queue_us)
    out.counter("nv_inference_compute_infer_duration_us", m, success_per_s * compute_us)


def triton_trtllm_ensemble(out: Exposition) -> None:
    """TensorRT-LLM's usual Triton model repository: clients call ``ensemble``, which
    passes each request through preprocessing, tensorrt_llm and postprocessing. Triton
    exports its per-model metrics for all four, each at the clients' 2 req/s, times
    differing per model; the ensemble's first responses in 130 ms (the engine's in 40).
    tensorrt_llm fails 0.25 req/s, which the ensemble counts as its ``OTHER`` failure."""
    failures = {"tensorrt_llm": {"BACKEND": 0.25}, "ensemble": {"OTHER": 0.25}}
    for model, (request_us, queue_us, compute_us, pending, ttft_ms) in TRTLLM_ENSEMBLE.items():
        times = (request_us, queue_us, compute_us)
        triton_model(out, model, 2, times, pending, failures.get(model))
        m = f'model="{model}",version="1"'
        out.histogram("nv_inference_first_response_histogram_ms", m, 2, ttft_ms, MILLIS)
    m = 'model="tensorrt_llm",version="1"'
    for kind, value in {"waiting": 4, "scheduled": 5, "context": 1, "active": 9}.items():
        out.gauge("nv_trt_llm_request_metrics", f'{m},request_type="{kind}"', value)
    for kind, value in {"max": 1000, "free": 750, "used": 250, "fraction": 0}.items():
        out.gauge("nv_trt_llm_kv_cache_block_metrics", f'{m},kv_cache_block_type="{kind}"', value)
    out.histogram(
        "nv_llm_input_token_len", f'{m},response_metric_type="total_input_tokens"', 2, 200, TOKENS
    )
    out.histogram(
        "nv_llm_output_token_len", f'{m},response_metric_type="total_output_tokens"', 2, 50, TOKENS
    )


CLASSIC_ENSEMBLE = {
    # model: (request, queue, compute us per request, pending, p95 us)
    "preprocess": (2_000, 200, 1_500, 1, 3_000),
    "resnet": (40_000, 9_000, 30_000, 6, 50_000),
    "classify": (45_000, 10_000, 33_000, 2, 60_000),
}


def triton_classic_ensemble(out: Exposition) -> None:
    """A classic Triton ensemble: clients call ``classify`` (preprocess -> resnet), 5 req/s
    through each of its models, with latency summaries on."""
    for model, (request_us, queue_us, compute_us, pending, p95_us) in CLASSIC_ENSEMBLE.items():
        triton_model(out, model, 5, (request_us, queue_us, compute_us), pending)
        out.summary(
            "nv_inference_request_summary_us",
            f'model="{model}",version="1"',
            5,
            {"0.5": p95_us / 2, "0.95": p95_us},
        )


def triton_unlabelled(out: Exposition) -> None:
    """A Triton from before the failure ``reason`` label: 4 req/s, 0.5 failed."""
    triton_core(out, 4, {"": 0.5})


class FakePod(ExpositionServer):
    def __init__(self, render: Callable[[Exposition], None]) -> None:
        start = time.monotonic()

        def text() -> str:
            out = Exposition(time.monotonic() - start)
            render(out)
            return out.text()

        super().__init__(text)


PODS: dict[str, tuple[str, Callable[[Exposition], None]]] = {
    "chat-0": ("chat", lambda out: vllm(out, deprecated=False)),
    "chat-1": ("chat", lambda out: vllm(out, deprecated=True)),
    "trt-0": ("trt", triton_trtllm),
    "tv-0": ("tv", triton_vllm),
    "old-0": ("old", triton_unlabelled),
    "ens-0": ("ens", triton_trtllm_ensemble),
    "pipe-0": ("pipe", triton_classic_ensemble),
    "misnamed-0": ("misnamed", triton_trtllm_ensemble),
}


class Targets:
    """The scraped pods; pods may join (a scale-up) and leave."""

    def __init__(self, prometheus: object, pods: dict[str, FakePod]) -> None:
        self._prometheus = prometheus
        self._targets = {name: (PODS[name][0], pod.address) for name, pod in pods.items()}
        self._write()

    def add(self, name: str, address: str) -> None:
        self._targets[name] = ("chat", address)
        self._write()

    def remove(self, name: str) -> None:
        del self._targets[name]
        self._write()

    def _write(self) -> None:
        from gpufleet_devtools.prometheus import PrometheusServer, ScrapeTarget

        assert isinstance(self._prometheus, PrometheusServer)
        self._prometheus.set_targets(
            [
                ScrapeTarget(address, {"namespace": NAMESPACE, "modeldeployment": md, "pod": name})
                for name, (md, address) in self._targets.items()
            ]
        )


@pytest.fixture(scope="module")
def reader() -> Iterator[FleetMetricsReader]:
    if shutil.which("prometheus") is None:
        pytest.skip("the Debian prometheus binary is not installed")
    from gpufleet_devtools.prometheus import PrometheusServer

    pods = {name: FakePod(render) for name, (_, render) in PODS.items()}
    prometheus = PrometheusServer(scrape_interval_s=0.5)
    try:
        prometheus.start()
        targets = Targets(prometheus, pods)
        settings = OperatorSettings(
            prometheus_url=prometheus.url,
            rate_window_seconds=4.0,
            scrape_interval_seconds=0.5,
            stale_after_seconds=5.0,
            query_timeout_seconds=2.0,
        )
        reader = FleetMetricsReader(settings)
        reader.test_targets = targets  # type: ignore[attr-defined]
        yield reader
    finally:
        prometheus.stop()
        for pod in pods.values():
            pod.stop()


def observe(
    reader: FleetMetricsReader,
    name: str,
    pods: int,
    *,
    tokens: bool = True,
    model: str | None = None,
    served: bool = True,
) -> tuple[Observations, set[Engine]]:
    """Observations once every pod has been scraped long enough for its rates (the token
    rates too, if the engine counts ``tokens``; the served rate if it is to be known) to
    settle. ``model``: the ModelDeployment's ``spec.model.name``."""

    async def poll() -> tuple[Observations, set[Engine]]:
        deadline = time.monotonic() + 40
        while True:
            sample = await reader.sample()
            obs = sample.observations(NAMESPACE, name, expected_pods=pods, model=model)
            fresh, _ = sample.fresh_pods(NAMESPACE, name)
            rates = (
                obs.served_rate if served else 0.0,
                obs.prompt_tokens_rate if tokens else 0.0,
            )
            settled = None not in rates and not obs.lower_bounds
            if settled and time.monotonic() > start + 6:  # a rate window past the first scrape
                return obs, set(sample.engines(NAMESPACE, name, fresh))
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: not settled within 40 s: {obs}")
            await asyncio.sleep(0.5)  # the next scrape; polling a condition

    start = time.monotonic()
    return asyncio.run(poll())


def test_vllm_with_new_and_deprecated_names(reader: FleetMetricsReader) -> None:
    obs, engines = observe(reader, "chat", pods=2)
    assert engines == {Engine.VLLM}
    assert obs.queue_depth == 6.0
    assert obs.running_requests == 14.0
    assert obs.mean_running_requests == pytest.approx(14.0)  # a steady gauge: its mean
    assert obs.kv_cache_usage == pytest.approx(0.7)
    assert obs.kv_cache_usage_max == pytest.approx(0.8)
    assert obs.served_rate == pytest.approx(10.0, rel=0.1)
    assert obs.unserved_rate == pytest.approx(1.0, rel=0.1)  # aborted: demand
    assert obs.error_rate == pytest.approx(0.5, rel=0.1)  # not demand
    assert obs.request_rate == pytest.approx(11.0, rel=0.1)
    assert obs.prompt_tokens_rate == pytest.approx(2000.0, rel=0.1)
    assert obs.generation_tokens_rate == pytest.approx(400.0, rel=0.1)
    assert obs.preemption_rate == pytest.approx(0.5, rel=0.1)
    # Quantiles interpolate within the bucket that holds every observation.
    assert obs.ttft_p95_ms is not None
    assert 250.0 < obs.ttft_p95_ms <= 500.0
    assert obs.itl_p95_ms is not None
    assert 25.0 < obs.itl_p95_ms <= 50.0
    # TPOT from the pod that exports it; the older release's absence is no zero.
    assert obs.tpot_p95_ms is not None
    assert 50.0 < obs.tpot_p95_ms <= 75.0
    assert obs.tpot_p99_ms is not None
    assert 50.0 < obs.tpot_p99_ms <= 75.0
    assert obs.p95_latency_ms is not None
    assert 1000.0 < obs.p95_latency_ms <= 2500.0
    assert obs.compute_ms_per_request is None


def test_triton_with_a_tensorrt_llm_backend(reader: FleetMetricsReader) -> None:
    obs, engines = observe(reader, "trt", pods=1)
    assert engines == {Engine.TRITON_TRTLLM}
    assert obs.queue_depth == 4.0  # the backend's waiting requests, not Triton's empty queue
    assert obs.running_requests == 5.0
    assert obs.mean_running_requests == pytest.approx(5.0)  # a steady gauge: its mean
    assert obs.kv_cache_usage == pytest.approx(0.25)
    assert obs.prompt_tokens_rate == pytest.approx(600.0, rel=0.1)
    assert obs.generation_tokens_rate == pytest.approx(150.0, rel=0.1)
    assert obs.ttft_p95_ms is not None
    assert 100.0 < obs.ttft_p95_ms <= 200.0
    assert obs.served_rate == pytest.approx(3.0, rel=0.1)
    assert obs.unserved_rate == pytest.approx(0.75, rel=0.1)  # REJECTED and CANCELED
    assert obs.error_rate == pytest.approx(1.25, rel=0.1)  # BACKEND and OTHER
    assert obs.request_rate == pytest.approx(3.75, rel=0.1)
    assert obs.itl_p95_ms is None  # the backend exports none; not "unknown" either
    assert "itl_p95_ms" not in obs.unknown
    assert obs.tpot_p95_ms is None
    assert "tpot_p95_ms" not in obs.unknown


def test_triton_with_its_vllm_backend(reader: FleetMetricsReader) -> None:
    obs, engines = observe(reader, "tv", pods=1)
    assert engines == {Engine.TRITON_VLLM}
    assert obs.queue_depth == 0.0  # Triton's pending count: the backend exports no waiting
    # The backend exports no running batch and no KV-cache usage: absent, not "unknown"
    # (an unknown that never resolves would hold the deployment's MetricsAvailable false).
    for name in ("running_requests", "mean_running_requests", "kv_cache_usage"):
        assert getattr(obs, name) is None, name
        assert name not in obs.unknown, obs.unknown
    assert obs.served_rate == pytest.approx(2.0, rel=0.1)
    assert obs.prompt_tokens_rate == pytest.approx(300.0, rel=0.1)
    assert obs.ttft_p95_ms is not None
    assert 50.0 < obs.ttft_p95_ms <= 75.0
    assert obs.itl_p95_ms is not None
    assert 10.0 < obs.itl_p95_ms <= 25.0
    assert obs.compute_ms_per_request == pytest.approx(800.0, rel=0.1)


def test_a_triton_without_failure_reasons_counts_every_failure_as_demand(
    reader: FleetMetricsReader,
) -> None:
    obs, engines = observe(reader, "old", pods=1, tokens=False)
    assert engines == {Engine.TRITON}
    assert obs.unserved_rate == pytest.approx(0.5, rel=0.1)  # it cannot tell: as before
    assert obs.error_rate == 0.0
    assert obs.request_rate == pytest.approx(4.5, rel=0.1)


def test_a_tensorrt_llm_ensemble_is_read_once_as_its_entry_model(
    reader: FleetMetricsReader,
) -> None:
    """Each request passes through four models and Triton counts it in each: the pod
    serves the clients' 2 req/s, not 8, at the ensemble's latency and first responses."""
    obs, engines = observe(reader, "ens", pods=1, model="ensemble")
    assert engines == {Engine.TRITON_TRTLLM}
    assert obs.served_rate == pytest.approx(2.0, rel=0.1)
    assert obs.request_rate == pytest.approx(2.0, rel=0.1)
    # tensorrt_llm's failure is the ensemble's OTHER too: one failed request, not two.
    assert obs.error_rate == pytest.approx(0.25, rel=0.1)
    assert obs.unserved_rate == 0.0
    assert obs.avg_latency_ms == pytest.approx(720.0, rel=0.05)
    assert obs.avg_queue_ms == pytest.approx(51.0, rel=0.05)
    assert obs.compute_ms_per_request == pytest.approx(650.0, rel=0.05)
    # All of the ensemble's first responses in (100, 200] ms: its p95 interpolates to 195.
    assert obs.ttft_p95_ms == pytest.approx(195.0, abs=1.0)
    assert obs.ttft_p99_ms == pytest.approx(199.0, abs=1.0)
    # The backend's own metrics are the tensorrt_llm model's alone: read as before.
    assert obs.queue_depth == 4.0
    assert obs.running_requests == 5.0
    assert obs.kv_cache_usage == pytest.approx(0.25)
    assert obs.prompt_tokens_rate == pytest.approx(400.0, rel=0.1)
    assert set(obs.unknown) == {"p95_latency_ms"}  # this server exports no summaries


def test_a_classic_ensemble_is_read_as_its_entry_model(reader: FleetMetricsReader) -> None:
    obs, engines = observe(reader, "pipe", pods=1, tokens=False, model="classify")
    assert engines == {Engine.TRITON}
    assert obs.served_rate == pytest.approx(5.0, rel=0.1)
    assert obs.queue_depth == 2.0  # the ensemble's pending requests, not its models' sum
    assert obs.least_pod_queue_depth == 2.0
    assert obs.avg_latency_ms == pytest.approx(45.0, rel=0.05)
    assert obs.compute_ms_per_request == pytest.approx(33.0, rel=0.05)
    assert obs.p95_latency_ms == pytest.approx(60.0)
    assert obs.unknown == {}


def test_a_pod_serving_one_model_is_read_whatever_the_spec_calls_it(
    reader: FleetMetricsReader,
) -> None:
    """gpufleet-server names its model after its configuration, and Triton a model after
    its directory: a spec naming it otherwise (in another case, say) still reads its
    only model."""
    obs, _ = observe(reader, "old", pods=1, tokens=False, model="LLM")
    assert obs.served_rate == pytest.approx(4.0, rel=0.1)
    assert obs.unserved_rate == pytest.approx(0.5, rel=0.1)
    assert obs.queue_depth == 0.0


def test_several_models_none_of_them_the_spec_s_leave_their_signals_unknown(
    reader: FleetMetricsReader,
) -> None:
    """An ensemble's spec naming a model the server does not serve: which model's counts
    are the clients' is not known, and their sum would count each request four times.
    Unknown, saying which models the pod exports; the backend's own signals stay known."""
    obs, engines = observe(reader, "misnamed", pods=1, model="llama", served=False)
    assert engines == {Engine.TRITON_TRTLLM}
    models = "ensemble, postprocessing, preprocessing, tensorrt_llm"
    for name in ("served_rate", "request_rate", "error_rate", "avg_latency_ms", "ttft_p95_ms"):
        assert getattr(obs, name) is None, name
        assert models in obs.unknown[name], obs.unknown[name]
        assert "spec.model.name 'llama'" in obs.unknown[name], obs.unknown[name]
    assert "Triton in pods misnamed-0" in obs.unknown["served_rate"]
    assert obs.queue_depth == 4.0
    assert obs.kv_cache_usage == pytest.approx(0.25)
    assert obs.prompt_tokens_rate == pytest.approx(400.0, rel=0.1)


def test_a_pod_added_by_a_scale_up_warms_up_without_losing_metrics(
    reader: FleetMetricsReader,
) -> None:
    """Scale-up: a third vLLM pod becomes ready. Until Prometheus has scraped it over a
    whole rate window its share is missing or understated: the fleet's load stays known
    (never "unknown", so MetricsAvailable does not flip), flagged as a lower bound."""
    observe(reader, "chat", pods=2)  # two pods serving, settled
    prometheus_targets = reader.test_targets  # type: ignore[attr-defined]
    new = FakePod(lambda out: vllm(out, deprecated=False))
    ready_at = time.time()
    seen: list[Observations] = []

    async def watch() -> None:
        prometheus_targets.add("chat-2", new.address)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            sample = await reader.sample()
            ready = {"chat-0": ready_at - 600, "chat-1": ready_at - 600, "chat-2": ready_at}
            obs = sample.observations(NAMESPACE, "chat", expected_pods=3, ready_since=ready)
            seen.append(obs)
            if obs.pods_reporting == 3 and not obs.lower_bounds and len(seen) > 3:
                return
            await asyncio.sleep(0.5)  # the next scrape; polling a condition
        raise AssertionError(f"the new pod never settled: {seen[-1]}")

    try:
        asyncio.run(watch())
    finally:
        prometheus_targets.remove("chat-2")
        new.stop()
    assert all(o.request_rate is not None and o.queue_depth is not None for o in seen), [
        o.unknown for o in seen
    ]
    warming = [o for o in seen if o.lower_bounds]
    assert warming, "the new pod was never seen warming"
    assert all(o.lower_bounds["request_rate"] == o.request_rate for o in warming)
    settled = seen[-1]
    assert settled.served_rate == pytest.approx(15.0, rel=0.1)
    assert settled.queue_depth == 9.0
