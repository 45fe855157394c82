"""Replay arrivals against the ready pods with tritonclient (HTTP, asyncio), open loop
(:mod:`~gpufleet_devtools.local.openloop`)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tritonclient.http.aio as triton_http

from gpufleet_devtools.local.clientwindow import LATENCY_WINDOW_S, ClientWindow, percentile
from gpufleet_devtools.local.demo_model import IN_FEATURES, TORCH_INPUT
from gpufleet_devtools.local.endpoints import Endpoints
from gpufleet_devtools.local.openloop import send_on_time
from gpufleet_devtools.local.trace import Arrivals

MAX_IN_FLIGHT = 1000
"""Past this the client itself would be the bottleneck: further requests count as failed."""
REQUEST_TIMEOUT_S = 30.0
MAX_RATE_SCAN = 5000
"""Requests sent in the last second are among the last few thousand sent."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    sent_s: float
    """When it left, in seconds from the start of the replay."""
    latency_s: float
    ok: bool
    endpoint: str
    error: str = ""


class LoadGenerator:
    def __init__(
        self, endpoints: Endpoints, model_name: str, input_name: str = TORCH_INPUT
    ) -> None:
        self._endpoints = endpoints
        self._model = model_name
        self._input = input_name
        self._clients: dict[str, triton_http.InferenceServerClient] = {}
        self.records: list[RequestRecord] = []
        """Finished requests, in the order they finished."""
        self.sent_at: list[float] = []
        """When each request really left (s from the start): late if this client lags."""
        self.in_flight = 0
        self.started_at = 0.0

    def _client(self, endpoint: str) -> triton_http.InferenceServerClient:
        if endpoint not in self._clients:
            # Open loop: users behind a Service bring their own connections, so requests
            # never wait in this client (tritonclient's default pool holds 100 per pod).
            self._clients[endpoint] = triton_http.InferenceServerClient(
                url=endpoint, conn_limit=MAX_IN_FLIGHT, conn_timeout=REQUEST_TIMEOUT_S
            )
        return self._clients[endpoint]

    async def _send(self) -> None:
        endpoint = self._endpoints.next()
        if endpoint is None:
            self.records.append(RequestRecord(self.elapsed(), 0.0, False, "", "no ready endpoint"))
            return
        data = np.random.default_rng().random((1, IN_FEATURES), dtype=np.float32)
        tensor = triton_http.InferInput(self._input, [1, IN_FEATURES], "FP32")
        tensor.set_data_from_numpy(data)
        started = time.monotonic()
        sent_s = started - self.started_at
        self.sent_at.append(sent_s)
        self.in_flight += 1
        try:
            await self._client(endpoint).infer(self._model, [tensor])
            ok, error = True, ""
        except Exception as failure:  # every outcome is data, never a crash of the replay
            ok, error = False, f"{type(failure).__name__}: {failure}"[:200]
        finally:
            self.in_flight -= 1
        self.records.append(RequestRecord(sent_s, time.monotonic() - started, ok, endpoint, error))

    async def run(
        self, arrivals: Arrivals, stop: Callable[[], bool] | None = None
    ) -> list[RequestRecord]:
        """Send every arrival on time -- or until ``stop()`` holds, checked before each
        arrival; returns when all that were sent have come back."""
        self.started_at = time.monotonic()
        try:
            offsets: Iterable[float] = arrivals.offsets
            if stop is not None:
                offsets = itertools.takewhile(lambda _: not stop(), offsets)
            plan = ((offset, None) for offset in offsets)
            await send_on_time(self.started_at, plan, self._launch)
        finally:
            for client in self._clients.values():
                await client.close()
            self._clients.clear()
        return self.records

    def _launch(self, _: None) -> Coroutine[Any, Any, None] | None:
        if self.in_flight >= MAX_IN_FLIGHT:
            self.records.append(RequestRecord(self.elapsed(), 0.0, False, "", "client saturated"))
            return None
        return self._send()

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at if self.started_at else 0.0

    def window(self, now: float) -> ClientWindow:
        """Sent and served per second over the last second, p95 over the latency window."""
        records = list(self.records)
        sent = sum(now - 1.0 <= at < now for at in self.sent_at[-MAX_RATE_SCAN:])
        finished = [
            r for r in records if r.ok and now - LATENCY_WINDOW_S <= r.sent_s + r.latency_s < now
        ]
        ok = sum(now - 1.0 <= r.sent_s + r.latency_s for r in finished)
        return ClientWindow(
            sent_rps=float(sent),
            ok_rps=float(ok),
            failed_total=sum(not r.ok for r in records),
            in_flight=self.in_flight,
            p95_ms=percentile([r.latency_s * 1000 for r in finished], 0.95),
        )
