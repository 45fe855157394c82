"""Every PromQL query the operator runs per tick, and the one table from engine to signal.

The fleet is read with one query per tick, however many ModelDeployments and engines
there are (``tick_query``): each signal's query, labelled with its name, joined by ``or``.
Each signal's query is the ``or`` of every engine's way of measuring it, each part
aggregated ``by (namespace, modeldeployment, pod)``. ``or`` keeps, per pod, the first
part that has a value, so one query serves a fleet that mixes engines, and an engine's
new metric name is preferred over its deprecated one while both are accepted.

Triton exports its ``nv_inference_*`` once per model it has loaded (label ``model``,
and ``version``): a pod serving an ensemble -- TensorRT-LLM's usual repository,
``preprocessing`` -> ``tensorrt_llm`` -> ``postprocessing`` composed by ``ensemble`` (or
``tensorrt_llm_bls``) -- counts each request once per model it passes through, so their
sum reads ~4x the clients' requests, mixes the models' latencies, adds their queues and
counts a composing model's failure twice (again as the ensemble's ``OTHER``). Those parts
are aggregated ``by (namespace, modeldeployment, pod, model)`` (``Source.per_model``) and
the reader keeps each pod's entry model's series (``gpufleet.metrics.sample``: the
ModelDeployment's ``spec.model.name``, the model clients call; a pod's only model
whatever its name; unknown where there are several and none is the spec's). The model is
not put in the query: it differs per ModelDeployment, and the query is one for the
fleet. Between a per-model part and one without the label, ``or on (namespace,
modeldeployment, pod)`` keeps the precedence per pod (plain ``or`` matches whole label
sets, which then never match, and would keep both); consecutive per-model parts are
``or``-ed first, per model. Per pod and not per model: a pod's scrape time and count
(``max`` over its models' series, scraped together), its engine, the TensorRT-LLM
backend's ``nv_trt_llm_*`` and ``nv_llm_*`` (the ``tensorrt_llm`` model's alone) and
``vllm:*``.

Why one query and not one per signal at the same ``time=``: a scrape's samples carry
the time the scrape began but are stored once its body has been read, so a scrape in
flight when a tick starts can land between two queries of the tick. One query sees a
scrape's samples all or none (Prometheus's head isolation): the tick's ratios (time per
request, requests per execution) and a warming pod's scrape count then describe the same
samples. Read apart, two counters of one pod could disagree by a whole scrape, and so
would every ratio between them.

Engines (recognised per pod from the metrics it exports, see ``Signal.ENGINE``):

============== =================================================================
triton         Triton Inference Server, classic models; gpufleet-server (the torch
               runtime) exports the same names
vllm           vLLM's OpenAI-compatible server (and gpufleet-server's LLM mode)
triton-trtllm  Triton serving a TensorRT-LLM backend model (``nv_trt_llm_*``)
triton-vllm    Triton serving its vLLM backend (``vllm:*`` beside ``nv_inference_*``):
               the backend's own ``vllm:*`` (vllm_backend ``src/utils/metrics.py``,
               labelled ``model``/``version``) are token counters and the TTFT, ITL
               (old name) and end-to-end histograms only: no scheduler gauges
               (running, waiting), no KV-cache usage
============== =================================================================

Signal to metric, in precedence order (see ``QUERIES`` for the exact PromQL):

- queue waiting: ``vllm:num_requests_waiting`` (vLLM's server);
  ``nv_trt_llm_request_metrics{request_type="waiting"}``;
  ``nv_inference_pending_request_count`` (Triton: requests awaiting execution only; with
  the vLLM backend it does not see vLLM's own waiting queue)
- running: ``vllm:num_requests_running`` (vLLM's server);
  ``nv_trt_llm_request_metrics{request_type="scheduled"}``; and the same gauges
  averaged over the rate window (``avg_over_time``), which pair with the token rates
- KV-cache usage (0..1): ``vllm:kv_cache_usage_perc``, deprecated (removed in recent
  releases) ``vllm:gpu_cache_usage_perc`` (vLLM's server; averaged over a pod's
  data-parallel ``engine`` series); ``nv_trt_llm_kv_cache_block_metrics``
  (``used`` / ``max`` blocks, else ``fraction``: the backend creates every
  ``kv_cache_block_type`` series at 0 when the model loads and sets only those its
  executor's stats report, so a ``fraction`` the executor does not report stays 0)
- TTFT: ``vllm:time_to_first_token_seconds``; Triton's
  ``nv_inference_first_response_histogram_ms`` (needs ``--metrics-config
  histogram_latencies=true``; per model: the entry model's buckets, summed over the fleet)
- ITL: ``vllm:inter_token_latency_seconds``, deprecated
  ``vllm:time_per_output_token_seconds``
- TPOT (each finished request's mean gap after its first token):
  ``vllm:request_time_per_output_token_seconds`` (vLLM's server; releases without it,
  and Triton's vLLM backend, leave TPOT unmeasured)
- TTFT, ITL and TPOT p99: the same histograms at the 0.99 quantile (the tail the LLM
  rules size for)
- end-to-end latency: ``vllm:e2e_request_latency_seconds`` (histogram);
  ``nv_inference_request_duration_us`` (mean) and Triton's p95 summary
- preemptions (sequences whose KV blocks a full cache took back, to be recomputed):
  ``vllm:num_preemptions_total`` (vLLM's server; TensorRT-LLM's scheduler does not
  evict by default and exports no such counter)
- prompt / generation tokens: ``vllm:prompt_tokens_total`` /
  ``vllm:generation_tokens_total``; ``nv_llm_input_token_len`` /
  ``nv_llm_output_token_len`` (TensorRT-LLM backend)
- served: ``nv_inference_request_success``; ``vllm:request_success_total`` by
  ``finished_reason`` (``stop``, ``length``, ``repetition``: every reason but ``abort``
  and ``error``)
- unserved, demand a replica added would serve: Triton's
  ``nv_inference_request_failure`` with ``reason`` ``REJECTED`` (the queue timeout
  expired) or ``CANCELED`` (the client gave up), or without a ``reason`` (Triton before
  the label, which cannot tell); vLLM's ``finished_reason="abort"``
- errors, which more replicas do not serve: ``reason`` ``BACKEND`` (the model failed)
  or ``OTHER`` (pre-execution checks, ensembles); vLLM's ``finished_reason="error"``

p95s (and p99s) come from ``histogram_quantile`` over the rate window, over the
ModelDeployment's summed buckets (a fleet-wide quantile, not an average of pods'
quantiles; Triton's per model, ``by (namespace, modeldeployment, model, le)``). Rates
use ``rate()`` over the operator's rate window; the sample derives ratios (latency per
request, time per batch) from sums of rates, which weighs each pod by its traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import groupby
from string import Template

from gpufleet.settings import MetricLabels

MODEL_LABEL = "model"
"""Triton's label naming the model a ``nv_inference_*`` series counts (beside ``version``)."""


class Engine(StrEnum):
    """The model server behind a pod, as recognised from the metrics it exports."""

    TRITON = "triton"
    VLLM = "vllm"
    TRITON_TRTLLM = "triton-trtllm"
    TRITON_VLLM = "triton-vllm"


ENGINE_CODES: dict[int, Engine] = {
    1: Engine.TRITON,
    2: Engine.VLLM,
    3: Engine.TRITON_TRTLLM,
    4: Engine.TRITON_VLLM,
}
"""The value ``Signal.ENGINE`` returns per pod (PromQL returns numbers, not names)."""

_TRITON_ALL = (Engine.TRITON, Engine.TRITON_TRTLLM, Engine.TRITON_VLLM)
_VLLM_ALL = (Engine.VLLM, Engine.TRITON_VLLM)


class Signal(StrEnum):
    """One series the reader fetches per tick."""

    FRESHNESS = "freshness"
    SCRAPES = "scrapes"
    ENGINE = "engine"
    PENDING = "pending"
    RUNNING = "running"
    RUNNING_MEAN = "running_mean"
    SUCCESS_RATE = "success_rate"
    UNSERVED_RATE = "unserved_rate"
    ERROR_RATE = "error_rate"
    INFERENCE_RATE = "inference_rate"
    EXEC_RATE = "exec_rate"
    REQUEST_US_RATE = "request_us_rate"
    QUEUE_US_RATE = "queue_us_rate"
    COMPUTE_US_RATE = "compute_us_rate"
    P95_US = "p95_us"
    E2E_P95_MS = "e2e_p95_ms"
    TTFT_P95_MS = "ttft_p95_ms"
    ITL_P95_MS = "itl_p95_ms"
    TTFT_P99_MS = "ttft_p99_ms"
    ITL_P99_MS = "itl_p99_ms"
    TPOT_P95_MS = "tpot_p95_ms"
    TPOT_P99_MS = "tpot_p99_ms"
    KV_USAGE = "kv_usage"
    PROMPT_TOKENS_RATE = "prompt_tokens_rate"
    GENERATION_TOKENS_RATE = "generation_tokens_rate"
    PREEMPTION_RATE = "preemption_rate"


@dataclass(frozen=True, slots=True)
class Source:
    """One engine's way to measure a signal: a PromQL expression template.

    Placeholders: ``$by`` (namespace, modeldeployment, pod labels), ``$fleet``
    (namespace, modeldeployment labels), ``$sel`` (the matchers of the pods read: gpufleet's,
    in the watched namespaces; to put inside a selector's braces), ``$w`` (the rate window),
    ``$model`` (Triton's model label, ``MODEL_LABEL``: a source grouped by it is per model).
    """

    engines: tuple[Engine, ...]
    promql: str

    @property
    def per_model(self) -> bool:
        """Grouped by Triton's model label too: one series per pod (or fleet) and model."""
        return "$model" in self.promql


@dataclass(frozen=True, slots=True)
class SignalQuery:
    signal: Signal
    sources: tuple[Source, ...]
    """In precedence order: per pod (or per fleet), the first with a value wins."""
    why: str
    per_pod: bool = True
    """False: one value per ModelDeployment (a fleet-wide histogram quantile)."""

    @property
    def engines(self) -> frozenset[Engine]:
        """Engines that export this signal: for the others it is not unknown, just absent."""
        return frozenset(e for source in self.sources for e in source.engines)


def _rate(metric: str, matchers: str = "", by: str = "$by") -> str:
    return f"sum by ({by}) (rate({metric}{{{matchers}$sel}}[$w]))"


def _gauge(metric: str, matchers: str = "", agg: str = "sum", by: str = "$by") -> str:
    return f"{agg} by ({by}) ({metric}{{{matchers}$sel}})"


_PER_MODEL = "$by, $model"
"""Triton's per-model metrics are grouped by pod and model: the reader keeps one model's
per pod (``gpufleet.metrics.sample``), never their sum."""


def _model_rate(metric: str, matchers: str = "") -> str:
    return _rate(metric, matchers, by=_PER_MODEL)


def _model_gauge(metric: str, agg: str = "sum") -> str:
    return _gauge(metric, agg=agg, by=_PER_MODEL)


def _mean_gauge(metric: str, matchers: str = "") -> str:
    return f"sum by ($by) (avg_over_time({metric}{{{matchers}$sel}}[$w]))"


def _quantile(bucket: str, scale: str = "", quantile: str = "0.95", by: str = "$fleet") -> str:
    return f"histogram_quantile({quantile}, sum by ({by}, le) (rate({bucket}{{$sel}}[$w]))){scale}"


def _model_quantile(bucket: str, quantile: str = "0.95") -> str:
    """A fleet-wide quantile of each Triton model's histogram."""
    return _quantile(bucket, quantile=quantile, by="$fleet, $model")


_VLLM_SERVED = 'finished_reason!~"abort|error",'
_VLLM_IDLE = f"0 * {_rate('vllm:generation_tokens_total')}"
"""vLLM creates a ``finished_reason`` series on its first such request: until then the
count is 0 where the engine reports at all (needs 2 scrapes, as the rates do)."""
_TRITON_ERRORS = 'reason=~"BACKEND|OTHER",'
"""Triton's failure reasons (core's ``FailureReason``) that are errors, not load:
``BACKEND`` (the model's execution failed), ``OTHER`` (pre-execution checks, ensemble
steps). ``REJECTED`` (the queue policy's timeout expired) and ``CANCELED`` (the client
cancelled) are requests that waited for capacity."""
_TRITON_UNSERVED = 'reason!~"BACKEND|OTHER",'
"""The other failures, and every failure of a Triton without the label (it cannot tell)."""
_TRITON_IDLE = f"0 * {_model_rate('nv_inference_request_success')}"
"""A Triton model with no series of a failure reason (one without the label has no errors
series) has none of them: 0 where it reports at all."""

_ITL_NEW = "sum by ($by, le) (rate(vllm:inter_token_latency_seconds_bucket{$sel}[$w]))"
_ITL_OLD = "sum by ($by, le) (rate(vllm:time_per_output_token_seconds_bucket{$sel}[$w]))"
_ITL_BUCKETS = f"{_ITL_NEW} or ({_ITL_OLD} unless on ($by) {_ITL_NEW})"
"""A pod's new-name buckets, else its deprecated ones: never a mix within a pod."""
_TPOT_BUCKET = "vllm:request_time_per_output_token_seconds_bucket"


def _present(metric: str) -> str:
    return f"count by ($by) ({metric}{{$sel}})"


QUERIES: tuple[SignalQuery, ...] = (
    SignalQuery(
        Signal.FRESHNESS,
        (
            Source(
                _TRITON_ALL, "max by ($by) (timestamp(nv_inference_pending_request_count{$sel}))"
            ),
            Source((Engine.VLLM,), "max by ($by) (timestamp(vllm:num_requests_running{$sel}))"),
        ),
        "When each pod was last scraped: older than stale_after_seconds means its numbers "
        "are history, not the present (a hung scrape does not write staleness markers).",
    ),
    SignalQuery(
        Signal.SCRAPES,
        (
            Source(
                _TRITON_ALL,
                "max by ($by) (count_over_time(nv_inference_pending_request_count{$sel}[$w]))",
            ),
            Source(
                (Engine.VLLM,),
                "max by ($by) (count_over_time(vllm:num_requests_running{$sel}[$w]))",
            ),
        ),
        "Scrapes of each pod within the rate window: fewer than the window holds, the pod is "
        "warming up (rate() has no value below two samples, and understates a series "
        "younger than the window): its rates are lower bounds, not a loss of metrics.",
    ),
    SignalQuery(
        Signal.ENGINE,
        (
            Source((Engine.TRITON_TRTLLM,), f"0 * {_present('nv_trt_llm_request_metrics')} + 3"),
            Source(
                (Engine.TRITON_VLLM,),
                f"(0 * {_present('vllm:generation_tokens_total')} + 4)"
                f" and {_present('nv_inference_pending_request_count')}",
            ),
            Source((Engine.VLLM,), f"0 * {_present('vllm:generation_tokens_total')} + 2"),
            Source((Engine.TRITON,), f"0 * {_present('nv_inference_pending_request_count')} + 1"),
        ),
        "Which engine each pod runs (ENGINE_CODES): which signals it should export.",
    ),
    SignalQuery(
        Signal.PENDING,
        (
            Source((Engine.VLLM,), _gauge("vllm:num_requests_waiting")),
            Source(
                (Engine.TRITON_TRTLLM,),
                _gauge("nv_trt_llm_request_metrics", 'request_type="waiting",'),
            ),
            Source(_TRITON_ALL, _model_gauge("nv_inference_pending_request_count")),
        ),
        "Requests waiting in the pod right now (not those being executed): a backlog "
        "that must drain.",
    ),
    SignalQuery(
        Signal.RUNNING,
        (
            Source((Engine.VLLM,), _gauge("vllm:num_requests_running")),
            Source(
                (Engine.TRITON_TRTLLM,),
                _gauge("nv_trt_llm_request_metrics", 'request_type="scheduled",'),
            ),
        ),
        "Requests in the running batch (LLM engines).",
    ),
    SignalQuery(
        Signal.RUNNING_MEAN,
        (
            Source((Engine.VLLM,), _mean_gauge("vllm:num_requests_running")),
            Source(
                (Engine.TRITON_TRTLLM,),
                _mean_gauge("nv_trt_llm_request_metrics", 'request_type="scheduled",'),
            ),
        ),
        "The running batch averaged over the rate window: with the generated tokens' rate "
        "over the same window, the mean iteration time (Little's law; the batch right now "
        "is one moment of a window the rate averages).",
    ),
    SignalQuery(
        Signal.SUCCESS_RATE,
        (
            Source(_TRITON_ALL, _model_rate("nv_inference_request_success")),
            Source((Engine.VLLM,), _rate("vllm:request_success_total", _VLLM_SERVED)),
            Source((Engine.VLLM,), _VLLM_IDLE),
        ),
        "Successfully completed requests/s: the served load.",
    ),
    SignalQuery(
        Signal.UNSERVED_RATE,
        (
            Source(_TRITON_ALL, _model_rate("nv_inference_request_failure", _TRITON_UNSERVED)),
            Source(_TRITON_ALL, _TRITON_IDLE),
            Source((Engine.VLLM,), _rate("vllm:request_success_total", 'finished_reason="abort",')),
            Source((Engine.VLLM,), _VLLM_IDLE),
        ),
        "Requests/s that left unserved for want of capacity (timed out in the queue, "
        "cancelled by the client): demand too.",
    ),
    SignalQuery(
        Signal.ERROR_RATE,
        (
            Source(_TRITON_ALL, _model_rate("nv_inference_request_failure", _TRITON_ERRORS)),
            Source(_TRITON_ALL, _TRITON_IDLE),
            Source((Engine.VLLM,), _rate("vllm:request_success_total", 'finished_reason="error",')),
            Source((Engine.VLLM,), _VLLM_IDLE),
        ),
        "Requests/s the model or server failed: not demand (more replicas do not serve "
        "them), not idleness either.",
    ),
    SignalQuery(
        Signal.INFERENCE_RATE,
        (Source(_TRITON_ALL, _model_rate("nv_inference_count")),),
        "Inferences/s (a request of batch n counts n): with exec_rate, the batch size.",
    ),
    SignalQuery(
        Signal.EXEC_RATE,
        (Source(_TRITON_ALL, _model_rate("nv_inference_exec_count")),),
        "Model executions/s (one per dynamic batch).",
    ),
    SignalQuery(
        Signal.REQUEST_US_RATE,
        (
            Source(_TRITON_ALL, _model_rate("nv_inference_request_duration_us")),
            Source((Engine.VLLM,), f"1e6 * {_rate('vllm:e2e_request_latency_seconds_sum')}"),
        ),
        "Request latency, cumulative (us/s): divided by the served rate, the mean latency.",
    ),
    SignalQuery(
        Signal.QUEUE_US_RATE,
        (
            Source(_TRITON_ALL, _model_rate("nv_inference_queue_duration_us")),
            Source((Engine.VLLM,), f"1e6 * {_rate('vllm:request_queue_time_seconds_sum')}"),
        ),
        "Queueing time, cumulative (us/s): divided by the served rate, the mean wait.",
    ),
    SignalQuery(
        Signal.COMPUTE_US_RATE,
        (Source(_TRITON_ALL, _model_rate("nv_inference_compute_infer_duration_us")),),
        "Compute time, cumulative (us/s). Triton credits every request of a batch with the "
        "whole batch's time, so divided by the served rate it is the time of one batch "
        "execution (divided by exec_rate it would be that time times the batch size).",
    ),
    SignalQuery(
        Signal.P95_US,
        (
            Source(
                _TRITON_ALL,
                'max by ($by, $model) (nv_inference_request_summary_us{quantile="0.95",$sel})',
            ),
        ),
        "Per-pod p95 request latency, when Triton runs with "
        "--metrics-config summary_latencies=true (NaN when the pod had no requests lately).",
    ),
    SignalQuery(
        Signal.E2E_P95_MS,
        (Source(_VLLM_ALL, _quantile("vllm:e2e_request_latency_seconds_bucket", " * 1000")),),
        "p95 end-to-end request latency over the fleet's summed histogram buckets.",
        per_pod=False,
    ),
    SignalQuery(
        Signal.TTFT_P95_MS,
        (
            Source(_VLLM_ALL, _quantile("vllm:time_to_first_token_seconds_bucket", " * 1000")),
            Source(
                (Engine.TRITON_TRTLLM,),
                _model_quantile("nv_inference_first_response_histogram_ms_bucket"),
            ),
        ),
        "p95 time to first token (Triton: to the first response of a streaming model).",
        per_pod=False,
    ),
    SignalQuery(
        Signal.ITL_P95_MS,
        (
            Source(
                _VLLM_ALL,
                f"histogram_quantile(0.95, sum by ($fleet, le) ({_ITL_BUCKETS})) * 1000",
            ),
        ),
        "p95 inter-token latency (vLLM's new name, else its deprecated one, per pod).",
        per_pod=False,
    ),
    SignalQuery(
        Signal.TTFT_P99_MS,
        (
            Source(
                _VLLM_ALL,
                _quantile("vllm:time_to_first_token_seconds_bucket", " * 1000", quantile="0.99"),
            ),
            Source(
                (Engine.TRITON_TRTLLM,),
                _model_quantile("nv_inference_first_response_histogram_ms_bucket", quantile="0.99"),
            ),
        ),
        "p99 time to first token, from the same buckets: how the slowest streams start "
        "(the LLM rules size so that 99 % of streams meet both targets, not 95 % of each).",
        per_pod=False,
    ),
    SignalQuery(
        Signal.ITL_P99_MS,
        (
            Source(
                _VLLM_ALL,
                f"histogram_quantile(0.99, sum by ($fleet, le) ({_ITL_BUCKETS})) * 1000",
            ),
        ),
        "p99 inter-token latency, from the same buckets as the p95.",
        per_pod=False,
    ),
    SignalQuery(
        Signal.TPOT_P95_MS,
        (Source((Engine.VLLM,), _quantile(_TPOT_BUCKET, " * 1000")),),
        "p95 time per output token: each finished request's mean gap after its first.",
        per_pod=False,
    ),
    SignalQuery(
        Signal.TPOT_P99_MS,
        (Source((Engine.VLLM,), _quantile(_TPOT_BUCKET, " * 1000", quantile="0.99")),),
        "p99 time per output token, from the same buckets as the p95.",
        per_pod=False,
    ),
    SignalQuery(
        Signal.KV_USAGE,
        (
            Source((Engine.VLLM,), _gauge("vllm:kv_cache_usage_perc", agg="avg")),
            Source((Engine.VLLM,), _gauge("vllm:gpu_cache_usage_perc", agg="avg")),
            Source(
                (Engine.TRITON_TRTLLM,),
                _gauge("nv_trt_llm_kv_cache_block_metrics", 'kv_cache_block_type="used",')
                + " / ("
                + _gauge("nv_trt_llm_kv_cache_block_metrics", 'kv_cache_block_type="max",')
                + " > 0)",
            ),
            Source(
                (Engine.TRITON_TRTLLM,),
                _gauge("nv_trt_llm_kv_cache_block_metrics", 'kv_cache_block_type="fraction",'),
            ),
        ),
        "KV-cache usage of each pod, 0..1: a pod near 1 preempts or queues.",
    ),
    SignalQuery(
        Signal.PROMPT_TOKENS_RATE,
        (
            Source(_VLLM_ALL, _rate("vllm:prompt_tokens_total")),
            Source((Engine.TRITON_TRTLLM,), _rate("nv_llm_input_token_len_sum")),
        ),
        "Prompt (prefill) tokens/s.",
    ),
    SignalQuery(
        Signal.GENERATION_TOKENS_RATE,
        (
            Source(_VLLM_ALL, _rate("vllm:generation_tokens_total")),
            Source((Engine.TRITON_TRTLLM,), _rate("nv_llm_output_token_len_sum")),
        ),
        "Generated (decode) tokens/s.",
    ),
    SignalQuery(
        Signal.PREEMPTION_RATE,
        (Source((Engine.VLLM,), _rate("vllm:num_preemptions_total")),),
        "Sequences preempted per second: a pod whose KV cache ran out took blocks back from "
        "running sequences, which are recomputed later.",
    ),
)

QUERY_BY_SIGNAL: dict[Signal, SignalQuery] = {q.signal: q for q in QUERIES}


def _window(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


def build_queries(
    labels: MetricLabels, rate_window_seconds: float, namespaces: tuple[str, ...] = ()
) -> dict[Signal, str]:
    """The PromQL of each signal for these label names and rate window, over the pods of
    ``namespaces`` (the operator's watched namespaces; empty: every namespace).

    An operator that serves some namespaces reads their pods only: the tick's query costs
    Prometheus and the operator in proportion to the pods it reads, so operators that
    split a cluster's namespaces between them split that cost too. The names are
    Kubernetes namespace names (validated in ``OperatorSettings``): nothing in them needs
    escaping in the regular expression."""
    sel = f'{labels.modeldeployment}!=""'
    if namespaces:
        sel += f', {labels.namespace}=~"{"|".join(sorted(set(namespaces)))}"'
    values = {
        "by": f"{labels.namespace}, {labels.modeldeployment}, {labels.pod}",
        "fleet": f"{labels.namespace}, {labels.modeldeployment}",
        "sel": sel,
        "w": _window(rate_window_seconds),
        "model": MODEL_LABEL,
    }
    queries: dict[Signal, str] = {}
    for query in QUERIES:
        on = values["by"] if query.per_pod else values["fleet"]
        queries[query.signal] = _precedence(query.sources, values, on)
    return queries


def _precedence(sources: tuple[Source, ...], values: Mapping[str, str], on: str) -> str:
    """The sources' ``or`` in precedence order.

    ``or`` matches series by their whole label set, and a per-model source's carry the
    model label that the others' lack: between them ``or on (pod's or fleet's labels)``
    keeps a pod's first source with a value. Consecutive per-model sources are ``or``-ed
    first, by their whole label set, so that each model of a pod falls back on its own."""
    groups = [
        _or([Template(source.promql).substitute(values) for source in group])
        for _, group in groupby(sources, key=lambda source: source.per_model)
    ]
    return groups[0] if len(groups) == 1 else f" or on ({on}) ".join(f"({g})" for g in groups)


def _or(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else " or ".join(f"({p})" for p in parts)


SIGNAL_LABEL = "gpufleet_signal"
"""The label ``tick_query`` puts on each series: the name of the signal it answers."""


def tick_query(queries: Mapping[Signal, str]) -> str:
    """Every signal's query as one, each series labelled ``SIGNAL_LABEL`` = its signal (every
    signal's query aggregates by named labels, so no series carries that label already)."""
    labelled = [
        f'label_replace({promql}, "{SIGNAL_LABEL}", "{signal.value}", "", "")'
        for signal, promql in queries.items()
    ]
    return _union(labelled)


def _union(parts: list[str]) -> str:
    """``or`` of the parts as a balanced tree: ``or`` matches its right side's series
    against its left side's, so a chain would re-read a left side grown by every signal
    before it; in the tree each series is matched log2(signals) times."""
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    return f"({_union(parts[:middle])}) or ({_union(parts[middle:])})"
