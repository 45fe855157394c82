"""The protocol-independent server core: which models are loaded, request validation against
their configs, submission to their batchers, readiness and the graceful drain.

Both front ends (HTTP and gRPC) call into one InferenceService, so they validate and fail
identically.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tritonclient.grpc import model_config_pb2

from gpufleet_server.batcher import DynamicBatcher, QueuedRequest
from gpufleet_server.datatypes import Array
from gpufleet_server.errors import InferenceError, invalid, not_found, unavailable
from gpufleet_server.metrics import ModelStats, TritonMetricsCollector
from gpufleet_server.model_config import ModelSpec, TensorSpec
from gpufleet_server.repository import ModelVersionFiles
from gpufleet_server.tensors import InputTensor
from gpufleet_server.torch_model import TorchModel

log = logging.getLogger(__name__)

DRAINING_MESSAGE = "server is shutting down and no longer accepts inference requests"


@dataclass(frozen=True)
class LoadedModel:
    files: ModelVersionFiles
    batcher: DynamicBatcher
    stats: ModelStats

    @property
    def spec(self) -> ModelSpec:
        return self.files.spec

    @property
    def version(self) -> int:
        return self.files.version

    @property
    def config(self) -> model_config_pb2.ModelConfig:
        return self.files.config


@dataclass(frozen=True)
class InferResult:
    model_name: str
    model_version: int
    request_id: str
    outputs: list[tuple[TensorSpec, Array]]


def _shape_text(dims: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"


def _shape_matches(expected: Sequence[int], actual: Sequence[int]) -> bool:
    return len(expected) == len(actual) and all(
        e == -1 or e == a for e, a in zip(expected, actual, strict=True)
    )


def _version_number(version: str) -> int:
    """A version of the statistics request; only gRPC can send one that is not digits (the
    HTTP route takes digits only), and Triton's message names its C++ parser."""
    if not version.isdigit():
        raise invalid(
            f"failed to get model version from specified version string '{version}' "
            "(details: stol), version should be an integral value > 0"
        )
    return int(version)


class InferenceService:
    def __init__(self, metrics: TritonMetricsCollector) -> None:
        self.metrics = metrics
        self.draining = False
        self._models: dict[str, dict[int, LoadedModel]] = {}
        self._all_loaded = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # ---- lifecycle -------------------------------------------------------------------
    def add_model(self, files: ModelVersionFiles, model: TorchModel) -> None:
        stats = self.metrics.register(files.spec.name, files.version)
        batcher = DynamicBatcher(model, stats)
        batcher.start()
        self._models.setdefault(files.spec.name, {})[files.version] = LoadedModel(
            files, batcher, stats
        )

    def mark_loaded(self) -> None:
        self._all_loaded = True

    def start_draining(self) -> None:
        self.draining = True

    async def wait_drained(self, timeout_s: float) -> bool:
        """True when every in-flight request finished within the timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        for versions in self._models.values():
            for loaded in versions.values():
                await loaded.batcher.stop()

    # ---- health and metadata ---------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._all_loaded and not self.draining

    def models(self) -> list[LoadedModel]:
        return [m for versions in self._models.values() for m in versions.values()]

    def resolve(self, name: str, version: str | None) -> LoadedModel:
        versions = self._models.get(name)
        if not versions:
            raise not_found(f"Request for unknown model: '{name}' is not found")
        if not version:
            return versions[max(versions)]
        if version.isdigit() and int(version) in versions:
            return versions[int(version)]
        raise not_found(f"Request for unknown model: '{name}' version {version} is not found")

    def statistics(self, name: str, version: str) -> list[ModelStats]:
        """The statistics extension's selection: every loaded model version without a name,
        every loaded version of the named model without a version. Triton answers an unknown
        model or version here with its own messages and INVALID_ARGUMENT (HTTP 400), not the
        404 of the other model endpoints, and clients see those, so they are copied."""
        if not name:  # Triton lists them by name, then version
            return [m.stats for m in sorted(self.models(), key=lambda m: (m.spec.name, m.version))]
        versions = self._models.get(name)
        if not versions:
            raise invalid(f"requested model '{name}' is not available")
        if not version:
            return [versions[v].stats for v in sorted(versions)]
        loaded = versions.get(_version_number(version))
        if loaded is None:
            raise invalid(f"requested model version is not available for model '{name}'")
        return [loaded.stats]

    def model_ready(self, name: str, version: str | None) -> bool:
        try:
            self.resolve(name, version)
        except InferenceError:
            return False
        return not self.draining

    # ---- inference -------------------------------------------------------------------
    async def infer(
        self,
        model_name: str,
        version: str | None,
        request_id: str,
        inputs: Sequence[InputTensor],
        requested_outputs: Sequence[str] | None,
        received_ns: int | None = None,
    ) -> InferResult:
        if self.draining:
            raise unavailable(DRAINING_MESSAGE)
        loaded = self.resolve(model_name, version)
        ordered, batch_size = self._validated_inputs(loaded.spec, inputs)
        outputs = self._validated_outputs(loaded.spec, requested_outputs)
        request = QueuedRequest(
            inputs=ordered,
            batch_size=batch_size,
            received_ns=received_ns if received_ns is not None else time.perf_counter_ns(),
        )
        self._in_flight += 1
        self._idle.clear()
        try:
            results = await loaded.batcher.submit(request)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        by_name = dict(zip((t.name for t in loaded.spec.outputs), results, strict=True))
        return InferResult(
            model_name=loaded.spec.name,
            model_version=loaded.version,
            request_id=request_id,
            outputs=[(spec, by_name[spec.name]) for spec in outputs],
        )

    def _validated_inputs(
        self, spec: ModelSpec, inputs: Sequence[InputTensor]
    ) -> tuple[list[Array], int]:
        by_name: dict[str, InputTensor] = {}
        for tensor in inputs:
            expected = spec.input_named(tensor.name)
            if expected is None:
                raise invalid(f"unexpected inference input '{tensor.name}' for model '{spec.name}'")
            if tensor.name in by_name:
                raise invalid(f"input '{tensor.name}' is given more than once")
            if tensor.datatype != expected.datatype.protocol_name:
                raise invalid(
                    f"inference input '{tensor.name}' data-type is '{tensor.datatype}', but "
                    f"model '{spec.name}' expects '{expected.datatype.protocol_name}'"
                )
            by_name[tensor.name] = tensor
        missing = [t.name for t in spec.inputs if t.name not in by_name]
        if missing:
            raise invalid(f"expected inputs {missing} for model '{spec.name}' were not given")
        batch_sizes = set()
        for expected in spec.inputs:
            shape = by_name[expected.name].array.shape
            dims = shape
            if spec.max_batch_size > 0:
                if len(shape) == 0:
                    raise invalid(f"input '{expected.name}' needs a batch dimension")
                batch_sizes.add(shape[0])
                dims = shape[1:]
            if not _shape_matches(expected.dims, dims):
                full = ((-1,) if spec.max_batch_size > 0 else ()) + expected.dims
                raise invalid(
                    f"unexpected shape for input '{expected.name}' for model '{spec.name}'. "
                    f"Expected {_shape_text(full)}, got {_shape_text(shape)}"
                )
        if len(batch_sizes) > 1:
            raise invalid(f"inputs of model '{spec.name}' disagree on the batch size")
        batch_size = batch_sizes.pop() if batch_sizes else 1
        if spec.max_batch_size > 0 and not 1 <= batch_size <= spec.max_batch_size:
            raise invalid(
                f"inference request batch-size must be <= {spec.max_batch_size} "
                f"for '{spec.name}', got {batch_size}"
            )
        return [by_name[t.name].array for t in spec.inputs], batch_size

    def _validated_outputs(
        self, spec: ModelSpec, requested: Sequence[str] | None
    ) -> list[TensorSpec]:
        if not requested:
            return list(spec.outputs)
        chosen = []
        for name in requested:
            found = spec.output_named(name)
            if found is None:
                raise invalid(f"unexpected inference output '{name}' for model '{spec.name}'")
            chosen.append(found)
        return chosen


def load_model(files: ModelVersionFiles, device: torch.device, dtype: torch.dtype) -> TorchModel:
    """Blocking: load the weights and run the warm-up pass (call from a worker thread)."""
    log.info("loading model %s version %d from %s", files.spec.name, files.version, files.weights)
    model = TorchModel(files.spec, files.weights, device, dtype)
    model.warm_up()
    return model
