"""Post the Events a service asked for."""

from __future__ import annotations

from collections.abc import Iterable

import kopf

from gpufleet.services.status import EventNote


def post_events(body: kopf.Body, notes: Iterable[EventNote]) -> None:
    for note in notes:
        kopf.event(body, type=note.type, reason=note.reason, message=note.message)
