"""spec.networkPolicy: only the chosen clients reach the model, only Prometheus its metrics."""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet.domain.manifests.children import CHILD_KINDS, NETWORK_POLICY, OPTIONAL_CHILD_KINDS
from gpufleet.domain.manifests.context import BuildContext
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import SpecError, parse_spec
from tests.operator.specs import GOLDEN_SPECS, minimal_spec

OWNER = Owner("demo", "ml", "uid-1")


def _ingress(raw: dict[str, Any], context: BuildContext | None = None) -> list[dict[str, Any]]:
    policy = NETWORK_POLICY.build(OWNER, parse_spec(raw), context)
    assert policy["spec"]["podSelector"] == {"matchLabels": {"gpufleet.io/modeldeployment": "demo"}}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    rules: list[dict[str, Any]] = policy["spec"]["ingress"]
    return rules


def test_no_policy_unless_asked() -> None:
    spec = parse_spec(minimal_spec())
    assert not NETWORK_POLICY.wanted(spec)
    assert NETWORK_POLICY in OPTIONAL_CHILD_KINDS
    assert NETWORK_POLICY not in CHILD_KINDS


def test_clients_reach_serving_ports_and_prometheus_only_metrics() -> None:
    serving, scraping = _ingress(GOLDEN_SPECS["triton-network-policy"])
    assert [p["port"] for p in serving["ports"]] == ["http", "grpc"]
    assert serving["from"][1] == {"podSelector": {"matchLabels": {"role": "batch-scorer"}}}
    assert [p["port"] for p in scraping["ports"]] == ["metrics"]
    assert scraping["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "observability"}
    }


def test_defaults_are_the_own_namespace_and_the_monitoring_namespace() -> None:
    serving, scraping = _ingress(minimal_spec(networkPolicy={}))
    assert serving["from"] == [{"podSelector": {}}]
    assert scraping["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


def test_vllm_serves_and_exports_on_one_port_named_twice() -> None:
    serving, scraping = _ingress(GOLDEN_SPECS["vllm-network-policy-defaults"])
    assert [p["port"] for p in serving["ports"]] == ["http"]
    assert [p["port"] for p in scraping["ports"]] == ["metrics"]


OPERATOR = BuildContext(
    operator_namespace="gpufleet-system",
    operator_pod_labels={"app.kubernetes.io/component": "operator"},
)


def test_the_operator_reaches_the_http_port_where_it_reads_the_model_configuration() -> None:
    *_, operator = _ingress(GOLDEN_SPECS["triton-network-policy"], OPERATOR)
    assert operator == {
        "from": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "gpufleet-system"}
                },
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "operator"}},
            }
        ],
        "ports": [{"port": "http", "protocol": "TCP"}],
    }


def test_no_operator_rule_for_an_llm_engine_or_an_operator_that_does_not_know_its_namespace() -> (
    None
):
    # vLLM has no model configuration to read; and an operator run outside the chart
    # (no GPUFLEET_OPERATOR_NAMESPACE) cannot name its pods.
    assert len(_ingress(GOLDEN_SPECS["vllm-network-policy-defaults"], OPERATOR)) == 2
    assert len(_ingress(GOLDEN_SPECS["triton-network-policy"], BuildContext())) == 2


@pytest.mark.parametrize(
    ("peer", "field"),
    [
        ({}, "networkPolicy.clients[0]"),
        (
            {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}},
            "networkPolicy.clients[0]",
        ),
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Maybe"}]}},
            "networkPolicy.clients[0].podSelector.matchExpressions[0].operator",
        ),
    ],
)
def test_bad_peers_name_the_field(peer: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(minimal_spec(networkPolicy={"clients": [peer]}))
    assert caught.value.field == field
