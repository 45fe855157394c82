"""The ModelDeployment the demo applies, and what the local fleet needs to know about it."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gpufleet.domain.pricing import DEFAULT_GPU_PRICES, gpu_hourly_price, replica_hourly_cost
from gpufleet.domain.spec import ModelDeploymentSpec, parse_spec


@dataclass(frozen=True, slots=True)
class DemoManifest:
    body: dict[str, Any]
    spec: ModelDeploymentSpec

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"].get("namespace") or "default")

    @property
    def replica_hourly_cost(self) -> float:
        return replica_hourly_cost(self.spec, gpu_hourly_price(self.spec, DEFAULT_GPU_PRICES))

    def repository_dir(self, volumes: Path) -> Path:
        """Where ``pvc://claim/path`` lives on this machine."""
        model = self.spec.model
        claim = model.pvc_claim
        if claim is None:
            raise ValueError(f"the local fleet serves pvc:// repositories, not {model.repository}")
        return volumes / claim / model.pvc_sub_path.strip("/")


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_manifest(path: Path, spec_overrides: dict[str, Any] | None = None) -> DemoManifest:
    """The first ModelDeployment in ``path``, its spec merged with ``spec_overrides``."""
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "ModelDeployment":
            body = _merge(doc, {"spec": spec_overrides or {}})
            return DemoManifest(body, parse_spec(body["spec"]))
    raise ValueError(f"{path}: no ModelDeployment in it")
