"""The largest batch a model server is configured for: what its configuration says, and
how the operator reads it from a pod without ever holding up a scaling tick.

The servers themselves answer in ``tests/integration/test_batching_capacity.py``
(real ``tritonserver`` and gpufleet-server); here the configurations are Triton's
JSON as ``GET /v2/models/{m}/config`` returns it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gpufleet.domain.model_config import largest_batch
from gpufleet.domain.pods import pod_facts, summarize
from gpufleet.domain.spec import ModelDeploymentSpec, parse_spec
from gpufleet.modelserver.config import ModelConfigError
from gpufleet.services.configured_batch import ConfiguredBatches
from tests.operator.specs import minimal_spec
from tests.support.waiting import wait_for_async


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            {"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 2000}},
            8,
            id="dynamic batching: up to max_batch_size requests an execution",
        ),
        pytest.param(
            {"max_batch_size": 16, "dynamic_batching": {}}, 16, id="dynamic batching, defaults"
        ),
        pytest.param(
            {"max_batch_size": 8},
            1,
            id="a batch dimension but no batcher: each request executes alone",
        ),
        pytest.param({"max_batch_size": 0}, 1, id="no batch dimension"),
        pytest.param({"name": "m"}, 1, id="max_batch_size left out: 0"),
        pytest.param(
            {"max_batch_size": 4, "sequence_batching": {"max_sequence_idle_microseconds": 5}},
            4,
            id="sequence batching: up to max_batch_size sequences an execution",
        ),
        pytest.param(
            {"platform": "ensemble", "max_batch_size": 8, "ensemble_scheduling": {"step": []}},
            None,
            id="an ensemble: its steps batch each on their own",
        ),
        pytest.param({"max_batch_size": -1}, None, id="negative: not a configuration"),
        pytest.param({"max_batch_size": "eight"}, None, id="not a number"),
        pytest.param({"max_batch_size": True}, None, id="a boolean"),
    ],
)
def test_the_largest_batch_a_configuration_states(
    config: dict[str, Any], expected: int | None
) -> None:
    assert largest_batch(config) == expected


def _pod(name: str, ip: str | None, ready: bool, port_name: str = "http") -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": "2026-12-06T00:00:00Z",
            }
        ]
    }
    if ip is not None:
        status["podIP"] = ip
    ports = [{"name": port_name, "containerPort": 8000}, {"name": "metrics", "containerPort": 8002}]
    return {
        "metadata": {"name": name, "creationTimestamp": "2026-12-06T00:00:00Z"},
        "spec": {"containers": [{"name": "server", "ports": ports}]},
        "status": status,
    }


def test_only_ready_pods_with_an_ip_and_an_http_port_are_asked() -> None:
    pods = [
        _pod("ready", "10.0.0.7", ready=True),
        _pod("ready-v6", "fd00::7", ready=True),
        _pod("starting", "10.0.0.8", ready=False),
        _pod("no-ip-yet", None, ready=True),
        _pod("grpc-only", "10.0.0.9", ready=True, port_name="grpc"),
    ]
    summary = summarize(map(pod_facts, pods), now=1.8e9, provisioning_timeout_s=600.0)
    assert sorted(summary.http_addresses) == ["10.0.0.7:8000", "[fd00::7]:8000"]


TRITON = parse_spec(minimal_spec())
LLM = parse_spec(
    minimal_spec(
        model={"name": "tiny-llm", "repository": "seed://11"},
        runtime={"type": "torch", "torch": {"mode": "llm"}},
        slo={"ttftP95Ms": 1000},
    )
)


class Pods:
    """The pods' side of the read: each configuration asked for, and what they answer."""

    def __init__(self, *answers: dict[str, Any] | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def read(self, address: str, model: str, timeout_s: float) -> dict[str, Any]:
        self.asked.append((address, model))
        await self.gate.wait()
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def read_as(
    batches: ConfiguredBatches, expected: int, spec: ModelDeploymentSpec = TRITON
) -> None:
    """Tick after tick (as the scaling loop asks) until the read answers ``expected``."""
    await wait_for_async(
        lambda: batches.largest_batch("uid", spec, ["10.0.0.7:8000"]),
        until=lambda known: known == expected,
        what=f"the configured largest batch to read {expected}",
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_tick_gets_what_is_known_while_the_read_runs_in_the_background() -> None:
    pods = Pods({"max_batch_size": 8, "dynamic_batching": {}})
    pods.gate.clear()  # a pod slow to answer
    batches = ConfiguredBatches(pods.read, Clock())
    assert batches.largest_batch("uid", TRITON, ["10.0.0.7:8000"]) is None
    await wait_for_async(lambda: pods.asked, what="a pod to be asked")
    assert pods.asked == [("10.0.0.7:8000", "resnet50")]
    # Ticks meanwhile neither wait nor ask again.
    assert batches.largest_batch("uid", TRITON, ["10.0.0.7:8000"]) is None
    assert len(pods.asked) == 1
    pods.gate.set()
    await read_as(batches, 8)


async def test_a_failed_read_is_retried_a_minute_later_not_every_tick() -> None:
    clock = Clock()
    pods = Pods(
        ModelConfigError("connection refused"), {"max_batch_size": 4, "dynamic_batching": {}}
    )
    batches = ConfiguredBatches(pods.read, clock, retry_s=60.0)
    batches.largest_batch("uid", TRITON, ["10.0.0.7:8000"])
    await wait_for_async(lambda: len(pods.answers) == 1, what="the first read to fail")
    clock.now += 30.0
    assert batches.largest_batch("uid", TRITON, ["10.0.0.7:8000"]) is None
    assert len(pods.asked) == 1
    clock.now += 31.0
    await read_as(batches, 4)
    assert len(pods.asked) == 2


async def test_a_changed_model_is_read_again() -> None:
    pods = Pods({"max_batch_size": 8, "dynamic_batching": {}}, {"max_batch_size": 0})
    batches = ConfiguredBatches(pods.read, Clock())
    await read_as(batches, 8)
    changed = parse_spec(minimal_spec(model={"name": "resnet50", "repository": "pvc://models/v2"}))
    # What the old model's server said no longer holds: unknown until read again.
    assert batches.largest_batch("uid", changed, ["10.0.0.7:8000"]) is None
    await read_as(batches, 1, changed)


async def test_nothing_is_read_without_a_ready_pod_or_from_an_llm_engine() -> None:
    pods = Pods()
    batches = ConfiguredBatches(pods.read, Clock())
    assert batches.largest_batch("uid", TRITON, []) is None
    assert batches.largest_batch("llm", LLM, ["10.0.0.7:8000"]) is None
    await asyncio.sleep(0)
    assert pods.asked == []
