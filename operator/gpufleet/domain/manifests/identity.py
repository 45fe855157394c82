"""Who a child belongs to: names, labels, the owner reference."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gpufleet import GROUP, KIND, VERSION

MANAGED_BY = "gpufleet"
OWNER_LABEL = f"{GROUP}/modeldeployment"
RUNTIME_LABEL = f"{GROUP}/runtime"


@dataclass(frozen=True, slots=True)
class Owner:
    """The ModelDeployment a child is built for (its identity, not its spec)."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            # Foreground deletion of the ModelDeployment waits for its children.
            "blockOwnerDeletion": True,
        }


def label_value(text: str) -> str:
    """Coerce ``text`` into a valid label value (<= 63 chars, alnum at both ends)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    return cleaned.strip("-_.") or "model"


def selector_labels(owner: Owner) -> dict[str, str]:
    """The immutable Deployment selector: one label that only this owner's pods have."""
    return {OWNER_LABEL: owner.name}


def common_labels(owner: Owner, model_name: str, runtime: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": label_value(model_name),
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/component": "inference",
        "app.kubernetes.io/part-of": "gpufleet",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        OWNER_LABEL: owner.name,
        RUNTIME_LABEL: runtime,
    }


def child_metadata(owner: Owner, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "name": owner.name,
        "namespace": owner.namespace,
        "labels": dict(labels),
        "ownerReferences": [owner.reference()],
    }
