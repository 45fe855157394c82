"""``resources.gpuResource`` and ``resources.topologySpreadConstraints`` at the boundary.

What the API server would refuse on the model pods is refused on the ModelDeployment, by
the CRD (``kubectl apply``) and by the operator alike, naming the same field; what it
takes, both take; and the Deployment built from them is a valid Kubernetes object.
"""

from __future__ import annotations

from typing import Any

import celpy
import celpy.adapter
import kubernetes_validate
import pytest

from gpufleet.domain.k8s_shapes import EXTENDED_RESOURCE_RULE, extended_resource_name
from gpufleet.domain.manifests.children import DEPLOYMENT
from gpufleet.domain.manifests.identity import OWNER_LABEL, Owner
from gpufleet.domain.spec import SpecError, parse_spec
from tests.operator.specs import minimal_spec
from tests.support.kube import MODELDEPLOYMENTS, Kube

SPREAD = "spec.resources.topologySpreadConstraints"


def _spread(**fields: Any) -> dict[str, Any]:
    return {"topologySpreadConstraints": [fields]}


_ZONE = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone"}
_HARD_ZONE = {**_ZONE, "whenUnsatisfiable": "DoNotSchedule"}

REFUSED = [
    # The API server's IsExtendedResourceName, on the container's limits.
    ("a resource with no domain", {"gpuResource": "gpu"}, "spec.resources.gpuResource"),
    ("kubernetes.io's", {"gpuResource": "kubernetes.io/gpu"}, "spec.resources.gpuResource"),
    (
        "under kubernetes.io",
        {"gpuResource": "gpu.kubernetes.io/a100"},
        "spec.resources.gpuResource",
    ),
    ("quota's prefix", {"gpuResource": "requests.nvidia.com/gpu"}, "spec.resources.gpuResource"),
    (
        "a domain too long to prefix with requests.",
        {"gpuResource": "a" * 245 + "/gpu"},
        "spec.resources.gpuResource",
    ),
    ("a domain in capitals", {"gpuResource": "NVIDIA.com/gpu"}, "spec.resources.gpuResource"),
    ("a name with a space", {"gpuResource": "nvidia.com/mig 1g"}, "spec.resources.gpuResource"),
    ("an empty name", {"gpuResource": "nvidia.com/"}, "spec.resources.gpuResource"),
    # A process sees one MIG instance, and NCCL does not span instances: no tensor parallelism.
    (
        "two MIG slices a replica",
        {"gpuResource": "nvidia.com/mig-1g.10gb", "gpus": 2},
        "spec.resources.gpus",
    ),
    # The API server's validateTopologySpreadConstraints, on the pod template.
    ("maxSkew 0", _spread(**{**_HARD_ZONE, "maxSkew": 0}), f"{SPREAD}[0].maxSkew"),
    ("no whenUnsatisfiable", _spread(**_ZONE), f"{SPREAD}[0].whenUnsatisfiable"),
    (
        "an unknown whenUnsatisfiable",
        _spread(**_ZONE, whenUnsatisfiable="Never"),
        f"{SPREAD}[0].whenUnsatisfiable",
    ),
    (
        "no topologyKey",
        _spread(maxSkew=1, whenUnsatisfiable="DoNotSchedule"),
        f"{SPREAD}[0].topologyKey",
    ),
    (
        "a topologyKey with a space",
        _spread(**{**_HARD_ZONE, "topologyKey": "my zone"}),
        f"{SPREAD}[0].topologyKey",
    ),
    (
        "a topologyKey's prefix over 253 characters",
        _spread(**{**_HARD_ZONE, "topologyKey": "a" * 254 + "/zone"}),
        f"{SPREAD}[0].topologyKey",
    ),
    ("minDomains 0", _spread(**_HARD_ZONE, minDomains=0), f"{SPREAD}[0].minDomains"),
    (
        "minDomains with ScheduleAnyway",
        _spread(**_ZONE, whenUnsatisfiable="ScheduleAnyway", minDomains=3),
        f"{SPREAD}[0]",
    ),
    (
        "an unknown node taints policy",
        _spread(**_HARD_ZONE, nodeTaintsPolicy="Always"),
        f"{SPREAD}[0].nodeTaintsPolicy",
    ),
    (
        "an unknown node affinity policy",
        _spread(**_HARD_ZONE, nodeAffinityPolicy="honor"),
        f"{SPREAD}[0].nodeAffinityPolicy",
    ),
    (
        "the operator's selector key in matchLabelKeys",
        _spread(**_HARD_ZONE, matchLabelKeys=["pod-template-hash", OWNER_LABEL]),
        f"{SPREAD}[0].matchLabelKeys",
    ),
    (
        "a matchLabelKey that is no label key",
        _spread(**_HARD_ZONE, matchLabelKeys=["pod template hash"]),
        f"{SPREAD}[0].matchLabelKeys[0]",
    ),
    (
        "one topologyKey and whenUnsatisfiable twice",
        {"topologySpreadConstraints": [_HARD_ZONE, {**_HARD_ZONE, "maxSkew": 2}]},
        SPREAD,
    ),
]


def _create(kube: Kube, resources: dict[str, Any]) -> Any:
    body = {
        "apiVersion": "gpufleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "md"},
        "spec": minimal_spec(resources=resources),
    }
    return kube.create(MODELDEPLOYMENTS, "default", body)


@pytest.mark.parametrize(("case", "resources", "field"), REFUSED)
def test_refused_by_the_api_server_and_the_operator_naming_one_field(
    kube: Kube, case: str, resources: dict[str, Any], field: str
) -> None:
    response = _create(kube, resources)
    assert response.status_code == 422, f"{case}: {response.text}"
    # After a blocking schema error (a value not in an enum, a required field missing) the
    # API server adds a cause of no field: the CEL rules were not run.
    causes = response.json()["details"]["causes"]
    assert [c["field"] for c in causes if c["field"] != "<nil>"] == [field], case
    with pytest.raises(SpecError) as caught:
        parse_spec(minimal_spec(resources=resources))
    assert f"spec.{caught.value.field}" == field, case


ACCEPTED = [
    ("a MIG slice", {"gpuResource": "nvidia.com/mig-1g.10gb"}),
    ("one MIG slice, said", {"gpuResource": "nvidia.com/mig-1g.10gb", "gpus": 1}),
    ("two whole GPUs", {"gpuResource": "nvidia.com/gpu", "gpus": 2}),
    ("an AMD GPU", {"gpuResource": "amd.com/gpu"}),
    ("an Intel GPU", {"gpuResource": "gpu.intel.com/i915"}),
    # Only *kubernetes.io/ is the API server's own; k8s.io is any other domain to it.
    ("another domain", {"gpuResource": "k8s.io/Device_1.v2"}),
    ("the longest domain", {"gpuResource": "a" * 244 + "/gpu"}),
    (
        "every field of a constraint",
        _spread(
            **_HARD_ZONE,
            minDomains=3,
            nodeAffinityPolicy="Ignore",
            nodeTaintsPolicy="Honor",
            matchLabelKeys=["pod-template-hash", "app.kubernetes.io/version"],
        ),
    ),
    (
        "one key, hard and soft",
        {
            "topologySpreadConstraints": [
                _HARD_ZONE,
                {**_ZONE, "whenUnsatisfiable": "ScheduleAnyway"},
            ]
        },
    ),
    ("no spread at all", {"topologySpreadConstraints": []}),
]


@pytest.mark.parametrize(("case", "resources"), ACCEPTED)
def test_taken_by_the_api_server_and_the_operator_as_stored(
    kube: Kube, case: str, resources: dict[str, Any]
) -> None:
    response = _create(kube, resources)
    assert response.status_code == 201, f"{case}: {response.text}"
    stored = response.json()["spec"]
    assert parse_spec(stored) == parse_spec(minimal_spec(resources=resources)), case
    deployment = DEPLOYMENT.build(Owner("md", "default", "uid-1"), parse_spec(stored))
    kubernetes_validate.validate(deployment, "1.30", strict=True)


def test_unset_the_stored_object_says_nvidia_gpu_and_no_spread(kube: Kube) -> None:
    response = _create(kube, {})
    assert response.status_code == 201, response.text
    resources = response.json()["spec"]["resources"]
    assert resources["gpuResource"] == "nvidia.com/gpu"
    # Unset is not [] (none): the operator's default spread applies.
    assert "topologySpreadConstraints" not in resources


NAMES = [
    "nvidia.com/gpu",
    "nvidia.com/mig-3g.40gb",
    "amd.com/gpu",
    "gpu.intel.com/i915",
    "example.com/A_b.c-1",
    "a" * 244 + "/" + "b" * 63,
    "a" * 245 + "/gpu",
    "example.com/" + "b" * 64,
    "gpu",
    "/gpu",
    "example.com/gpu/x",
    "example.com/-gpu",
    "Example.com/gpu",
    "kubernetes.io/gpu",
    "node.kubernetes.io/gpu",
    "kubernetes.io.example.com/gpu",
    "requests.example.com/gpu",
    "example.com/requests.gpu",
    "example..com/gpu",
]


@pytest.mark.parametrize("name", NAMES)
def test_the_crds_rule_and_the_operator_agree_on_resource_names(name: str) -> None:
    env = celpy.Environment()
    program = env.program(env.compile(EXTENDED_RESOURCE_RULE))
    by_cel = bool(program.evaluate({"self": celpy.adapter.json_to_cel(name)}))
    try:
        extended_resource_name(name)
        by_operator = True
    except ValueError:
        by_operator = False
    assert by_cel == by_operator, name
