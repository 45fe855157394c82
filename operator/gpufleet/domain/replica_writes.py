"""Who set a Deployment's replicas: the autoscaler, or another writer it would fight.

An HorizontalPodAutoscaler (a KEDA ScaledObject makes one) or a person's
``kubectl scale`` left on a model Deployment writes the same ``spec.replicas`` as
gpufleet's autoscaler; the two then undo each other's writes, and the fleet follows
neither policy. The Deployment itself tells: its ``metadata.generation`` grows with
every change of its spec and only then, so a generation past the autoscaler's own
write with replicas it did not set was written by someone else. (Status writes, such
as the Deployment controller's, keep the generation.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ReplicasWritten:
    """The replicas last set on a Deployment, as the API server answered the write."""

    deployment_uid: str
    generation: int
    """The Deployment's ``metadata.generation`` after the write."""
    replicas: int

    @classmethod
    def from_answer(cls, deployment: Mapping[str, Any]) -> ReplicasWritten | None:
        """From the API server's answer to a write of the replicas (``None``: not a
        Deployment as the API server returns one)."""
        meta = deployment.get("metadata") or {}
        uid, generation = meta.get("uid"), meta.get("generation")
        replicas = (deployment.get("spec") or {}).get("replicas")
        if not isinstance(uid, str) or not isinstance(generation, int):
            return None
        if not isinstance(replicas, int):
            return None
        return cls(uid, generation, replicas)

    def overridden_in(self, deployment: Mapping[str, Any]) -> ReplicasWritten | None:
        """``deployment`` as its watch shows it now, if another writer changed its replicas
        since this write; ``None`` if none did (or it is another Deployment, or an older
        state than this write, arriving late)."""
        seen = ReplicasWritten.from_answer(deployment)
        if seen is None or seen.deployment_uid != self.deployment_uid:
            return None
        if seen.generation <= self.generation or seen.replicas == self.replicas:
            return None
        return seen


@dataclass(frozen=True, slots=True)
class Override:
    """Another writer's change of the replicas the autoscaler had set."""

    autoscaler_set: int
    set_to: int


class ReplicaWrites:
    """The autoscaler's writes of each ModelDeployment's replicas, by ModelDeployment uid.

    A write's own watch event may be handled before the write's answer is back (the
    event loop runs the watch while the patch awaits its response): a write is therefore
    noted when it is sent, and its replicas are never taken for another writer's.
    """

    def __init__(self) -> None:
        self._written: dict[str, ReplicasWritten] = {}
        self._sending: dict[str, int] = {}

    def sending(self, uid: str, replicas: int) -> None:
        self._sending[uid] = replicas

    def sent(self, uid: str, answer: Mapping[str, Any] | None) -> None:
        """The write's answer (``None``: it was refused, so it did not land). A write whose
        fate is unknown (a timeout) is left as sending: its replicas stay the autoscaler's."""
        self._sending.pop(uid, None)
        written = None if answer is None else ReplicasWritten.from_answer(answer)
        if written is not None:
            self._written[uid] = written

    def override_in(self, uid: str, deployment: Mapping[str, Any]) -> Override | None:
        """Another writer's change in ``deployment`` (as its watch shows it now), if any;
        each change is told once."""
        written = self._written.get(uid)
        seen = None if written is None else written.overridden_in(deployment)
        if written is None or seen is None or seen.replicas == self._sending.get(uid):
            return None
        # The next change is judged against this one (or against the autoscaler's next write).
        self._written[uid] = seen
        return Override(autoscaler_set=written.replicas, set_to=seen.replicas)

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)
        self._sending.pop(uid, None)
