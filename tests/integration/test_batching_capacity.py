"""The per-replica capacity the policy learns, against what a real batching server serves.

Two servers with dynamic batching (up to 8 requests per execution): a real
``tritonserver`` whose python-backend model holds each execution 40 ms, and
gpufleet-server (the torch runtime) with a weight-heavy MLP whose batch of 8 costs
~2.6x one request. A replica's throughput grows with the batch, and HTTP handling on
this machine's shared cores adds what compute time alone does not show. tritonclient
drives each closed-loop at several concurrencies (batching pays: throughput grows
with them). Then, flat out (at least three batches' worth of clients, so a full batch
always waits behind the one running), the operator's own chain runs as in a cluster: real
Prometheus scrapes the server, ``metrics/sample.py`` turns its answers into
Observations, and ``decide()`` runs tick after tick with its history carried.
``Decision.capacity_per_replica`` must land within 20 % of the saturation throughput
the clients get meanwhile. Slow (~90 s per server), bounded by the pytest timeout.

Known limit, not tested: a server bound by HTTP handling alone (a tiny model on the
torch runtime) shows no queue and a small server-side p95, so nothing in its metrics
corrects a capacity prior taken from its compute time.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from gpufleet.domain.model_config import largest_batch
from gpufleet.domain.scaling.policy import decide
from gpufleet.domain.scaling.types import Decision, FleetState, Observations, ScalerHistory
from gpufleet.domain.spec import parse_spec
from gpufleet.metrics.reader import FleetMetricsReader
from gpufleet.modelserver.config import read_model_config
from gpufleet.settings import OperatorSettings

pytestmark = pytest.mark.slow

NAMESPACE, NAME, POD = "bench", "mlp", "mlp-0"
MAX_BATCH = 8
CONCURRENCIES = (1, 4, 8, 16)
STEP_S = 5.0
TICKS = 40
FLAT_OUT_CLIENTS = 3 * MAX_BATCH


def _require_binaries() -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("the Debian prometheus binary is not installed (make system-deps)")
    from gpufleet_devtools.triton import bundled_tritonserver

    try:
        bundled_tritonserver()
    except FileNotFoundError as exc:
        pytest.skip(f"no tritonserver from nvidia-pytriton: {exc}")


class ClosedLoop:
    """``clients`` threads each sending one request after the other; counts completions."""

    def __init__(self, url: str, clients: int, model: str, input_name: str) -> None:
        self._url = url
        self._model = model
        self._input = input_name
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.done = 0
        self.failed = 0
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        import tritonclient.http as http

        client = http.InferenceServerClient(self._url, connection_timeout=30, network_timeout=30)
        data = np.ones((1, 16), dtype=np.float32)
        while not self._stop.is_set():
            tensor = http.InferInput(self._input, [1, 16], "FP32")
            tensor.set_data_from_numpy(data)
            try:
                client.infer(self._model, [tensor])
            except Exception:  # the server is stopping under us, or overloaded
                with self._lock:
                    self.failed += 1
                continue
            with self._lock:
                self.done += 1
        client.close()

    def completed(self) -> int:
        with self._lock:
            return self.done

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def throughput(load: ClosedLoop, seconds: float) -> float:
    """Completions/s over ``seconds`` of an already running load."""
    start_n, start_t = load.completed(), time.monotonic()
    # Measuring a rate over a fixed interval, not waiting for a condition.
    time.sleep(seconds)
    return (load.completed() - start_n) / (time.monotonic() - start_t)


@dataclass
class Rig:
    url: str
    reader: FleetMetricsReader
    model: str
    input_name: str
    min_batch_ms: float
    """The least one execution can take (the model's fixed work)."""

    def load(self, clients: int) -> ClosedLoop:
        return ClosedLoop(self.url, clients, self.model, self.input_name)


@dataclass(frozen=True)
class Server:
    url: str
    metrics_address: str
    stop: Callable[[], object]


def _triton(root: Path) -> tuple[Server, str, str, float]:
    """tritonserver, python backend: 40 ms per execution of up to 8 requests."""
    from gpufleet_devtools.triton import TritonServer, write_torch_model

    repo = write_torch_model(root / "repo", "mlp", work_ms=40.0, max_batch_size=MAX_BATCH)
    triton = TritonServer(repo).start()
    return Server(triton.http_url, triton.metrics_address, triton.stop), "mlp", "INPUT", 40.0


def weight_heavy_mlp() -> torch.nn.Module:
    """Four 2048-wide layers on one CPU thread: reading the weights dominates a small
    batch, so a batch of 8 costs ~2.6x one request (8 ms vs 21 ms here), as on a GPU."""
    torch.manual_seed(0)
    hidden = 2048
    layers = [torch.nn.Linear(hidden, hidden) for _ in range(4)]
    return torch.nn.Sequential(
        torch.nn.Linear(16, hidden), *layers, torch.nn.Linear(hidden, 4)
    ).eval()


def _torch_runtime(root: Path) -> tuple[Server, str, str, float]:
    """gpufleet-server (the torch runtime) with dynamic batching of a weight-heavy MLP."""
    from gpufleet_devtools.runtime.example_models import mlp_config, write_model
    from gpufleet_devtools.runtime.process import start_server

    write_model(root / "repo", "mlp", weight_heavy_mlp(), mlp_config("mlp", MAX_BATCH, 2_000))
    server = start_server(root / "repo", root / "server.log")
    metrics = f"127.0.0.1:{server.metrics_port}"
    return Server(server.http_url, metrics, server.stop), "mlp", "INPUT0", 5.0


@pytest.fixture(
    scope="module",
    params=[
        # Closed-loop clients hold a standing queue: a batch waits on the pod at every
        # tick, which is the flat-out reading (not a backlog that grows).
        pytest.param(_triton, id="tritonserver"),
        pytest.param(_torch_runtime, id="gpufleet-server"),
    ],
)
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """A batching model server scraped by a real Prometheus."""
    _require_binaries()
    from gpufleet_devtools.prometheus import PrometheusServer, ScrapeTarget

    root: Path = tmp_path_factory.mktemp("batching")
    server, model, input_name, min_batch_ms = request.param(root)
    prometheus = PrometheusServer(scrape_interval_s=1.0)
    try:
        prometheus.start()
        labels = {"namespace": NAMESPACE, "modeldeployment": NAME, "pod": POD}
        prometheus.set_targets([ScrapeTarget(server.metrics_address, labels)])
        settings = OperatorSettings(
            prometheus_url=prometheus.url,
            tick_seconds=1.0,
            rate_window_seconds=8.0,
            scrape_interval_seconds=1.0,
            stale_after_seconds=5.0,
            query_timeout_seconds=3.0,
        )
        yield Rig(server.url, FleetMetricsReader(settings), model, input_name, min_batch_ms)
    finally:
        prometheus.stop()
        server.stop()


def saturation_throughput(rig: Rig) -> dict[int, float]:
    """Throughput at each concurrency."""
    measured: dict[int, float] = {}
    for clients in CONCURRENCIES:
        load = rig.load(clients)
        try:
            throughput(load, 1.5)  # let the batches form
            measured[clients] = throughput(load, STEP_S)
        finally:
            load.stop()
    return measured


def test_the_operator_reads_the_largest_batch_from_the_servers_model_configuration(
    rig: Rig,
) -> None:
    """What the operator asks a ready pod (``GET /v2/models/{m}/config``) and hands the
    capacity model: the batch bound its metrics never show."""
    config = asyncio.run(read_model_config(rig.url, rig.model, timeout_s=5.0))
    assert largest_batch(config) == MAX_BATCH, config


def test_learned_capacity_matches_the_measured_saturation_throughput(rig: Rig) -> None:
    by_concurrency = saturation_throughput(rig)
    # The model batches: more concurrency served more, up to a plateau.
    saturating = max(by_concurrency, key=by_concurrency.__getitem__)
    assert by_concurrency[saturating] > 2.0 * by_concurrency[1], by_concurrency

    spec = parse_spec(
        {
            "model": {"name": "mlp", "repository": "s3://models/mlp"},
            "slo": {"latencyP95Ms": 2000},
            "cost": {"maxHourlyCost": 1000, "gpuHourlyPrice": 1.0},
            # One server here: at maxReplicas 1 the fleet the policy sees is the one there
            # is (a scale-up it asked for but never got would read as pods starting).
            "scaling": {"minReplicas": 1, "maxReplicas": 1, "coldStartSeconds": 30},
        }
    )
    fleet = FleetState(replicas=1, ready_replicas=1, gpus_per_replica=1, gpu_hourly_price=1.0)
    # Flat out, for the policy to watch tick by tick: past the saturating concurrency,
    # enough that a full batch always waits behind the one running (requests in transit
    # are not waiting). The saturation throughput is what the clients get meanwhile: the
    # same cores, shared with whatever else runs here, as the measurements it reads.
    load = rig.load(max(saturating, FLAT_OUT_CLIENTS))
    trace: list[tuple[Observations, Decision]] = []
    try:
        history = ScalerHistory()
        started_n, started_t = load.completed(), time.monotonic()
        for _ in range(TICKS):
            sample = asyncio.run(rig.reader.sample())
            obs = sample.observations(NAMESPACE, NAME, expected_pods=1)
            decision = decide(spec, fleet, obs, history, time.time())
            history = decision.history
            trace.append((obs, decision))
            time.sleep(1.0)  # the operator's tick
        saturation = (load.completed() - started_n) / (time.monotonic() - started_t)
    finally:
        load.stop()

    learned = [d.capacity_per_replica for _, d in trace if d.capacity_per_replica is not None]
    served = [o.served_rate for o, _ in trace if o.served_rate is not None]
    batch_ms = [o.compute_ms_per_request for o, _ in trace if o.compute_ms_per_request is not None]
    report = (
        f"sweep { {c: round(v, 1) for c, v in by_concurrency.items()} } req/s; "
        f"saturation over the ticks {saturation:.1f} req/s; "
        f"served (Prometheus) last {served[-1] if served else None}; "
        f"queue last {trace[-1][0].queue_depth}; "
        f"inferences/exec last {trace[-1][0].inferences_per_exec}; "
        f"batch ms last {batch_ms[-1] if batch_ms else None}; "
        f"learned capacity first {learned[0] if learned else None} "
        f"last {learned[-1] if learned else None}; "
        f"last reason: {trace[-1][1].reason}"
    )
    print(report)
    # The operator's view of the server: one execution takes the model's work plus
    # overhead, not that times the batch (Triton credits each request the batch's time).
    assert batch_ms, report
    assert rig.min_batch_ms <= batch_ms[-1] < 6.0 * rig.min_batch_ms, report
    assert learned, report
    assert learned[-1] == pytest.approx(saturation, rel=0.2), report
