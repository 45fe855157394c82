"""The inference server's command line, per runtime.

Both runtimes take the same flags (the torch server mirrors ``tritonserver``), so
probes, ports and metrics are identical and the autoscaler need not care which runs.
"""

from __future__ import annotations

from gpufleet.domain.manifests.ports import GRPC_PORT, HTTP_PORT, METRICS_PORT
from gpufleet.domain.spec import ModelDeploymentSpec, RuntimeType

SERVER_BINARIES = {RuntimeType.TRITON: "tritonserver", RuntimeType.TORCH: "gpufleet-server"}


def server_command(spec: ModelDeploymentSpec, repository_path: str) -> list[str]:
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
            # Serve only this model even from a shared repository.
            "--model-control-mode=explicit",
            f"--load-model={spec.model.name}",
            # p95 from Triton itself, not only from histogram buckets.
            "--metrics-config=summary_latencies=true",
        ]
    return command + list(runtime.args)
