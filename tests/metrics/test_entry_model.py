"""Triton's per-model series: a pod serving an ensemble is read as its entry model.

Triton exports ``nv_inference_*`` once per model it has loaded. TensorRT-LLM's usual
repository (preprocessing -> tensorrt_llm -> postprocessing, composed by ``ensemble``)
counts every client request four times: the reader keeps, per pod, the series of the
model clients call (``spec.model.name``), the only one where a pod has one model's, and
nothing (unknown, naming the models) where it has several and none is the spec's.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gpufleet.metrics.queries import MODEL_LABEL, Signal
from gpufleet.metrics.reader import parse_vector
from gpufleet.metrics.sample import FLEET_WIDE, FleetSample, PerPod, SignalResult
from gpufleet.settings import MetricLabels

NOW = 1_000_000.0
KEY = ("prod", "llm")
PODS = ("llm-a", "llm-b")

ENSEMBLE = {
    # model: (served req/s, pending, request us per request)
    "preprocessing": (4.0, 1.0, 2_000.0),
    "tensorrt_llm": (4.0, 5.0, 500_000.0),
    "postprocessing": (4.0, 0.0, 1_000.0),
    "ensemble": (4.0, 2.0, 520_000.0),
}


READ = {"served_rate", "request_rate", "queue_depth", "avg_latency_ms", "ttft_p95_ms"}
"""What these samples give (the others, such as the token rates, are not in them)."""


def per_model(values: dict[str, PerPod], pods: tuple[str, ...] = PODS) -> SignalResult:
    return SignalResult(by_model={KEY: {pod: dict(values[pod]) for pod in pods}})


def ensemble_sample(
    models: dict[str, tuple[float, float, float]] = ENSEMBLE,
    *,
    pods: tuple[str, ...] = PODS,
    scrapes: float | None = None,
) -> FleetSample:
    """``pods`` each serving ``models``: Triton's signals as the reader parses them, one
    series per pod and model; fleet-wide TTFT per model."""

    def rows(value: Callable[[tuple[float, float, float]], float]) -> SignalResult:
        return per_model({pod: {m: value(v) for m, v in models.items()} for pod in pods}, pods)

    signals = {
        Signal.FRESHNESS: SignalResult(values={KEY: dict.fromkeys(pods, NOW - 1)}),
        Signal.ENGINE: SignalResult(values={KEY: dict.fromkeys(pods, 3.0)}),  # TensorRT-LLM
        Signal.SUCCESS_RATE: rows(lambda v: v[0]),
        Signal.UNSERVED_RATE: rows(lambda v: 0.0),
        Signal.ERROR_RATE: rows(lambda v: 0.0),
        Signal.PENDING: rows(lambda v: v[1]),
        Signal.REQUEST_US_RATE: rows(lambda v: v[0] * v[2]),
        Signal.TTFT_P95_MS: SignalResult(
            by_model={KEY: {FLEET_WIDE: {m: 100.0 + v[2] / 10_000 for m, v in models.items()}}}
        ),
    }
    if scrapes is not None:
        signals[Signal.SCRAPES] = SignalResult(values={KEY: dict.fromkeys(pods, scrapes)})
    return FleetSample(at=NOW, stale_after_seconds=30.0, signals=signals, warm_up_seconds=10)


def test_an_ensemble_is_read_as_its_entry_model_not_the_sum_of_its_models() -> None:
    obs = ensemble_sample().observations("prod", "llm", expected_pods=2, model="ensemble")
    assert obs.served_rate == pytest.approx(8.0)  # 4 req/s a pod, not 16
    assert obs.queue_depth == pytest.approx(4.0)  # the ensemble's 2 a pod
    assert obs.avg_latency_ms == pytest.approx(520.0)
    assert obs.ttft_p95_ms == pytest.approx(152.0)  # the ensemble's fleet-wide quantile
    assert not READ & set(obs.unknown), obs.unknown


def test_a_composing_model_is_read_where_the_spec_names_it() -> None:
    obs = ensemble_sample().observations("prod", "llm", expected_pods=2, model="tensorrt_llm")
    assert obs.queue_depth == pytest.approx(10.0)
    assert obs.avg_latency_ms == pytest.approx(500.0)


def test_a_pod_with_one_model_is_read_whatever_it_is_called() -> None:
    one = {"Resnet50": (6.0, 3.0, 40_000.0)}
    obs = ensemble_sample(one).observations("prod", "llm", expected_pods=2, model="resnet50")
    assert obs.served_rate == pytest.approx(12.0)
    assert obs.queue_depth == pytest.approx(6.0)
    assert obs.avg_latency_ms == pytest.approx(40.0)
    assert obs.ttft_p95_ms == pytest.approx(104.0)
    assert not READ & set(obs.unknown), obs.unknown


def test_several_models_none_of_them_the_spec_s_are_unknown_naming_them() -> None:
    obs = ensemble_sample().observations("prod", "llm", expected_pods=2, model="llama")
    for name in ("served_rate", "request_rate", "queue_depth", "avg_latency_ms", "error_rate"):
        assert getattr(obs, name) is None, name
        assert obs.unknown[name] == (
            "Triton in pods llm-a, llm-b exports the metrics of models ensemble, "
            "postprocessing, preprocessing, tensorrt_llm, and none is spec.model.name "
            "'llama': name the model clients call (for an ensemble, the ensemble)"
        )
    assert obs.ttft_p95_ms is None
    assert obs.unknown["ttft_p95_ms"].startswith("the fleet's Triton exports the metrics of")
    # Nothing known to bound the load with either: no pod's sum is the clients' load.
    assert "served_rate" not in obs.lower_bounds
    assert "request_rate" not in obs.lower_bounds


def test_without_an_entry_model_several_models_are_unknown() -> None:
    obs = ensemble_sample().observations("prod", "llm", expected_pods=2)
    assert obs.served_rate is None
    assert "no entry model was given" in obs.unknown["served_rate"]


def test_a_warming_pod_with_several_models_is_unknown_not_idle() -> None:
    """A warming pod may lack a rate; one whose models are ambiguous lacks it for good: the
    fleet's first pods, all warming, must not read as serving nothing."""
    sample = ensemble_sample(pods=("llm-a",), scrapes=1.0)
    obs = sample.observations("prod", "llm", expected_pods=1, model="llama")
    assert obs.served_rate is None
    assert "none is spec.model.name 'llama'" in obs.unknown["served_rate"]


def test_the_reader_keeps_per_model_series_apart() -> None:
    labels = MetricLabels()

    def series(pod: str | None, value: str, model: str | None = None) -> dict[str, object]:
        metric = {"namespace": "prod", "modeldeployment": "llm"}
        if pod is not None:
            metric["pod"] = pod
        if model is not None:
            metric[MODEL_LABEL] = model
        return {"metric": metric, "value": [NOW, value]}

    result = parse_vector(
        [
            series("llm-a", "2", "ensemble"),
            series("llm-a", "2", "tensorrt_llm"),
            series("llm-b", "3"),
            series(None, "150", "ensemble"),
        ],
        labels,
    )
    assert result.values == {KEY: {"llm-b": 3.0}}
    assert result.by_model == {
        KEY: {"llm-a": {"ensemble": 2.0, "tensorrt_llm": 2.0}, FLEET_WIDE: {"ensemble": 150.0}}
    }
