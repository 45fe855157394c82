"""Post the Events a service asked for."""

from __future__ import annotations

from collections.abc import Iterable

import kopf

from gpufleet import GROUP, KIND, VERSION
from gpufleet.services.status import EventNote


def post_events(body: kopf.Body, notes: Iterable[EventNote]) -> None:
    for note in notes:
        kopf.event(body, type=note.type, reason=note.reason, message=note.message)


def md_reference(namespace: str, name: str, uid: str) -> kopf.Body:
    """Enough of a ModelDeployment for kopf to post Events about it."""
    return kopf.Body(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"namespace": namespace, "name": name, "uid": uid},
        }
    )
