"""``spec.networkPolicy``: who may reach the model pods."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from gpufleet.domain.k8s_shapes import IPBlock, LabelSelector, NetworkPolicyPeer
from gpufleet.domain.wire import WireModel


def _monitoring_namespace() -> list[NetworkPolicyPeer]:
    return [
        NetworkPolicyPeer(
            namespace_selector=LabelSelector(
                match_labels={"kubernetes.io/metadata.name": "monitoring"}
            )
        )
    ]


class NetworkPolicySpec(WireModel):
    """Who may reach the model pods; set, the operator owns a NetworkPolicy that allows
    only these peers, and its own pods to the HTTP port where it reads the model's
    configuration (and denies every other ingress to the pods)."""

    clients: Annotated[
        list[NetworkPolicyPeer],
        Field(
            default_factory=list,
            max_length=32,
            description=(
                "Who may call the model (its http and grpc ports): a gateway, an "
                "application's pods or namespaces. Empty: pods in the ModelDeployment's "
                "own namespace."
            ),
        ),
    ]
    prometheus: Annotated[
        list[NetworkPolicyPeer],
        Field(
            default_factory=_monitoring_namespace,
            max_length=8,
            description=(
                "Who scrapes the metrics port: the Prometheus the operator queries. "
                "Default: any pod in the namespace named monitoring."
            ),
            # In the CRD too, so the stored object shows whom the policy lets in (pydantic
            # leaves a default_factory out of the schema).
            json_schema_extra={"default": [p.to_wire() for p in _monitoring_namespace()]},
        ),
    ]

    @field_validator("clients", "prometheus")
    @classmethod
    def _cidrs_as_the_api_server(
        cls, peers: list[NetworkPolicyPeer], info: ValidationInfo
    ) -> list[NetworkPolicyPeer]:
        """The API server's rules on an ipBlock, here (CEL's cidr() needs Kubernetes 1.31):
        a wrong one is refused on the ModelDeployment, not on its NetworkPolicy."""
        for index, peer in enumerate(peers):
            if peer.ip_block is not None:
                where = f"networkPolicy.{info.field_name}[{index}].ipBlock"
                _check_ip_block(peer.ip_block, where)
        return peers


_CIDR = re.compile(r"^[0-9A-Fa-f.:]+/[0-9]{1,3}$")


def _network(cidr: str, where: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        if not _CIDR.fullmatch(cidr):
            raise ValueError(cidr)
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ValueError(f"{where}: {cidr!r} is not a CIDR (address/prefix length)") from None


def _check_ip_block(block: IPBlock, where: str) -> None:
    network = _network(block.cidr, f"{where}.cidr")
    for index, cidr in enumerate(block.except_ or ()):
        excluded = _network(cidr, f"{where}.except[{index}]")
        if not (
            excluded.version == network.version
            and excluded.prefixlen > network.prefixlen
            and excluded.subnet_of(network)  # type: ignore[arg-type]
        ):
            raise ValueError(
                f"{where}.except[{index}]: {cidr!r} is not a strict subset of cidr {block.cidr!r}"
            )
