"""Dynamic batching for one model version.

Requests queue; a batch is cut when it reaches ``max_batch_size`` or when the oldest queued
request has waited ``max_queue_delay_microseconds`` (like Triton's dynamic batcher; preferred
batch sizes are accepted but the batch always grows toward the maximum). Only requests whose
non-batch shapes agree can share a batch. One forward pass runs at a time, in a dedicated
worker thread, so the event loop keeps accepting requests while the model computes; requests
arriving meanwhile form the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from gpufleet_server.datatypes import Array
from gpufleet_server.errors import internal
from gpufleet_server.metrics import NS_PER_US, ModelStats
from gpufleet_server.torch_model import BatchTimings, TorchModel

log = logging.getLogger(__name__)


@dataclass
class QueuedRequest:
    inputs: list[Array]  # in the config's input order; batch dimension first when batching
    batch_size: int
    received_ns: int
    enqueued_ns: int = field(default_factory=time.perf_counter_ns)
    result: asyncio.Future[list[Array]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def shape_key(self) -> tuple[tuple[int, ...], ...]:
        return tuple(a.shape[1:] for a in self.inputs)


class DynamicBatcher:
    def __init__(self, model: TorchModel, stats: ModelStats) -> None:
        self.model = model
        self.stats = stats
        spec = model.spec
        self._batching = spec.batching is not None
        self._max_batch = spec.max_batch_size if self._batching else 1
        self._max_delay_ns = spec.batching.max_queue_delay_us * NS_PER_US if spec.batching else 0
        self._queue: deque[QueuedRequest] = deque()
        self._queued_rows = 0  # sum of the queued requests' batch sizes
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=spec.name)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._serve_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for request in self._queue:
            if not request.result.done():
                request.result.set_exception(internal("server stopped before execution"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, request: QueuedRequest) -> asyncio.Future[list[Array]]:
        self._queue.append(request)
        self._queued_rows += request.batch_size
        self.stats.pending += 1
        # Wake the batcher only when it has something to decide: the first request of a
        # batch, or a full batch (not once per arrival, which costs a loop wake-up each).
        if len(self._queue) == 1 or self._queued_rows >= self._max_batch:
            self._arrived.set()
        return request.result

    async def _wait_for_batch(self) -> None:
        """Wait until a request is queued, then until a full batch or the oldest's deadline."""
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        deadline_ns = self._queue[0].enqueued_ns + self._max_delay_ns
        while self._queued_rows < self._max_batch:
            remaining_s = (deadline_ns - time.perf_counter_ns()) / 1e9
            if remaining_s <= 0:
                return
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining_s):
                    await self._arrived.wait()

    def _take_batch(self) -> list[QueuedRequest]:
        head = self._queue.popleft()
        batch, size = [head], head.batch_size
        if not self._batching:
            self._queued_rows -= size
            return batch
        left_behind: deque[QueuedRequest] = deque()
        while self._queue:
            candidate = self._queue.popleft()
            fits = size + candidate.batch_size <= self._max_batch
            if fits and candidate.shape_key == head.shape_key:
                batch.append(candidate)
                size += candidate.batch_size
            else:
                left_behind.append(candidate)
        self._queue.extendleft(reversed(left_behind))
        self._queued_rows -= size
        return batch

    async def _serve_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wait_for_batch()
            batch = self._take_batch()
            self.stats.pending -= len(batch)
            started_ns = time.perf_counter_ns()
            try:
                outputs, timings = await loop.run_in_executor(self._executor, self._execute, batch)
            except Exception as error:  # the model's failure fails this batch only
                log.warning("model %s failed on a batch", self.model.spec.name, exc_info=True)
                self._fail(batch, error)
                continue
            self._complete(batch, outputs, timings, started_ns)

    def _execute(self, batch: list[QueuedRequest]) -> tuple[list[list[Array]], BatchTimings]:
        """Runs in the worker thread: concatenate, forward, split back per request."""
        concat_start = time.perf_counter_ns()
        if len(batch) == 1:
            inputs = batch[0].inputs
        else:
            inputs = [
                np.concatenate(parts) for parts in zip(*(r.inputs for r in batch), strict=True)
            ]
        concat_ns = time.perf_counter_ns() - concat_start
        outputs, timings = self.model.run(inputs)
        if not self._batching:
            return [outputs], timings
        total = sum(r.batch_size for r in batch)
        for array in outputs:
            if array.ndim == 0 or array.shape[0] != total:
                raise RuntimeError(
                    f"output batch dimension {array.shape[:1]} does not match batch size {total}"
                )
        split_points = np.cumsum([r.batch_size for r in batch])[:-1]
        per_request = [
            list(parts) for parts in zip(*(np.split(a, split_points) for a in outputs), strict=True)
        ]
        return per_request, BatchTimings(
            timings.input_ns + concat_ns, timings.infer_ns, timings.output_ns
        )

    def _fail(self, batch: list[QueuedRequest], error: Exception) -> None:
        # TorchScript errors carry a long interpreter traceback; its last line says what failed.
        lines = [line for line in str(error).splitlines() if line.strip()] or [repr(error)]
        message = f"model '{self.model.spec.name}' failed: {lines[-1].strip()}"
        failed_ns = time.perf_counter_ns()
        for request in batch:
            self.stats.record_failure("BACKEND", failed_ns - request.received_ns)
            if not request.result.done():
                request.result.set_exception(internal(message))

    def _complete(
        self,
        batch: list[QueuedRequest],
        outputs: list[list[Array]],
        timings: BatchTimings,
        started_ns: int,
    ) -> None:
        self.stats.record_execution(
            batch_size=sum(r.batch_size for r in batch),
            input_ns=timings.input_ns,
            infer_ns=timings.infer_ns,
            output_ns=timings.output_ns,
        )
        done_ns = time.perf_counter_ns()
        for request, request_outputs in zip(batch, outputs, strict=True):
            if request.result.done():  # the client went away
                continue
            request.result.set_result(request_outputs)
            self.stats.record_request(
                batch_size=request.batch_size,
                request_ns=done_ns - request.received_ns,
                queue_ns=started_ns - request.enqueued_ns,
                input_ns=timings.input_ns,
                infer_ns=timings.infer_ns,
                output_ns=timings.output_ns,
            )
