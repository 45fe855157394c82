"""The model repository in Triton's layout: ``<repo>/<model>/config.pbtxt`` and
``<repo>/<model>/<version>/model.pt`` (TorchScript) or ``model.pt2`` (``torch.export``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tritonclient.grpc import model_config_pb2

from gpufleet_server.model_config import (
    CONFIG_FILE,
    ConfigError,
    ModelSpec,
    read_config,
    to_model_spec,
)

MODEL_FILENAMES = ("model.pt", "model.pt2")


@dataclass(frozen=True)
class ModelVersionFiles:
    spec: ModelSpec
    config: model_config_pb2.ModelConfig
    version: int
    weights: Path


def _weights_file(version_dir: Path, spec: ModelSpec) -> Path:
    candidates = (spec.default_model_filename,) if spec.default_model_filename else MODEL_FILENAMES
    for name in candidates:
        if (version_dir / name).is_file():
            return version_dir / name
    raise ConfigError(
        f"model '{spec.name}' version {version_dir.name}: none of {', '.join(candidates)} found"
    )


def _versions_on_disk(model_dir: Path) -> list[int]:
    return [int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()]


def discover(repository: Path) -> list[ModelVersionFiles]:
    """Every model version the repository asks to serve; raises ConfigError on a bad model
    (like Triton with its default strict model control, a broken model stops the server)."""
    if not repository.is_dir():
        raise ConfigError(f"model repository {repository} is not a directory")
    found: list[ModelVersionFiles] = []
    for model_dir in sorted(p for p in repository.iterdir() if (p / CONFIG_FILE).is_file()):
        config = read_config(model_dir)
        spec = to_model_spec(config)
        versions = spec.version_policy.select(_versions_on_disk(model_dir))
        if not versions:
            raise ConfigError(f"model '{spec.name}': no version directory matches its policy")
        for version in versions:
            weights = _weights_file(model_dir / str(version), spec)
            found.append(ModelVersionFiles(spec, config, version, weights))
    if not found:
        raise ConfigError(f"model repository {repository} holds no model with a {CONFIG_FILE}")
    return found
