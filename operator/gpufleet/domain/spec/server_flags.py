"""Server flags the operator sets itself, which ``runtime.args`` may not set."""

from __future__ import annotations

RESERVED_SERVER_FLAGS = frozenset(
    {
        "--model-repository",
        "--http-port",
        "--grpc-port",
        "--metrics-port",
        "--exit-timeout-secs",
        # Triton serves only this model, with no model-control API (see manifests/server.py).
        "--model-control-mode",
        "--load-model",
        # vLLM: the port the probes and the Service use, and the name clients call.
        "--host",
        "--port",
        "--served-model-name",
    }
)
"""Flags the operator sets itself; a user overriding them would break probes, metrics or
the closed model-control API."""

TORCH_OWNED_FLAGS = ("--mode", "--seed")
"""gpufleet-server flags the operator sets from runtime.torch.mode and a seed:// repository."""
