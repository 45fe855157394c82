"""The GPU stand-in: a gpufleet-server pod of the local node holds each batch without
computing, so replicas add capacity on a 2-core machine as GPUs would."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http.aio as triton_http

from gpufleet.domain.manifests.deployment import build_deployment
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from gpufleet_devtools.local.demo_model import (
    IN_FEATURES,
    TORCH_INPUT,
    GpuCost,
    write_gpu_like_model,
)
from gpufleet_devtools.local.podplan import plan_process
from gpufleet_devtools.runtime.process import free_port, http_status
from tests.support.waiting import wait_for

# A slow batch keeps the request rate, hence the clients' CPU, low: 4 / 0.12 s = 33 req/s.
COST = GpuCost(fixed_ms=40.0, per_item_ms=20.0, max_batch_size=4)
FLAT_OUT_PER_REPLICA = COST.max_batch_size / (
    (COST.fixed_ms + COST.per_item_ms * COST.max_batch_size) / 1000
)
CLIENTS_PER_REPLICA = 3 * COST.max_batch_size
"""Closed-loop clients per replica: a full batch always waits behind the running one."""
SECONDS_PER_RUN = 6.0


def _template(example: dict[str, Any]) -> dict[str, Any]:
    spec = parse_spec(example["spec"])
    deployment = build_deployment(Owner("tiny-mlp", "default", "uid-1"), spec, 1)
    return dict(deployment["spec"]["template"])


def test_a_torch_pod_gets_the_standin_library_first_on_its_python_path(
    example: dict[str, Any], tmp_path: Path
) -> None:
    plan = plan_process(
        _template(example),
        tmp_path,
        itertools.count(43000).__next__,
        base_env={"PYTHONPATH": "/opt/site"},
        runtime_dir=tmp_path / "runtime",
    )
    first, *rest = plan.env["PYTHONPATH"].split(os.pathsep)
    assert (Path(first) / "sitecustomize.py").read_text().count("register()") == 1
    assert rest == ["/opt/site"]  # what the pod already had stays, after it


@pytest.fixture
def gpu_volumes(tmp_path: Path, example: dict[str, Any]) -> Path:
    volumes = tmp_path / "volumes"
    write_gpu_like_model(volumes / "models" / "repository", example["spec"]["model"]["name"], COST)
    return volumes


@pytest.fixture
def start_replicas(gpu_volumes: Path, example: dict[str, Any], tmp_path: Path) -> Iterator[Any]:
    """Start n gpufleet-server pods as the local node does (its argv and env); all stop after."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(n: int) -> list[str]:
        urls = []
        for _ in range(n):
            pod = f"p{len(processes)}"
            plan = plan_process(
                _template(example),
                gpu_volumes,
                free_port,
                pod=pod,
                runtime_dir=tmp_path / "runtime",
            )
            with (tmp_path / f"{pod}.log").open("wb") as log:
                process = subprocess.Popen(plan.argv, env=plan.env, stdout=log, stderr=log)
            processes.append(process)
            url = f"127.0.0.1:{plan.ports.http}"

            def up(url: str = url, process: subprocess.Popen[bytes] = process) -> bool:
                assert process.poll() is None, f"the server exited: see {tmp_path}"
                return http_status(f"http://{url}/v2/health/ready") == 200

            wait_for(up, timeout=90, what=f"{url} ready")
            urls.append(url)
        return urls

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


async def _served_per_second(urls: list[str], model: str) -> float:
    """Completions/s of closed-loop clients that keep every replica's batches full."""
    data = np.zeros((1, IN_FEATURES), dtype=np.float32)
    done = 0
    stop_at = 0.0

    async def client(url: str) -> None:
        nonlocal done
        async with triton_http.InferenceServerClient(url=url) as server:
            while time.monotonic() < stop_at:
                tensor = triton_http.InferInput(TORCH_INPUT, [1, IN_FEATURES], "FP32")
                tensor.set_data_from_numpy(data)
                await server.infer(model, [tensor])
                done += 1

    stop_at = time.monotonic() + 1.0  # warm the connections and the batcher
    await asyncio.gather(*(client(url) for url in urls for _ in range(CLIENTS_PER_REPLICA)))
    done = 0
    started = time.monotonic()
    stop_at = started + SECONDS_PER_RUN
    await asyncio.gather(*(client(url) for url in urls for _ in range(CLIENTS_PER_REPLICA)))
    return done / (time.monotonic() - started)


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_two_gpu_like_replicas_serve_about_twice_what_one_does(
    start_replicas: Any, example: dict[str, Any]
) -> None:
    model = example["spec"]["model"]["name"]
    one = await _served_per_second(start_replicas(1), model)
    two = await _served_per_second(start_replicas(1) + start_replicas(1), model)
    # One replica serves what its batches allow (the wait is the model's cost, not CPU).
    assert 0.75 * FLAT_OUT_PER_REPLICA <= one <= 1.1 * FLAT_OUT_PER_REPLICA, one
    assert 1.7 <= two / one <= 2.2, (one, two)
