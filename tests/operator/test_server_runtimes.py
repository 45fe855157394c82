"""Each runtime's server: health endpoints, startup allowance, ports, rollout deadline."""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet.domain.manifests.children import DEPLOYMENT, SERVICE
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from tests.operator.specs import minimal_spec

OWNER = Owner("demo", "ml", "uid-1")
VLLM = {"model": {"name": "m", "repository": "hf://org/m"}, "runtime": {"type": "vllm"}}
TORCH_LLM = {
    "model": {"name": "m", "repository": "seed://5"},
    "runtime": {"type": "torch", "torch": {"mode": "llm"}},
}


def _deployment(**overrides: Any) -> dict[str, Any]:
    return DEPLOYMENT.build(OWNER, parse_spec(minimal_spec(**overrides)))


def _startup_allowance_s(container: dict[str, Any]) -> int:
    probe = container["startupProbe"]
    return int(probe["periodSeconds"] * probe["failureThreshold"])


@pytest.mark.parametrize(
    ("overrides", "ready_path"),
    [
        ({}, "/v2/health/ready"),
        ({"runtime": {"type": "torch"}}, "/v2/health/ready"),
        # The LLM mode's /v2/health/ready is false while draining; vLLM's /health is not.
        (TORCH_LLM, "/v2/health/ready"),
        (VLLM, "/health"),
    ],
)
def test_probes_use_the_servers_own_health_endpoint(
    overrides: dict[str, Any], ready_path: str
) -> None:
    (container,) = _deployment(**overrides)["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == ready_path
    assert container["startupProbe"]["httpGet"]["path"] == ready_path


def test_vllm_may_load_weights_for_twenty_minutes() -> None:
    deployment = _deployment(**VLLM, scaling={"coldStartSeconds": 60})
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert _startup_allowance_s(container) >= 20 * 60
    # A rollout is not declared failed while a new pod is still within its allowance.
    assert deployment["spec"]["progressDeadlineSeconds"] > _startup_allowance_s(container)


@pytest.mark.parametrize("cold_start", [30, 120, 900])
def test_startup_allowance_is_twice_the_expected_cold_start(cold_start: int) -> None:
    deployment = _deployment(scaling={"coldStartSeconds": cold_start})
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert _startup_allowance_s(container) >= 2 * cold_start
    assert deployment["spec"]["progressDeadlineSeconds"] > _startup_allowance_s(container)


def test_vllm_serves_and_exports_on_one_port_and_no_grpc() -> None:
    spec = parse_spec(minimal_spec(**VLLM))
    pod = DEPLOYMENT.build(OWNER, spec)["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8000,
        "metrics": 8000,
    }
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "8000"
    assert container["command"][:3] == ["vllm", "serve", "org/m"]
    assert "--served-model-name=m" in container["command"]
    service_ports = [p["name"] for p in SERVICE.build(OWNER, spec)["spec"]["ports"]]
    assert service_ports == ["http", "metrics"]


def test_vllm_tensor_parallel_follows_the_gpus_unless_set() -> None:
    two = _deployment(**VLLM, resources={"gpus": 2})
    assert "--tensor-parallel-size=2" in two["spec"]["template"]["spec"]["containers"][0]["command"]
    own = _deployment(
        model=VLLM["model"],
        runtime={
            "type": "vllm",
            "args": ["--tensor-parallel-size=1", "--pipeline-parallel-size=2"],
        },
        resources={"gpus": 2},
    )
    command = own["spec"]["template"]["spec"]["containers"][0]["command"]
    assert [a for a in command if a.startswith("--tensor-parallel-size")] == [
        "--tensor-parallel-size=1"
    ]


def test_torch_llm_mode_serves_openai_and_vllm_metrics_without_grpc_or_repository() -> None:
    spec = parse_spec(minimal_spec(**TORCH_LLM))
    pod = DEPLOYMENT.build(OWNER, spec)["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8000,
        "metrics": 8002,
    }
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "8002"
    command = container["command"]
    assert command[:4] == ["gpufleet-server", "--mode=llm", "--seed=5", "--served-model-name=m"]
    assert not [arg for arg in command if arg.startswith(("--model-repository", "--grpc-port"))]
    assert pod["spec"]["initContainers"] == []  # nothing to download
    service_ports = [p["name"] for p in SERVICE.build(OWNER, spec)["spec"]["ports"]]
    assert service_ports == ["http", "metrics"]
