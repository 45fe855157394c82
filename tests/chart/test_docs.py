"""Docs that must follow the chart: the values table and one runbook per alert."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from .render import CHART_DIR, REPO_ROOT, render


def _values_doc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("values_doc", CHART_DIR / "ci" / "values_doc.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_doc_is_generated_from_the_schema() -> None:
    doc = REPO_ROOT / "docs" / "configuration.md"
    assert doc.read_text() == _values_doc().render(), (
        "docs/configuration.md is stale: run .venv/bin/python charts/gpufleet/ci/values_doc.py"
    )


def test_configuration_doc_lists_every_value() -> None:
    text = _values_doc().render()
    for key in ("operator.tickSeconds", "watch.scope", "prometheusRule.alerts.sloMissed.for"):
        assert f"| `{key}` |" in text


def test_every_alert_has_a_runbook_section(chart_dir: Path) -> None:
    values = {"prometheusRule": {"enabled": True}, "metrics": {"serviceMonitor": {"enabled": True}}}
    rule = render(chart_dir, values).one("PrometheusRule")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    runbooks = (REPO_ROOT / "docs" / "runbooks.md").read_text()
    headings = {h.strip().lower() for h in re.findall(r"^## (.+)$", runbooks, flags=re.M)}
    assert len(alerts) == 8
    for alert in alerts:
        assert alert["alert"].lower() in headings, f"docs/runbooks.md has no '## {alert['alert']}'"
        anchor = alert["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == alert["alert"].lower()
