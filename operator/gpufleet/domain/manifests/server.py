"""The inference server's command line, ports and health endpoints, per runtime.

Triton and the torch server take the same flags (the torch server mirrors
``tritonserver``) and serve HTTP, gRPC and metrics on three ports. The torch server's
LLM mode (``runtime.torch.mode: llm``) serves OpenAI's API on the HTTP port and vLLM's
metrics on the metrics port, and no gRPC. vLLM's OpenAI-compatible server serves HTTP
and ``/metrics`` on one port; its container names that port both ``http`` and
``metrics`` so the Service, the PodMonitor and the operator's queries address every
runtime the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gpufleet.domain.manifests.ports import GRPC_PORT, HTTP_PORT, METRICS_PORT
from gpufleet.domain.spec import ModelDeploymentSpec, RuntimeSpec, RuntimeType

SERVER_BINARIES = {
    RuntimeType.TRITON: "tritonserver",
    RuntimeType.TORCH: "gpufleet-server",
    RuntimeType.VLLM: "vllm",
}
PROBE_PERIOD_SECONDS = 5
LLM_WEIGHT_LOAD_SECONDS = 20 * 60
"""Time a vLLM pod may take to start before the kubelet restarts it: downloading and
loading tens of GB of weights, then CUDA graph capture, takes minutes on a cold node."""


@dataclass(frozen=True, slots=True)
class HealthEndpoints:
    ready: str
    live: str


HEALTH = {
    RuntimeType.TRITON: HealthEndpoints("/v2/health/ready", "/v2/health/live"),
    # Both modes of the torch server: ready false while the model loads and from SIGTERM on
    # (the drain), live while the process serves.
    RuntimeType.TORCH: HealthEndpoints("/v2/health/ready", "/v2/health/live"),
    # vLLM answers /health once the engine is up and fails it when the engine dies.
    RuntimeType.VLLM: HealthEndpoints("/health", "/health"),
}


def _user_sets(args: list[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in args)


def _triton_like_command(spec: ModelDeploymentSpec, repository_path: str) -> list[str]:
    runtime = spec.runtime
    command = [
        SERVER_BINARIES[runtime.type],
        f"--model-repository={repository_path}",
        f"--http-port={HTTP_PORT}",
        f"--grpc-port={GRPC_PORT}",
        f"--metrics-port={METRICS_PORT}",
        f"--exit-timeout-secs={runtime.exit_timeout_seconds}",
    ]
    if runtime.type is RuntimeType.TRITON:
        command += [
            # The repository holds only this model (see repository.py) and Triton loads it
            # at start. In mode "none" the load/unload API answers with an error: nobody who
            # can reach the pod can load or unload models ("explicit" would let them).
            "--model-control-mode=none",
            # p95 from Triton itself, not only from histogram buckets.
            "--metrics-config=summary_latencies=true",
        ]
    return command


def _vllm_command(spec: ModelDeploymentSpec, model: str) -> list[str]:
    command = [
        SERVER_BINARIES[RuntimeType.VLLM],
        "serve",
        model,
        "--host=0.0.0.0",
        f"--port={HTTP_PORT}",
        # Clients and metrics name the model as the spec does, wherever it was loaded from.
        f"--served-model-name={spec.model.name}",
    ]
    gpus = spec.resources.gpus
    if gpus > 1 and not _user_sets(spec.runtime.args, "--tensor-parallel-size"):
        command.append(f"--tensor-parallel-size={gpus}")
    return command


def _torch_llm_command(spec: ModelDeploymentSpec) -> list[str]:
    """The torch server's LLM mode: no repository, its weights drawn from the seed."""
    return [
        SERVER_BINARIES[RuntimeType.TORCH],
        "--mode=llm",
        f"--seed={spec.model.seed}",
        # Clients and metrics (vLLM's model_name label) name the model as the spec does.
        f"--served-model-name={spec.model.name}",
        f"--http-port={HTTP_PORT}",
        f"--metrics-port={METRICS_PORT}",
        f"--exit-timeout-secs={spec.runtime.exit_timeout_seconds}",
    ]


def server_command(spec: ModelDeploymentSpec, repository_path: str) -> list[str]:
    """The command line; ``repository_path`` is a path in the container or an hf model id."""
    if spec.runtime.type is RuntimeType.VLLM:
        command = _vllm_command(spec, repository_path)
    elif spec.runtime.torch_llm:
        command = _torch_llm_command(spec)
    else:
        command = _triton_like_command(spec, repository_path)
    return command + list(spec.runtime.args)


def server_env(runtime: RuntimeType) -> list[dict[str, Any]]:
    """Environment the server needs whatever the user sets."""
    if runtime is RuntimeType.VLLM:
        # vLLM, torch and Triton kernels keep compile caches under $HOME; the image's HOME
        # is not writable by the pod's non-root user.
        return [{"name": "HOME", "value": "/tmp"}]
    return []


def shm_size(runtime: RuntimeType) -> str:
    """/dev/shm: Triton's Python backend and NCCL between tensor-parallel workers use it
    (vLLM's Kubernetes guide gives it 2Gi)."""
    return "2Gi" if runtime is RuntimeType.VLLM else "1Gi"


def serves_grpc(runtime: RuntimeSpec) -> bool:
    """Triton's gRPC protocol: Triton and the torch server's Triton mode speak it."""
    return runtime.type is not RuntimeType.VLLM and not runtime.torch_llm


def metrics_port(runtime: RuntimeSpec) -> int:
    return HTTP_PORT if runtime.type is RuntimeType.VLLM else METRICS_PORT


def container_ports(runtime: RuntimeSpec) -> list[dict[str, Any]]:
    ports = [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}]
    if serves_grpc(runtime):
        ports.append({"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"})
    ports.append({"name": "metrics", "containerPort": metrics_port(runtime), "protocol": "TCP"})
    return ports


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def startup_failure_threshold(spec: ModelDeploymentSpec) -> int:
    """Startup probe failures allowed: twice the expected cold start (LLMs: at least 20 min).

    A slow load is better than a restart loop that never finishes loading.
    """
    allowed = 2 * spec.scaling.cold_start_seconds
    if spec.runtime.type is RuntimeType.VLLM:
        allowed = max(allowed, LLM_WEIGHT_LOAD_SECONDS)
    return max(6, math.ceil(allowed / PROBE_PERIOD_SECONDS))


def probes(spec: ModelDeploymentSpec) -> dict[str, Any]:
    health = HEALTH[spec.runtime.type]
    return {
        "startupProbe": _probe(health.ready, PROBE_PERIOD_SECONDS, startup_failure_threshold(spec)),
        "readinessProbe": _probe(health.ready, PROBE_PERIOD_SECONDS, 2),
        "livenessProbe": _probe(health.live, 10, 3),
    }
