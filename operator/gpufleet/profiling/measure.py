"""Measure a model server over Triton's HTTP protocol (KServe v2): the latency of one
request per batch size, and throughput and latency at several concurrencies.

A batch's time is measured end to end, as a client sees it (HTTP, (de)serialization,
queueing in the server and compute), because that is what a replica really serves;
the server's own counters, when its metrics endpoint is given, add how it batched
and how long one execution computed (the model's part, which it credits to its
compute counter).
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

WARM_UP_REQUESTS = 5
"""Requests of each batch size sent, unmeasured, before it is measured (perf_analyzer
likewise repeats its measurement windows until they agree, which leaves out the first)."""
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_COUNTERS = (
    "nv_inference_request_success",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_compute_infer_duration_us",
)


class ProfileError(Exception):
    """The server or model cannot be profiled as asked; the message says why."""


@dataclass(frozen=True)
class ModelFacts:
    """What the server says about the model: its inputs and batching."""

    inputs: list[tuple[str, list[int], str]]
    """(name, shape without the batch dimension, Triton datatype)."""
    batched: bool
    """Whether inputs carry a batch dimension (``max_batch_size`` > 0)."""
    max_batch: int
    max_queue_delay_ms: float


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.seconds), q)) * 1000.0

    def mean_ms(self) -> float:
        return float(np.mean(np.asarray(self.seconds))) * 1000.0


def _inputs_from(metadata: dict[str, Any], batched: bool) -> list[tuple[str, list[int], str]]:
    inputs = []
    for item in metadata.get("inputs", []):
        shape = [int(d) for d in item["shape"]]
        if batched:
            shape = shape[1:]
        if any(d < 0 for d in shape):
            raise ProfileError(
                f"input {item['name']!r} has a variable dimension {item['shape']}: "
                "the profiler sends fixed-size inputs only"
            )
        if item["datatype"] == "BYTES":
            raise ProfileError(f"input {item['name']!r} is BYTES: only numeric inputs are sent")
        inputs.append((str(item["name"]), shape, str(item["datatype"])))
    if not inputs:
        raise ProfileError("the model's metadata lists no inputs")
    return inputs


def model_facts(metadata: dict[str, Any], config: dict[str, Any]) -> ModelFacts:
    max_batch = int(config.get("max_batch_size", 0) or 0)
    batching = config.get("dynamic_batching") or {}
    delay_us = float(batching.get("max_queue_delay_microseconds", 0) or 0)
    return ModelFacts(
        inputs=_inputs_from(metadata, batched=max_batch > 0),
        batched=max_batch > 0,
        max_batch=max(1, max_batch),
        max_queue_delay_ms=delay_us / 1000.0,
    )


def server_counters(metrics_url: str | None, model: str) -> dict[str, float] | None:
    """The model's Triton counters, summed over versions; None without a metrics URL."""
    if metrics_url is None:
        return None
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    totals = dict.fromkeys(_COUNTERS, 0.0)
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match["name"] in totals and f'model="{model}"' in (match["labels"] or ""):
            totals[match["name"]] += float(match["value"])
    return totals


class Prober:
    """Sends requests to one model with the tritonclient HTTP (asyncio) client."""

    def __init__(self, url: str, model: str, version: str = "") -> None:
        try:
            from tritonclient.http import aio
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ProfileError(
                "gpufleet profile needs tritonclient: pip install 'tritonclient[http]'"
            ) from exc
        self._aio = aio
        self.url = url
        self.model = model
        self.version = version
        self._client: Any = None

    async def __aenter__(self) -> Prober:
        # tritonclient takes the endpoint without its scheme, and TLS as a flag.
        scheme, endpoint = self.url.split("://", 1) if "://" in self.url else ("http", self.url)
        self._client = self._aio.InferenceServerClient(
            endpoint, conn_limit=256, ssl=scheme == "https"
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    async def facts(self) -> ModelFacts:
        from tritonclient.utils import InferenceServerException

        try:
            if not await self._client.is_model_ready(self.model, self.version):
                raise ProfileError(f"model {self.model!r} is not ready at {self.url}")
            metadata = await self._client.get_model_metadata(self.model, self.version)
            config = await self._client.get_model_config(self.model, self.version)
        except InferenceServerException as exc:
            raise ProfileError(f"{self.url}: {exc}") from exc
        return model_facts(metadata, config)

    def _request(self, facts: ModelFacts, batch: int) -> list[Any]:
        from tritonclient.utils import triton_to_np_dtype

        rng = np.random.default_rng(batch)
        inputs = []
        for name, shape, datatype in facts.inputs:
            full = [batch, *shape] if facts.batched else shape
            data: npt.NDArray[Any] = rng.random(full).astype(triton_to_np_dtype(datatype))
            item = self._aio.InferInput(name, full, datatype)
            item.set_data_from_numpy(data)
            inputs.append(item)
        return inputs

    async def _one(self, inputs: list[Any]) -> float:
        started = time.perf_counter()
        await self._client.infer(self.model, inputs, model_version=self.version)
        return time.perf_counter() - started

    async def warm_up(self, facts: ModelFacts, batch: int) -> None:
        """``WARM_UP_REQUESTS`` requests of ``batch`` items, not measured: the first calls
        of a shape may load, compile or allocate, and one slow request among the few
        dozen measured moves their mean (what the fit reads) by its whole excess."""
        inputs = self._request(facts, batch)
        for _ in range(WARM_UP_REQUESTS):
            await self._one(inputs)

    async def alone(self, facts: ModelFacts, batch: int, requests: int) -> Latencies:
        """``requests`` requests of ``batch`` items, one after the other."""
        inputs = self._request(facts, batch)
        return Latencies([await self._one(inputs) for _ in range(requests)])

    async def closed_loop(self, facts: ModelFacts, concurrency: int, seconds: float) -> Latencies:
        """``concurrency`` clients, each sending one-item requests back to back."""
        inputs = self._request(facts, 1)
        deadline = time.perf_counter() + seconds
        out = Latencies()

        async def client() -> None:
            while time.perf_counter() < deadline:
                out.seconds.append(await self._one(inputs))

        await asyncio.gather(*(client() for _ in range(concurrency)))
        return out
