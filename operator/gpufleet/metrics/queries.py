"""Every PromQL query the operator runs, once per tick for the whole fleet.

Each query aggregates ``by (namespace, modeldeployment, pod)`` over all gpufleet
pods at once, so the number of queries per tick is fixed (``len(QUERY_TEMPLATES)``)
however many ModelDeployments there are. The metric names are Triton's; the
torch runtime (``gpufleet_server``) exports the same ones.

Rates use ``rate()`` over the operator's rate window; the reader derives ratios
(latency per request, compute per execution) from sums of rates, which weighs
each pod by its traffic -- an average of per-pod ratios would not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gpufleet.settings import MetricLabels


class Signal(StrEnum):
    """One per-pod series the reader fetches."""

    FRESHNESS = "freshness"
    PENDING = "pending"
    SUCCESS_RATE = "success_rate"
    FAILURE_RATE = "failure_rate"
    INFERENCE_RATE = "inference_rate"
    EXEC_RATE = "exec_rate"
    REQUEST_US_RATE = "request_us_rate"
    QUEUE_US_RATE = "queue_us_rate"
    COMPUTE_US_RATE = "compute_us_rate"
    P95_US = "p95_us"


@dataclass(frozen=True, slots=True)
class QueryTemplate:
    signal: Signal
    promql: str
    """With ``{by}`` (the grouping labels), ``{sel}`` (the gpufleet-pod selector), ``{w}``."""
    why: str


QUERY_TEMPLATES: tuple[QueryTemplate, ...] = (
    QueryTemplate(
        Signal.FRESHNESS,
        "max by ({by}) (timestamp(nv_inference_pending_request_count{sel}))",
        "When each pod was last scraped: older than stale_after_seconds means its numbers "
        "are history, not the present (a hung scrape does not write staleness markers).",
    ),
    QueryTemplate(
        Signal.PENDING,
        "sum by ({by}) (nv_inference_pending_request_count{sel})",
        "Requests waiting in the pod right now: a backlog that must drain.",
    ),
    QueryTemplate(
        Signal.SUCCESS_RATE,
        "sum by ({by}) (rate(nv_inference_request_success{sel}[{w}]))",
        "Completed requests/s: the served load.",
    ),
    QueryTemplate(
        Signal.FAILURE_RATE,
        "sum by ({by}) (rate(nv_inference_request_failure{sel}[{w}]))",
        "Failed requests/s (rejected, cancelled, backend errors), all reasons.",
    ),
    QueryTemplate(
        Signal.INFERENCE_RATE,
        "sum by ({by}) (rate(nv_inference_count{sel}[{w}]))",
        "Inferences/s (a batched request counts its batch): with exec_rate, the batch size.",
    ),
    QueryTemplate(
        Signal.EXEC_RATE,
        "sum by ({by}) (rate(nv_inference_exec_count{sel}[{w}]))",
        "Model executions/s (one per dynamic batch).",
    ),
    QueryTemplate(
        Signal.REQUEST_US_RATE,
        "sum by ({by}) (rate(nv_inference_request_duration_us{sel}[{w}]))",
        "Request latency, cumulative: divided by success_rate, the mean latency.",
    ),
    QueryTemplate(
        Signal.QUEUE_US_RATE,
        "sum by ({by}) (rate(nv_inference_queue_duration_us{sel}[{w}]))",
        "Queueing time, cumulative: divided by success_rate, the mean wait.",
    ),
    QueryTemplate(
        Signal.COMPUTE_US_RATE,
        "sum by ({by}) (rate(nv_inference_compute_infer_duration_us{sel}[{w}]))",
        "Compute time, cumulative: divided by exec_rate, the time one batch takes -- "
        "the replica's service capacity.",
    ),
    QueryTemplate(
        Signal.P95_US,
        'max by ({by}) (nv_inference_request_summary_us{{quantile="0.95"{sel_inner}}})',
        "Per-pod p95 request latency, when Triton runs with "
        "--metrics-config summary_latencies=true (NaN when the pod had no requests lately).",
    ),
)


def _window(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


def build_queries(labels: MetricLabels, rate_window_seconds: float) -> dict[Signal, str]:
    """The PromQL of each signal for these label names and rate window."""
    by = f"{labels.namespace}, {labels.modeldeployment}, {labels.pod}"
    sel_inner = f',{labels.modeldeployment}!=""'
    sel = f'{{{labels.modeldeployment}!=""}}'
    window = _window(rate_window_seconds)
    queries: dict[Signal, str] = {}
    for template in QUERY_TEMPLATES:
        if template.signal is Signal.P95_US:
            queries[template.signal] = template.promql.format(by=by, sel_inner=sel_inner)
        else:
            queries[template.signal] = template.promql.format(by=by, sel=sel, w=window)
    return queries
