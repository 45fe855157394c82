"""The checked-in CRD is generated from the models, and says what the models say."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import celpy
import celpy.adapter
import kubernetes_validate
import pytest
import yaml

from gpufleet.domain.crd import build_crd, render_crd_yaml
from gpufleet.domain.manifests.children import CHILD_KINDS, OPTIONAL_CHILD_KINDS
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.pricing import DEFAULT_GPU_PRICES
from gpufleet.domain.spec import CEL_RULES, SpecError, parse_spec
from gpufleet.services.reconcile import validate
from tests.operator.specs import GOLDEN_SPECS, minimal_spec
from tests.support.kube import MODELDEPLOYMENTS, Kube

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "modeldeployments.gpufleet.io.yaml"


def test_checked_in_crd_is_fresh() -> None:
    assert CRD_FILE.read_text() == render_crd_yaml(), "crds/ is stale: run `make crds`"


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_schema_is_structural() -> None:
    """Every node has a type (or preserves unknown fields, or is an int-or-string, which has
    none), as the API server demands."""

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, path
        else:
            assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "$defs", "title"):
            assert forbidden not in node, f"{path} has {forbidden}"
        for name, prop in node.get("properties", {}).items():
            walk(prop, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}{{}}")

    walk(_schema(), "")


def test_defaults_and_enums_are_in_the_schema() -> None:
    spec = _schema()["properties"]["spec"]["properties"]
    assert spec["runtime"]["properties"]["type"]["enum"] == ["triton", "torch", "vllm"]
    assert spec["scaling"]["properties"]["maxReplicas"]["default"] == 10
    assert spec["scaling"]["properties"]["onMetricsLoss"]["enum"] == ["Hold", "Fallback"]
    assert spec["slo"]["properties"]["latencyP95Ms"]["exclusiveMinimum"] is True
    assert spec["scaling"]["default"] == {}
    assert spec["scaling"]["properties"]["provisioningTimeoutSeconds"]["default"] == 600
    assert spec["rollout"]["properties"]["maxSurge"]["default"] == 1
    assert spec["slo"]["properties"]["ttftP95Ms"]["exclusiveMinimum"] is True


def test_printer_columns_cover_the_essentials() -> None:
    columns = {
        c["name"]: c["jsonPath"]
        for c in build_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert columns["Runtime"] == ".spec.runtime.type"
    assert columns["Ready"] == ".status.readyReplicas"
    assert columns["P95-ms"] == ".status.p95LatencyMs"
    assert columns["Target-ms"] == ".spec.slo.latencyP95Ms"
    assert columns["USD/h"] == ".status.hourlyCost"
    assert columns["TTFT-ms"] == ".status.ttftP95Ms"
    assert columns["ITL-ms"] == ".status.itlP95Ms"
    assert columns["TTFT-Target"] == ".spec.slo.ttftP95Ms"
    assert columns["ITL-Target"] == ".spec.slo.itlP95Ms"
    assert columns["TPOT-ms"] == ".status.tpotP95Ms"
    assert columns["TPOT-Target"] == ".spec.slo.tpotP95Ms"
    assert "Ready" in columns["Status"]


def _cel(rule: str, spec: dict[str, Any]) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(rule))
    return bool(program.evaluate({"self": celpy.adapter.json_to_cel(spec)}))


def _defaulted(raw: dict[str, Any]) -> dict[str, Any]:
    """The spec as the API server stores it: with schema defaults applied."""
    return parse_spec(raw).to_wire()


_SEEDED = {"name": "tiny-llm", "repository": "seed://3"}
_TORCH_LLM = {"type": "torch", "torch": {"mode": "llm"}}
_ENSEMBLE = {"name": "ensemble", "repository": "pvc://models/trtllm"}

CROSS_FIELD_CASES = [
    ("no latency target", {"slo": {}}, "slo"),
    ("scale to zero without activation", {"scaling": {"minReplicas": 0}}, "scaling.activation"),
    ("rollout that cannot move", {"rollout": {"maxSurge": 0}}, "rollout.maxSurge"),
    ("min above max", {"scaling": {"minReplicas": 5, "maxReplicas": 2}}, "scaling.minReplicas"),
    (
        "fallback without replicas",
        {"scaling": {"onMetricsLoss": "Fallback"}},
        "scaling.fallbackReplicas",
    ),
    (
        "fallback outside bounds",
        {"scaling": {"minReplicas": 1, "maxReplicas": 3, "fallbackReplicas": 5}},
        "scaling.fallbackReplicas",
    ),
    (
        "budget below minReplicas",
        {"scaling": {"minReplicas": 4}, "cost": {"maxHourlyCost": 5.0, "gpuHourlyPrice": 2.0}},
        "cost.maxHourlyCost",
    ),
    (
        # Scaling from zero starts one replica, which this budget cannot pay for.
        "scale to zero on a budget below one replica",
        {
            "scaling": {"minReplicas": 0, "activation": {"query": "sum(gateway_queue)"}},
            "cost": {"maxHourlyCost": 0.5, "gpuHourlyPrice": 0.8},
        },
        "cost.maxHourlyCost",
    ),
    ("seed for triton", {"model": _SEEDED}, "model.repository"),
    ("torch llm mode with a claim", {"runtime": _TORCH_LLM}, "model.repository"),
    (
        "torch settings for vllm",
        {
            "model": {"name": "m", "repository": "hf://org/m"},
            "runtime": {"type": "vllm", "torch": {"mode": "triton"}},
        },
        "runtime.torch",
    ),
    (
        "torch mode as an arg",
        {"runtime": {"type": "torch", "args": ["--mode", "llm"]}},
        "runtime.args",
    ),
    (
        "version of a seeded model",
        {"model": {**_SEEDED, "version": "2"}, "runtime": _TORCH_LLM},
        "model.version",
    ),
    (
        "max batch for vllm",
        {
            "model": {"name": "m", "repository": "hf://org/m", "maxBatchSize": 8},
            "runtime": {"type": "vllm"},
        },
        "model.maxBatchSize",
    ),
    (
        "cache of a seeded model",
        {"model": {**_SEEDED, "cache": {"claimName": "c"}}, "runtime": _TORCH_LLM},
        "model.cache",
    ),
    *(
        (f"composing models for {runtime['type']}", {"model": model, "runtime": runtime},
         "model.composingModels")
        for model, runtime in [
            ({"name": "m", "repository": "hf://org/m", "composingModels": ["a"]},
             {"type": "vllm"}),
            ({"name": "m", "repository": "pvc://models/repo", "composingModels": ["a"]},
             {"type": "torch"}),
        ]
    ),
    (
        "an ensemble composing itself",
        # runtime as the API server defaults it (the rules read its type).
        {"model": {**_ENSEMBLE, "composingModels": ["pre", "ensemble"]},
         "runtime": {"type": "triton"}},
        "model.composingModels",
    ),
    ("two MIG slices a replica",
     {"resources": {"gpuResource": "nvidia.com/mig-1g.10gb", "gpus": 2}}, "resources.gpus"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "overrides", "field"), CROSS_FIELD_CASES)
def test_cel_rules_and_models_reject_the_same_specs(
    case: str, overrides: dict[str, Any], field: str
) -> None:
    raw = minimal_spec(**overrides)
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)
    assert caught.value.field == field, case
    # The API server sees defaulted objects; build one without the model's own check.
    wire = minimal_spec(**overrides)
    wire["resources"] = {"gpus": 1, "gpuResource": "nvidia.com/gpu", **wire.get("resources", {})}
    scaling = {
        "minReplicas": 1,
        "maxReplicas": 10,
        "onMetricsLoss": "Hold",
        **wire.get("scaling", {}),
    }
    wire["scaling"] = scaling
    wire["rollout"] = {"maxSurge": 1, "maxUnavailable": 0, **wire.get("rollout", {})}
    failing = [r for r in CEL_RULES if not _cel(r["rule"], wire)]
    assert [r["fieldPath"] for r in failing] == [f".{field}"], case


_SCALE_TO_ZERO = {"minReplicas": 0, "activation": {"query": "sum(gateway_queue)"}}

# Budgets that pay for minReplicas exactly, though the product in floats is a hair above
# (3 x 1.1 = 3.3000000000000003): the autoscaler runs these fleets, admission must take them.
BUDGETS_EXACTLY_ENOUGH = [
    ("3 replicas at 1.1 $/h", {"minReplicas": 3}, {}, 3.3, 1.1),
    ("3 CPU replicas at 0.1 $/h", {"minReplicas": 3}, {"gpus": 0}, 0.3, 0.1),
    ("1 replica of 3 GPUs at 0.1 $/h", {"minReplicas": 1}, {"gpus": 3}, 0.3, 0.1),
    ("7 replicas at 0.1 $/h", {"minReplicas": 7}, {}, 0.7, 0.1),
    # Scaling to zero: the one replica that scaling from zero starts.
    ("scale to zero, 1 replica at 0.8 $/h", _SCALE_TO_ZERO, {}, 0.8, 0.8),
    ("scale to zero, 1 replica of 3 GPUs at 0.1 $/h", _SCALE_TO_ZERO, {"gpus": 3}, 0.3, 0.1),
]


@pytest.mark.parametrize(
    ("case", "scaling", "resources", "budget", "price"), BUDGETS_EXACTLY_ENOUGH
)
def test_a_budget_that_pays_for_min_replicas_exactly_is_accepted(
    case: str, scaling: dict[str, Any], resources: dict[str, Any], budget: float, price: float
) -> None:
    raw = minimal_spec(
        scaling=scaling,
        resources=resources,
        cost={"maxHourlyCost": budget, "gpuHourlyPrice": price},
    )
    assert parse_spec(raw).cost.max_hourly_cost == budget, case
    wire = _defaulted(raw)
    assert [r["message"] for r in CEL_RULES if not _cel(r["rule"], wire)] == [], case
    # A cent less is still refused, by both.
    raw["cost"]["maxHourlyCost"] = wire["cost"]["maxHourlyCost"] = budget - 0.01
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)
    assert caught.value.field == "cost.maxHourlyCost", case
    failing = [r["fieldPath"] for r in CEL_RULES if not _cel(r["rule"], wire)]
    assert failing == [".cost.maxHourlyCost"], case


# One MIG slice a replica, or several whole GPUs: both take them.
MIG_AND_WHOLE_GPUS_ACCEPTED = [
    ("one MIG slice", {"gpuResource": "nvidia.com/mig-1g.10gb", "gpus": 1}),
    ("two whole GPUs", {"gpuResource": "nvidia.com/gpu", "gpus": 2}),
]


@pytest.mark.parametrize(("case", "resources"), MIG_AND_WHOLE_GPUS_ACCEPTED)
def test_cel_rules_and_models_accept_one_mig_slice_or_whole_gpus(
    case: str, resources: dict[str, Any]
) -> None:
    raw = minimal_spec(resources=resources)
    assert parse_spec(raw).resources.gpus == resources["gpus"], case
    assert [r["message"] for r in CEL_RULES if not _cel(r["rule"], _defaulted(raw))] == [], case


def test_a_tpot_target_alone_is_a_latency_target() -> None:
    raw = minimal_spec(slo={"tpotP95Ms": 60})
    assert parse_spec(raw).slo.tpot_p95_ms == 60.0
    assert all(_cel(rule["rule"], _defaulted(raw)) for rule in CEL_RULES)


@pytest.mark.parametrize("case", sorted(GOLDEN_SPECS))
def test_cel_rules_accept_valid_specs(case: str) -> None:
    wire = _defaulted(GOLDEN_SPECS[case])
    assert all(_cel(rule["rule"], wire) for rule in CEL_RULES)


@pytest.mark.parametrize("case", sorted(GOLDEN_SPECS))
def test_children_are_valid_kubernetes_objects(case: str) -> None:
    spec = parse_spec(GOLDEN_SPECS[case])
    owner = Owner("demo", "ml", "7d5c1d3e-0000-4000-8000-000000000001")
    for kind in (*CHILD_KINDS, *OPTIONAL_CHILD_KINDS):
        if kind.wanted(spec):
            kubernetes_validate.validate(kind.build(owner, spec), "1.30", strict=True)


def test_crd_itself_is_a_valid_object() -> None:
    kubernetes_validate.validate(yaml.safe_load(CRD_FILE.read_text()), "1.30", strict=True)


def _volume(source: dict[str, Any]) -> dict[str, Any]:
    return {"volumes": [{"name": "v", **source}]}


def _item(path: str) -> dict[str, Any]:
    return {"key": "k", "path": path}


def _field_env(field_path: str, name: str = "A", api_version: str | None = None) -> dict[str, Any]:
    selector = {"fieldPath": field_path} | ({"apiVersion": api_version} if api_version else {})
    return {"name": name, "valueFrom": {"fieldRef": selector}}


def _resource_env(resource: str, divisor: str | None = None, name: str = "A") -> dict[str, Any]:
    selector = {"resource": resource} | ({"divisor": divisor} if divisor else {})
    return {"name": name, "valueFrom": {"resourceFieldRef": selector}}


APPLY_TIME_REJECTIONS = [
    ("no latency target", {"slo": {}}, "spec.slo"),
    (
        "composing models for vllm",
        {
            "model": {"name": "m", "repository": "hf://org/m", "composingModels": ["a"]},
            "runtime": {"type": "vllm"},
        },
        "spec.model.composingModels",
    ),
    (
        "an ensemble composing itself",
        {"model": {**_ENSEMBLE, "composingModels": ["ensemble"]}},
        "spec.model.composingModels",
    ),
    (
        "a composing model listed twice",
        {"model": {**_ENSEMBLE, "composingModels": ["pre", "llm", "pre"]}},
        "spec.model.composingModels",
    ),
    (
        "scale to zero without activation",
        {"scaling": {"minReplicas": 0}},
        "spec.scaling.activation",
    ),
    ("rollout that cannot move", {"rollout": {"maxSurge": 0}}, "spec.rollout.maxSurge"),
    (
        "literal and reference",
        {
            "runtime": {
                "env": [
                    {
                        "name": "A",
                        "value": "x",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                    }
                ]
            }
        },
        "spec.runtime.env[0]",
    ),
    (
        "two volume sources",
        {"runtime": {"volumes": [{"name": "v", "emptyDir": {}, "secret": {"secretName": "s"}}]}},
        "spec.runtime.volumes[0]",
    ),
    (
        "mount of an unknown volume",
        {"runtime": {"volumeMounts": [{"name": "v", "mountPath": "/v"}]}},
        "spec.runtime.volumeMounts",
    ),
    (
        "hf for triton",
        {"model": {"name": "m", "repository": "hf://org/m"}},
        "spec.model.repository",
    ),
    ("not an image", {"runtime": {"image": "Registry/UPPER:tag"}}, "spec.runtime.image"),
    ("seed for triton", {"model": _SEEDED}, "spec.model.repository"),
    ("torch llm mode with a claim", {"runtime": _TORCH_LLM}, "spec.model.repository"),
    (
        "a flag the operator owns",
        {"runtime": {"args": ["--log-verbose=1", "--model-control-mode=explicit"]}},
        "spec.runtime.args",
    ),
    (
        "a cache in two places",
        {
            "model": {
                "name": "m",
                "repository": "s3://bucket/m",
                "cache": {"sizeLimit": "1Gi", "claimName": "c"},
            }
        },
        "spec.model.cache",
    ),
    (
        "two volumes of one name",
        {"runtime": {"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]}},
        "spec.runtime.volumes",
    ),
    (
        "a volume named as the operator's",
        {"runtime": {"volumes": [{"name": "dshm", "emptyDir": {}}]}},
        "spec.runtime.volumes",
    ),
    (
        "one path mounted twice",
        {
            "runtime": {
                "volumes": [{"name": "v", "emptyDir": {}}],
                "volumeMounts": [
                    {"name": "v", "mountPath": "/data"},
                    {"name": "v", "mountPath": "/data/"},
                ],
            }
        },
        "spec.runtime.volumeMounts",
    ),
    (
        "a mount over the model",
        {
            "runtime": {
                "volumes": [{"name": "v", "emptyDir": {}}],
                "volumeMounts": [{"name": "v", "mountPath": "/models/"}],
            }
        },
        "spec.runtime.volumeMounts",
    ),
    (
        "a mount path ending in two slashes",
        {
            "runtime": {
                "volumes": [{"name": "v", "emptyDir": {}}],
                "volumeMounts": [{"name": "v", "mountPath": "/data//"}],
            }
        },
        "spec.runtime.volumeMounts[0].mountPath",
    ),
    ("an image name over 255 characters", {"runtime": {"image": "a" * 256}}, "spec.runtime.image"),
    # What the API server would refuse on the Deployment, refused on the ModelDeployment.
    (
        "a toleration with no key, of one value",
        {"resources": {"tolerations": [{"value": "ml", "effect": "NoSchedule"}]}},
        "spec.resources.tolerations[0]",
    ),
    (
        "a value for Exists",
        {"resources": {"tolerations": [{"key": "pool", "operator": "Exists", "value": "ml"}]}},
        "spec.resources.tolerations[0]",
    ),
    (
        "tolerationSeconds with no NoExecute",
        {
            "resources": {
                "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 9}]
            }
        },
        "spec.resources.tolerations[0]",
    ),
    (
        "a toleration key with a space",
        {"resources": {"tolerations": [{"key": "my pool", "operator": "Exists"}]}},
        "spec.resources.tolerations[0].key",
    ),
    (
        "a node label value with a space",
        {"resources": {"nodeSelector": {"pool": "big gpus"}}},
        "spec.resources.nodeSelector[pool]",
    ),
    (
        "a PriorityClass that no object could be named",
        {"resources": {"priorityClassName": "Inference_High"}},
        "spec.resources.priorityClassName",
    ),
    (
        "a RuntimeClass that no object could be named",
        {"runtime": {"runtimeClassName": "NVIDIA"}},
        "spec.runtime.runtimeClassName",
    ),
    (
        "a set selector with no values",
        {
            "networkPolicy": {
                "clients": [
                    {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}
                ]
            }
        },
        "spec.networkPolicy.clients[0].podSelector.matchExpressions[0]",
    ),
    (
        "a client label value with a space",
        {"networkPolicy": {"clients": [{"podSelector": {"matchLabels": {"app": "my app"}}}]}},
        "spec.networkPolicy.clients[0].podSelector.matchLabels[app]",
    ),
    (
        "a claim with no name",
        {"model": {"name": "m", "repository": "pvc:///models"}},
        "spec.model.repository",
    ),
    # The pods' subPath in the claim, which the API server refuses with a '..' in it.
    (
        "a claim path that leaves the claim",
        {"model": {"name": "m", "repository": "pvc://models/../triton"}},
        "spec.model.repository",
    ),
    (
        "a subPath that leaves its volume",
        {
            "runtime": {
                "volumes": [{"name": "v", "emptyDir": {}}],
                "volumeMounts": [{"name": "v", "mountPath": "/data", "subPath": "a/../../b"}],
            }
        },
        "spec.runtime.volumeMounts",
    ),
    (
        "a claim path that ends above the claim",
        {"model": {"name": "m", "repository": "pvc://models/triton/../.."}},
        "spec.model.repository",
    ),
    # Go's RE2 reads "$" as the end of the text: a final newline is refused.
    (
        "a repository with a final newline",
        {"model": {"name": "m", "repository": "s3://b/a\n"}},
        "spec.model.repository",
    ),
    # What the API server refuses on the Deployment's pod template.
    (
        "a key's file above its volume",
        {"runtime": _volume({"configMap": {"name": "c", "items": [{"key": "k", "path": "../k"}]}})},
        "spec.runtime.volumes[0].configMap.items[0].path",
    ),
    (
        "a key's file through '..'",
        {"runtime": _volume({"secret": {"secretName": "s", "items": [_item("a/../../k")]}})},
        "spec.runtime.volumes[0].secret.items[0].path",
    ),
    (
        "a key's file named '..k'",
        {"runtime": _volume({"secret": {"secretName": "s", "items": [_item("..k")]}})},
        "spec.runtime.volumes[0].secret.items[0].path",
    ),
    (
        "a CSI driver with an underscore",
        {"runtime": _volume({"csi": {"driver": "secrets_store.csi.k8s.io"}})},
        "spec.runtime.volumes[0].csi.driver",
    ),
    (
        "a CSI driver ending in a dot",
        {"runtime": _volume({"csi": {"driver": "csi.example.com."}})},
        "spec.runtime.volumes[0].csi.driver",
    ),
    (
        "an env fieldPath the API server does not give",
        {"runtime": {"env": [_field_env("spec.containers[0].image")]}},
        "spec.runtime.env[0].valueFrom.fieldRef.fieldPath",
    ),
    (
        "an env fieldPath of every label",
        {"runtime": {"env": [{"name": "A", "value": "x"}, _field_env("metadata.labels", "B")]}},
        "spec.runtime.env[1].valueFrom.fieldRef.fieldPath",
    ),
    (
        "an env fieldPath of a label that is no label key",
        {"runtime": {"env": [_field_env("metadata.labels['a b']")]}},
        "spec.runtime.env[0].valueFrom.fieldRef.fieldPath",
    ),
    (
        "an env fieldRef of a pod API version that has no such field",
        {"runtime": {"env": [_field_env("metadata.name", api_version="v2")]}},
        "spec.runtime.env[0].valueFrom.fieldRef.apiVersion",
    ),
    (
        "an env resourceFieldRef of a GPU",
        {"runtime": {"env": [_resource_env("limits.nvidia.com/gpu")]}},
        "spec.runtime.env[0].valueFrom.resourceFieldRef.resource",
    ),
    (
        "an env fieldPath with a trailing newline",
        {"runtime": {"env": [_field_env("status.podIP\n")]}},
        "spec.runtime.env[0].valueFrom.fieldRef.fieldPath",
    ),
]


# What the API server takes on a pod, near the refusals above.
POD_INPUTS_ACCEPTED = [
    ("a key's file with dots in a name", {"runtime": _volume({"secret": {
        "secretName": "s", "items": [_item("a/..b/c..")]}})}),
    ("a CSI driver in capitals",
     {"runtime": _volume({"csi": {"driver": "Secrets-Store.CSI.k8s.io"}})}),
    ("env from every pod field", {"runtime": {"env": [
        _field_env(path, f"F{index}") for index, path in enumerate([
            "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
            "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
            "status.podIPs", "metadata.labels['app.kubernetes.io/name']",
            "metadata.annotations['Example.COM/Team_1']"])]}}),
    ("env from the pod API's version",
     {"runtime": {"env": [_field_env("metadata.name", api_version="v1")]}}),
    ("env from every container resource, each divisor in its unit", {"runtime": {"env": [
        _resource_env(resource, divisor, f"R{index}") for index, (resource, divisor) in
        enumerate([("limits.cpu", "1m"), ("requests.cpu", "1000m"), ("limits.memory", "1Mi"),
                   ("requests.memory", "1k"), ("limits.ephemeral-storage", "1Gi"),
                   ("requests.ephemeral-storage", None), ("limits.hugepages-2Mi", "1Ki"),
                   ("limits.cpu", "0")])]}}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "overrides"), POD_INPUTS_ACCEPTED)
def test_pod_inputs_the_api_server_takes_are_accepted(
    kube: Kube, case: str, overrides: dict[str, Any]
) -> None:
    spec = minimal_spec(**overrides)
    parse_spec(spec)
    body = {
        "apiVersion": "gpufleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "good"},
        "spec": spec,
    }
    response = kube.create(MODELDEPLOYMENTS, "default", body)
    assert response.status_code == 201, f"{case}: {response.text}"


@pytest.mark.parametrize(("case", "overrides", "field"), APPLY_TIME_REJECTIONS)
def test_api_server_rejects_at_apply_time(
    kube: Kube, case: str, overrides: dict[str, Any], field: str
) -> None:
    spec = minimal_spec(**overrides)
    body = {
        "apiVersion": "gpufleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    response = kube.create(MODELDEPLOYMENTS, "default", body)
    assert response.status_code == 422, f"{case}: {response.text}"
    causes = response.json()["details"]["causes"]
    assert [c["field"] for c in causes] == [field], case
    # The message names what to fix: the same words the operator's own check uses.
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    words = {w for w in re.findall(r"[A-Za-z]{5,}", caught.value.message)}
    assert words & set(re.findall(r"[A-Za-z]{5,}", causes[0]["message"])), case


def test_api_server_accepts_llm_targets_and_scale_to_zero(kube: Kube) -> None:
    body = {
        "apiVersion": "gpufleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "llm"},
        "spec": minimal_spec(
            slo={"ttftP95Ms": 800},
            runtime={"type": "vllm"},
            scaling={"minReplicas": 0, "activation": {"query": "sum(gateway_queue)"}},
        ),
    }
    response = kube.create(MODELDEPLOYMENTS, "default", body)
    assert response.status_code == 201, response.text
    stored = response.json()["spec"]
    assert stored["scaling"]["activation"]["scaleToZeroAfterSeconds"] == 300
    assert stored["rollout"] == {"maxSurge": 1, "maxUnavailable": 0}
    # Optional objects whose absence means "off" get no default from the API server.
    assert "networkPolicy" not in stored
    assert "cache" not in stored["model"]


NULLS = [
    ("an unset version", {"model": {**minimal_spec()["model"], "version": None}}, None),
    ("a null section", {"runtime": None, "networkPolicy": None}, None),
    ("a null with a default", {"scaling": {"minReplicas": None, "maxReplicas": 3}}, None),
    ("a null list item", {"runtime": {"args": [None]}}, "runtime.args[0]"),
]


JSON_TYPES = [
    ("a count as a string", {"resources": {"gpus": "1"}}, "resources.gpus"),
    ("a bool as a count", {"scaling": {"minReplicas": True}}, "scaling.minReplicas"),
    ("a latency as a string", {"slo": {"latencyP95Ms": "250"}}, "slo.latencyP95Ms"),
    # A quantity is int-or-string, as on a Deployment: cpu: 8 unquoted is "8".
    ("a whole number as a quantity", {"resources": {"cpu": 8, "memory": 1024}}, None),
    ("a whole float as a quantity", {"resources": {"cpu": 8.0}}, None),
    ("a fraction as a quantity", {"resources": {"cpu": 1.5}}, "resources.cpu"),
    # The pattern checks strings only: a negative number needs its own rule.
    ("a negative whole number as a quantity", {"resources": {"cpu": -1}}, "resources.cpu"),
    ("a negative quantity as a string", {"resources": {"memory": "-1Gi"}}, "resources.memory"),
    ("a bool as a quantity", {"resources": {"memory": True}}, "resources.memory"),
    ("a list as a quantity", {"resources": {"memory": [8]}}, "resources.memory"),
    (
        "a string as a bool",
        {"runtime": {"volumes": [{"name": "v", "secret": {"secretName": "s", "optional": "yes"}}]}},
        "runtime.volumes[0].secret.optional",
    ),
    ("a whole float as a count", {"resources": {"gpus": 2.0}}, None),
    ("a count as a price", {"cost": {"maxHourlyCost": 10, "gpuHourlyPrice": 2}}, None),
]


REPOSITORIES = [
    ("a bucket", {"model": {"name": "m", "repository": "s3://my-models/triton"}}, None),
    ("no bucket", {"model": {"name": "m", "repository": "s3:///triton"}}, "model.repository"),
    (
        "a Hub id with a space",
        {
            "model": {"name": "m", "repository": "hf://meta-llama/ Llama-3"},
            "runtime": {"type": "vllm"},
        },
        "model.repository",
    ),
]


COMPOSING_MODELS = [
    (
        "an ensemble and its steps",
        {"model": {**_ENSEMBLE, "composingModels": ["preprocessing", "tensorrt_llm"]}},
        None,
    ),
    ("none listed", {"model": {**_ENSEMBLE, "composingModels": []}}, None),
    (
        "none listed for vllm",
        {"model": {"name": "m", "repository": "hf://o/m", "composingModels": []},
         "runtime": {"type": "vllm"}},
        None,
    ),
    (
        "a name that is no model directory",
        {"model": {**_ENSEMBLE, "composingModels": ["pre", "../etc"]}},
        "model.composingModels[1]",
    ),
    ("an empty name", {"model": {**_ENSEMBLE, "composingModels": [""]}},
     "model.composingModels[0]"),
    (
        "too many",
        {"model": {**_ENSEMBLE, "composingModels": [f"step{i}" for i in range(17)]}},
        "model.composingModels",
    ),
    ("not a list", {"model": {**_ENSEMBLE, "composingModels": "pre"}}, "model.composingModels"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "overrides", "field"), NULLS + JSON_TYPES + REPOSITORIES + COMPOSING_MODELS
)
def test_api_server_and_validate_agree(
    kube: Kube, case: str, overrides: dict[str, Any], field: str | None
) -> None:
    """A null field (a Helm template's ``version: ~``) is dropped by the API server, and
    defaulted: `gpufleet validate` and the operator read it so too. A value of the wrong
    JSON type is refused by both, not converted ("1" to 1) and called valid where
    kubectl apply refuses it. A model repository naming no bucket, or a Hub id no Hub
    has, is refused by both at apply time, not found by a download failing at start."""
    spec = minimal_spec(**overrides)
    body = {"apiVersion": "gpufleet.io/v1alpha1", "kind": "ModelDeployment", "spec": spec}
    response = kube.create(MODELDEPLOYMENTS, "default", {**body, "metadata": {"name": "n"}})
    if field is None:
        assert response.status_code == 201, f"{case}: {response.text}"
        validated, _ = validate(spec, DEFAULT_GPU_PRICES)
        assert parse_spec(response.json()["spec"]) == validated, case
        return
    assert response.status_code == 422, f"{case}: {response.text}"
    assert response.json()["details"]["causes"][0]["field"] == f"spec.{field}", case
    with pytest.raises(SpecError) as caught:
        validate(spec, DEFAULT_GPU_PRICES)
    assert caught.value.field == field, case


def test_no_field_is_nullable() -> None:
    """parse_spec drops every null as the API server does only while none is nullable."""
    assert "nullable" not in json.dumps(_schema())


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every scalar of a JSON value by its path (an empty object or list has none)."""
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in _leaves(item, f"{path}.{key}").items()
        }
    if isinstance(value, list):
        return {
            k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{path}[{i}]").items()
        }
    return {path: value}


DEFAULTED = [
    ("a minimal spec", {}),
    ("scale to zero", {"scaling": {"minReplicas": 0, "activation": {"query": "q"}}}),
    ("a network policy", {"networkPolicy": {}}),
    ("torch settings", {"runtime": {"type": "torch", "torch": {}}}),
    (
        "a private hf model",
        {
            "model": {"name": "m", "repository": "hf://o/m", "hfTokenSecretRef": {"name": "s"}},
            "runtime": {"type": "vllm"},
        },
    ),
]


@pytest.mark.parametrize(("case", "overrides"), DEFAULTED)
def test_the_stored_object_says_what_the_operator_does(
    kube: Kube, case: str, overrides: dict[str, Any]
) -> None:
    """The API server's defaults are the models': every value the operator acts on is in
    the stored object, and nothing there differs (kubectl get -o yaml tells the truth)."""
    body = {"apiVersion": "gpufleet.io/v1alpha1", "kind": "ModelDeployment"}
    spec = minimal_spec(**overrides)
    response = kube.create(
        MODELDEPLOYMENTS, "default", {**body, "metadata": {"name": "d"}, "spec": spec}
    )
    assert response.status_code == 201, f"{case}: {response.text}"
    assert _leaves(response.json()["spec"]) == _leaves(parse_spec(spec).to_wire()), case


NAMES = [
    ("a" * 63, True),
    ("llama-3-70b", True),
    ("a" * 64, False),  # a valid object name, but not a Service name nor a label value
    ("llama.v3", False),  # dots: a DNS subdomain, not a DNS-1035 label
    ("3-llamas", False),  # a Service name starts with a letter
]


@pytest.mark.parametrize(("name", "valid"), NAMES)
def test_api_server_and_validate_agree_on_names(kube: Kube, name: str, valid: bool) -> None:
    spec = minimal_spec()
    body = {
        "apiVersion": "gpufleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec,
    }
    response = kube.create(MODELDEPLOYMENTS, "default", body)
    if valid:
        assert response.status_code == 201, response.text
        validate(spec, DEFAULT_GPU_PRICES, name=name)  # what `gpufleet validate` runs
        return
    assert response.status_code == 422, response.text
    assert {c["field"] for c in response.json()["details"]["causes"]} == {"metadata.name"}
    with pytest.raises(SpecError) as caught:
        validate(spec, DEFAULT_GPU_PRICES, name=name)
    assert caught.value.field == "metadata.name"


IMAGES = [
    ("nvcr.io/nvidia/tritonserver:24.08-py3", True),
    ("localhost:5000/team/server", True),
    ("vllm/vllm-openai@sha256:" + "0" * 64, True),
    ("registry.example.com:443/a/b:v1@sha256:" + "f" * 64, True),
    ("Team/Server:1", False),  # the path is lowercase
    ("server:", False),
    ("server:-tag", False),
    ("a//b", False),
    ("server@sha256:abc", False),  # a digest is at least 32 hex digits
    ("image with spaces", False),
    ("a" * 255 + ":" + "t" * 128, True),  # the registry's 255 characters bound the name only
    ("a" * 256 + ":t", False),
    ("registry:5000/" + "a" * 241, True),
    ("registry:5000/" + "a" * 242, False),
    ("a" * 256 + "@sha256:" + "0" * 64, False),
]


@pytest.mark.parametrize(("image", "valid"), IMAGES)
def test_api_server_and_validate_agree_on_image_references(
    kube: Kube, image: str, valid: bool
) -> None:
    spec = minimal_spec(runtime={"image": image})
    body = {
        "apiVersion": "gpufleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "img"},
        "spec": spec,
    }
    response = kube.create(MODELDEPLOYMENTS, "default", body)
    assert response.status_code == (201 if valid else 422), response.text
    if valid:
        parse_spec(spec)
        return
    assert response.json()["details"]["causes"][0]["field"] == "spec.runtime.image"
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    assert caught.value.field == "runtime.image"


def test_kubectl_get_shows_llm_latencies_and_targets(kube: Kube) -> None:
    body = {
        "apiVersion": "gpufleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "chat"},
        "spec": minimal_spec(slo={"ttftP95Ms": 800, "itlP95Ms": 50}),
    }
    assert kube.create(MODELDEPLOYMENTS, "default", body).status_code == 201
    status = {
        "status": {"ttftP95Ms": 412.5, "itlP95Ms": 38.0, "tpotP95Ms": 31.0, "readyReplicas": 2}
    }
    patched = kube.merge_patch(MODELDEPLOYMENTS, "default", "chat", status, sub="status")
    assert patched.status_code == 200, patched.text
    response = kube.session.get(
        kube.url + MODELDEPLOYMENTS.path("default"),
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
        timeout=10,
    )
    table = response.json()
    names = [c["name"] for c in table["columnDefinitions"]]
    (row,) = table["rows"]
    cells = dict(zip(names, row["cells"], strict=True))
    assert (cells["TTFT-Target"], cells["ITL-Target"]) == (800, 50)
    assert (cells["TTFT-ms"], cells["ITL-ms"], cells["Ready"]) == (412.5, 38, 2)
    assert cells["TPOT-ms"] == 31
    assert cells["Runtime"] == "triton"
