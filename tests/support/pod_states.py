"""Pod statuses as the scheduler and the kubelet write them, for the emulator's pods.

The emulator runs neither: a test writes what they would, then checks what the
operator makes of it.
"""

from __future__ import annotations

from typing import Any


def unschedulable(scheduler_says: str) -> dict[str, Any]:
    """A pod no node can take (``PodScheduled=False``, reason ``Unschedulable``)."""
    placed = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": scheduler_says,
    }
    return {"phase": "Pending", "conditions": [placed]}


def image_pull_backoff(kubelet_says: str, container: str = "server") -> dict[str, Any]:
    """A pod placed on a node whose container's image cannot be pulled: it holds its
    node's resources and never starts."""
    waiting = {"reason": "ImagePullBackOff", "message": kubelet_says}
    status = {"name": container, "ready": False, "restartCount": 0, "state": {"waiting": waiting}}
    return {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [status],
    }


def serving(ready: str, since: str) -> dict[str, Any]:
    """A pod whose server started at 10:00 and whose Ready condition is ``ready`` since
    ``since``, as the kubelet (or, for a lost node, the node lifecycle controller) writes."""
    return {
        "phase": "Running",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": ready, "lastTransitionTime": since},
        ],
        "containerStatuses": [
            {
                "name": "server",
                "ready": ready == "True",
                "restartCount": 0,
                "state": {"running": {"startedAt": "2026-01-01T10:00:00Z"}},
            }
        ],
    }
