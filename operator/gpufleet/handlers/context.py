"""What handlers share at run time, kept in kopf's ``memo``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import kopf

from gpufleet.domain.scaling.types import ScalerHistory
from gpufleet.k8s.client import KubernetesApi
from gpufleet.settings import OperatorSettings


@dataclass(slots=True)
class OperatorContext:
    settings: OperatorSettings
    api: KubernetesApi
    histories: dict[str, ScalerHistory] = field(default_factory=dict)
    """Scaling memory per ModelDeployment uid (lost on restart, by design: see policy)."""
    extras: dict[str, Any] = field(default_factory=dict)


def context_of(memo: kopf.Memo) -> OperatorContext:
    ctx = memo.get("gpufleet")
    if not isinstance(ctx, OperatorContext):
        raise kopf.TemporaryError("operator is still starting", delay=1)
    return ctx
