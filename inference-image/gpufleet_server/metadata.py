"""Server and model metadata in the v2 protocol's shape (shared by HTTP and gRPC)."""

from __future__ import annotations

from typing import Any

from gpufleet_server import __version__
from gpufleet_server.model_config import ModelSpec, TensorSpec

SERVER_NAME = "gpufleet-server"
EXTENSIONS = ("binary_tensor_data", "model_configuration", "statistics")


def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}


def tensor_shape(spec: ModelSpec, tensor: TensorSpec) -> list[int]:
    """Shape as clients see it: with the batch dimension (-1) when the model batches."""
    return ([-1] if spec.max_batch_size > 0 else []) + list(tensor.dims)


def model_metadata(spec: ModelSpec, versions: list[int], platform: str) -> dict[str, Any]:
    def describe(tensor: TensorSpec) -> dict[str, Any]:
        return {
            "name": tensor.name,
            "datatype": tensor.datatype.protocol_name,
            "shape": tensor_shape(spec, tensor),
        }

    return {
        "name": spec.name,
        "versions": [str(v) for v in sorted(versions)],
        "platform": platform,
        "inputs": [describe(t) for t in spec.inputs],
        "outputs": [describe(t) for t in spec.outputs],
    }
