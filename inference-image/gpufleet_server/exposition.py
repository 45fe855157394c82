"""Prometheus text exposition (format 0.0.4) that keeps metric names exactly as given.

prometheus_client's ``generate_latest`` renames every counter family to ``<name>_total`` in
its HELP/TYPE lines; Triton's counters have no ``_total``, and dashboards and the operator
query Triton's names, so the families are rendered here instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n")


def _format_value(value: float) -> str:
    if value != value:  # NaN: an empty summary window
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(families: Iterable[Metric]) -> str:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.documentation)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for sample in family.samples:
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sample.labels.items())
            label_part = "{" + labels + "}" if labels else ""
            lines.append(f"{sample.name}{label_part} {_format_value(sample.value)}")
    return "\n".join(lines) + "\n"
