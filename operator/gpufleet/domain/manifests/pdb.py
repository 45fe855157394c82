"""The PodDisruptionBudget: node drains take the model's pods one at a time."""

from __future__ import annotations

from typing import Any

from gpufleet.domain.manifests.identity import (
    Owner,
    child_metadata,
    common_labels,
    selector_labels,
)
from gpufleet.domain.spec import ModelDeploymentSpec


def build_pdb(owner: Owner, spec: ModelDeploymentSpec) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": child_metadata(
            owner, common_labels(owner, spec.model.name, spec.runtime.type.value)
        ),
        "spec": {
            # One at a time, never blocking a drain outright (a budget that allows
            # zero disruptions stalls cluster upgrades).
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(owner)},
            # A pod that never got ready holds no traffic: let drains evict it.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
