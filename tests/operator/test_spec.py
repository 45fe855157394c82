"""Bad input gets a clear error naming the field; good input gets its defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.domain.pricing import DEFAULT_GPU_PRICES
from gpufleet.domain.spec import RuntimeType, SpecError, parse_spec
from gpufleet.services.reconcile import validate
from tests.operator.specs import minimal_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_defaults_fill_a_minimal_spec() -> None:
    spec = parse_spec(minimal_spec())
    assert spec.runtime.type is RuntimeType.TRITON
    assert spec.runtime.effective_image.startswith("nvcr.io/nvidia/tritonserver")
    assert (spec.scaling.min_replicas, spec.scaling.max_replicas) == (1, 10)
    assert spec.resources.gpus == 1


_SEEDED = {"name": "tiny-llm", "repository": "seed://1"}
_TORCH_LLM = {"type": "torch", "torch": {"mode": "llm"}}

BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown runtime", {"runtime": {"type": "onnx"}}, "runtime.type"),
    ("ftp repository", {"model": {"name": "m", "repository": "ftp://x/y"}}, "model.repository"),
    ("s3 without a bucket", {"model": {"name": "m", "repository": "s3:///m"}}, "model.repository"),
    ("a space for a host", {"model": {"name": "m", "repository": "https:// x/a.tgz"}},
     "model.repository"),
    ("hf id with a space", {"model": {"name": "m", "repository": "hf://meta-llama/ Llama-3"},
                            "runtime": {"type": "vllm"}}, "model.repository"),
    ("hf id of three parts", {"model": {"name": "m", "repository": "hf://a/b/c"},
                              "runtime": {"type": "vllm"}}, "model.repository"),
    ("negative gpus", {"resources": {"gpus": -1}}, "resources.gpus"),
    # What a CEL rule cannot check (quantities compared by value): the operator refuses.
    ("a CPU divisor in bytes", {"runtime": {"env": [{"name": "A", "valueFrom": {
        "resourceFieldRef": {"resource": "limits.cpu", "divisor": "1Mi"}}}]}},
     "runtime.env[0].valueFrom.resourceFieldRef.divisor"),
    ("a memory divisor of no unit", {"runtime": {"env": [{"name": "A", "valueFrom": {
        "resourceFieldRef": {"resource": "requests.memory", "divisor": "2Mi"}}}]}},
     "runtime.env[0].valueFrom.resourceFieldRef.divisor"),
    ("zero latency", {"slo": {"latencyP95Ms": 0}}, "slo.latencyP95Ms"),
    ("missing budget", {"cost": {}}, "cost.maxHourlyCost"),
    ("bad memory", {"resources": {"memory": "lots"}}, "resources.memory"),
    ("unknown field", {"scaling": {"maxReplica": 3}}, "scaling.maxReplica"),
    ("reserved arg", {"runtime": {"args": ["--http-port=9000"]}}, "runtime.args"),
    ("bad env name", {"runtime": {"env": [{"name": "", "value": "x"}]}}, "runtime.env[0].name"),
    ("min above max", {"scaling": {"minReplicas": 3, "maxReplicas": 2}}, "scaling.minReplicas"),
    ("headroom 60 %", {"scaling": {"latencyHeadroom": 0.6}}, "scaling.latencyHeadroom"),
    ("no latency target", {"slo": {}}, "slo"),
    ("zero ttft", {"slo": {"ttftP95Ms": 0}}, "slo.ttftP95Ms"),
    ("negative tpot", {"slo": {"tpotP95Ms": -5}}, "slo.tpotP95Ms"),
    ("zero to nowhere", {"scaling": {"minReplicas": 0}}, "scaling.activation"),
    (
        "empty activation query",
        {"scaling": {"minReplicas": 0, "activation": {"query": ""}}},
        "scaling.activation.query",
    ),
    ("rollout stuck", {"rollout": {"maxSurge": 0, "maxUnavailable": 0}}, "rollout.maxSurge"),
    ("torch llm: seed for triton", {"model": _SEEDED}, "model.repository"),
    (
        "torch llm: seed for torch's triton mode",
        {"model": _SEEDED, "runtime": {"type": "torch"}},
        "model.repository",
    ),
    ("torch llm: weights from a claim", {"runtime": _TORCH_LLM}, "model.repository"),
    (
        "torch llm: seed not a number",
        {"model": {"name": "m", "repository": "seed://one"}, "runtime": _TORCH_LLM},
        "model.repository",
    ),
    (
        "torch llm: unknown mode",
        {"runtime": {"type": "torch", "torch": {"mode": "chat"}}},
        "runtime.torch.mode",
    ),
    (
        "torch llm: torch settings for vllm",
        {
            "model": {"name": "m", "repository": "hf://org/m"},
            "runtime": {"type": "vllm", "torch": {}},
        },
        "runtime.torch",
    ),
    (
        "torch llm: mode as an arg",
        {"runtime": {"type": "torch", "args": ["--mode=llm"]}},
        "runtime.args",
    ),
    (
        "torch llm: seed as an arg",
        {"model": _SEEDED, "runtime": {**_TORCH_LLM, "args": ["--seed", "3"]}},
        "runtime.args",
    ),
    (
        "torch llm: a version",
        {"model": {**_SEEDED, "version": "1"}, "runtime": _TORCH_LLM},
        "model.version",
    ),
    (
        "max batch 0",
        {"model": {"name": "m", "repository": "s3://b/m", "maxBatchSize": 0}},
        "model.maxBatchSize",
    ),
    (
        "max batch for an LLM engine",
        {"model": {**_SEEDED, "maxBatchSize": 8}, "runtime": _TORCH_LLM},
        "model.maxBatchSize",
    ),
    (
        "torch llm: a download cache",
        {"model": {**_SEEDED, "cache": {"sizeLimit": "1Gi"}}, "runtime": _TORCH_LLM},
        "model.cache",
    ),
    # Keys the CRD cannot check (its rules cannot afford a walk over a map's keys), which
    # the API server would refuse on the Deployment or NetworkPolicy.
    ("node label key with a space", {"resources": {"nodeSelector": {"gpu pool": "a"}}},
     "resources.nodeSelector"),
    ("node label key 64 long", {"resources": {"nodeSelector": {"k" * 64: "a"}}},
     "resources.nodeSelector"),
    ("node label key, capital prefix", {"resources": {"nodeSelector": {"Corp.io/pool": "a"}}},
     "resources.nodeSelector"),
    ("client label key, two slashes",
     {"networkPolicy": {"clients": [{"podSelector": {"matchLabels": {"a/b/c": "x"}}}]}},
     "networkPolicy.clients[0].podSelector.matchLabels"),
    # CIDRs the CRD cannot check (CEL's cidr() is Kubernetes 1.31's), which the API server
    # would refuse on the NetworkPolicy.
    ("client CIDR, a /33", {"networkPolicy": {"clients": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}},
     "networkPolicy.clients[0].ipBlock.cidr"),
    ("client CIDR, 3 octets",
     {"networkPolicy": {"clients": [{"podSelector": {}}, {"ipBlock": {"cidr": "10.0.0/8"}}]}},
     "networkPolicy.clients[1].ipBlock.cidr"),
    ("client CIDR, an address", {"networkPolicy": {"clients": [{"ipBlock": {"cidr": "10.1.2.3"}}]}},
     "networkPolicy.clients[0].ipBlock.cidr"),
    ("prometheus except outside its CIDR",
     {"networkPolicy": {"prometheus": [
         {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.9.0.0/16", "11.0.0.0/16"]}}]}},
     "networkPolicy.prometheus[0].ipBlock.except[1]"),
    # What the API server refuses on the pod template (the Deployment, ChildRejected).
    ("key's file above its volume", {"runtime": {"volumes": [
        {"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "../k"}]}}]}},
     "runtime.volumes[0].configMap.items[0].path"),
    ("CSI driver with an underscore",
     {"runtime": {"volumes": [{"name": "v", "csi": {"driver": "secrets_store.csi.k8s.io"}}]}},
     "runtime.volumes[0].csi.driver"),
    ("env from a pod field no env gets", {"runtime": {"env": [
        {"name": "IMG", "valueFrom": {"fieldRef": {"fieldPath": "spec.containers[0].image"}}}]}},
     "runtime.env[0].valueFrom.fieldRef.fieldPath"),
    ("except the whole CIDR",
     {"networkPolicy": {"clients": [
         {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}},
     "networkPolicy.clients[0].ipBlock.except[0]"),
]  # fmt: skip


def test_cidrs_the_api_server_takes_are_accepted() -> None:
    blocks = [
        {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]},
        {"cidr": "10.1.2.3/8"},  # host bits set: the API server masks them
        {"cidr": "fd00::/8", "except": ["fd00:1::/32"]},
    ]
    spec = parse_spec(minimal_spec(networkPolicy={"clients": [{"ipBlock": b} for b in blocks]}))
    assert spec.network_policy is not None
    assert [p.to_wire()["ipBlock"] for p in spec.network_policy.clients] == blocks


@pytest.mark.parametrize(("case", "overrides", "field"), BAD_SPECS)
def test_bad_specs_name_the_field(case: str, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(minimal_spec(**overrides))
    assert caught.value.field == field, f"{case}: {caught.value}"
    assert str(caught.value).startswith(f"spec.{field}:")


def test_every_wrong_field_is_named_in_one_report() -> None:
    spec = minimal_spec(runtime={"type": "onnx"}, slo={"latencyP95Ms": 0}, resources={"gpus": -1})
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    named = [problem.split(":")[0] for problem in caught.value.problems]
    assert sorted(named) == ["spec.resources.gpus", "spec.runtime.type", "spec.slo.latencyP95Ms"]
    assert caught.value.field == named[0].removeprefix("spec.")
    assert str(caught.value) == "; ".join(caught.value.problems)


def test_torch_llm_mode_takes_its_weights_from_a_seed() -> None:
    spec = parse_spec(minimal_spec(model=_SEEDED, runtime=_TORCH_LLM))
    assert spec.runtime.torch_llm
    assert spec.model.seed == 1
    assert (
        parse_spec(minimal_spec(runtime={"type": "torch", "torch": {}})).runtime.torch_llm is False
    )


def test_llm_targets_alone_are_a_valid_slo() -> None:
    spec = parse_spec(minimal_spec(slo={"ttftP95Ms": 800, "itlP95Ms": 50}))
    assert (spec.slo.latency_p95_ms, spec.slo.ttft_p95_ms, spec.slo.itl_p95_ms) == (None, 800, 50)


def test_scale_to_zero_with_activation_gets_its_defaults() -> None:
    spec = parse_spec(
        minimal_spec(scaling={"minReplicas": 0, "activation": {"query": "sum(queue)"}})
    )
    assert spec.scaling.activation is not None
    assert spec.scaling.activation.threshold == 0
    assert spec.scaling.activation.scale_to_zero_after_seconds == 300
    assert spec.scaling.provisioning_timeout_seconds == 600
    assert (spec.rollout.max_surge, spec.rollout.max_unavailable) == (1, 0)


def test_unknown_gpu_type_without_price_is_rejected_by_the_operator() -> None:
    raw = minimal_spec(resources={"gpuType": "nvidia-b300"})
    parse_spec(raw)  # the schema cannot know the catalog...
    with pytest.raises(SpecError) as caught:
        validate(raw, DEFAULT_GPU_PRICES)  # ...the operator can
    assert caught.value.field == "resources.gpuType"
    assert "gpuHourlyPrice" in str(caught.value)


def test_price_override_makes_an_unknown_gpu_type_valid() -> None:
    raw = minimal_spec(
        resources={"gpuType": "nvidia-b300"}, cost={"maxHourlyCost": 50, "gpuHourlyPrice": 12.5}
    )
    _, price = validate(raw, DEFAULT_GPU_PRICES)
    assert price == 12.5


def test_budget_below_min_replicas_at_catalog_price_is_rejected() -> None:
    raw = minimal_spec(
        resources={"gpuType": "nvidia-h100", "gpus": 2},
        scaling={"minReplicas": 2},
        cost={"maxHourlyCost": 20},
    )
    with pytest.raises(SpecError) as caught:
        validate(raw, DEFAULT_GPU_PRICES)
    assert caught.value.field == "cost.maxHourlyCost"
    assert "28" in str(caught.value)  # 2 replicas x 2 GPUs x 7 $/h


def test_scaling_to_zero_on_a_budget_below_one_replica_is_rejected() -> None:
    # examples/scale-to-zero.yaml on 0.5 $/h: an L4 replica costs 0.8 $/h in the catalog,
    # so scaling from zero could never start a pod.
    example = yaml.safe_load((EXAMPLES / "scale-to-zero.yaml").read_text())
    raw = example["spec"]
    raw["cost"]["maxHourlyCost"] = 0.5
    with pytest.raises(SpecError) as caught:
        validate(raw, DEFAULT_GPU_PRICES)
    assert caught.value.field == "cost.maxHourlyCost"
    assert "scaling.minReplicas=0" in str(caught.value)
    assert "0.8 $/h" in str(caught.value)
    raw["cost"]["maxHourlyCost"] = 0.8  # one replica's worth
    validate(raw, DEFAULT_GPU_PRICES)


def test_a_budget_at_exactly_min_replicas_catalog_cost_is_accepted() -> None:
    # 3 CPU replicas at the catalog's 0.10 $/h fit 0.3 $/h, though 3 x 0.1 is
    # 0.30000000000000004 in floats: the autoscaler runs that fleet, so validation takes it.
    raw = minimal_spec(
        resources={"gpuType": "cpu", "gpus": 0},
        scaling={"minReplicas": 3},
        cost={"maxHourlyCost": 0.3},
    )
    _, price = validate(raw, DEFAULT_GPU_PRICES)
    assert price == 0.1


def test_whole_number_quantities_are_their_string_form() -> None:
    # cpu: 8 unquoted in YAML, as a Deployment takes it: the pods request "8".
    spec = parse_spec(minimal_spec(resources={"cpu": 8, "memory": 1024}))
    assert (spec.resources.cpu, spec.resources.memory) == ("8", "1024")
    assert spec.to_wire()["resources"]["cpu"] == "8"


def test_label_keys_as_kubernetes_writes_them_are_accepted() -> None:
    keys = {"kubernetes.io/hostname": "n1", "node.kubernetes.io/instance-type": "g6.xlarge",
            "cloud.google.com/gke-accelerator": "nvidia-l4", "pool_2.a": "x"}  # fmt: skip
    parsed = parse_spec(minimal_spec(resources={"nodeSelector": keys}))
    assert parsed.resources.node_selector == keys
