"""Turn a service's report into kopf's status patch and Events."""

from __future__ import annotations

import kopf

from gpufleet.services.reconcile import ReconcileReport


def apply_report(report: ReconcileReport, patch: kopf.Patch, body: kopf.Body) -> None:
    for key, value in report.status.items():
        patch.status[key] = value
    for note in report.events:
        kopf.event(body, type=note.type, reason=note.reason, message=note.message)
