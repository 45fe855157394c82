"""The rules on a ModelDeployment's ``metadata.name``, which its children carry."""

from __future__ import annotations

import re

from gpufleet.domain.spec.errors import SpecError

NAME_MAX = 63
"""A ModelDeployment's name becomes its Service's name (a DNS-1035 label) and label values."""
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
_NAME_TOO_LONG = (
    f"metadata.name must be at most {NAME_MAX} characters: it names the model's Service "
    "and is a label value"
)
_NAME_NOT_DNS_1035 = (
    "metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', starting "
    "with a letter, ending with a letter or digit): it names the model's Service"
)
NAME_RULES: list[dict[str, str]] = [
    {
        "rule": f"size(self.metadata.name) <= {NAME_MAX}",
        "message": _NAME_TOO_LONG,
        "fieldPath": ".metadata.name",
    },
    {
        "rule": f"self.metadata.name.matches('{NAME_PATTERN}')",
        "message": _NAME_NOT_DNS_1035,
        "fieldPath": ".metadata.name",
    },
]
"""CEL rules on the whole object (the API server lets them read metadata.name)."""


NAMESPACE_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
"""A Kubernetes namespace name (an RFC 1123 label): the only characters it can hold need
no escaping in a PromQL regular expression."""


def check_namespace(namespace: object) -> None:
    """Reject a ``metadata.namespace`` no cluster has (:class:`SpecError`); unset is fine.
    The API server refuses such an object, so only offline checks meet one."""
    if namespace is None or (
        isinstance(namespace, str) and re.fullmatch(NAMESPACE_NAME, namespace)
    ):
        return
    raise SpecError("metadata.namespace", f"not a namespace name: {namespace!r}")


def check_name(name: str) -> None:
    """Reject a ModelDeployment name its children cannot carry (:class:`SpecError`)."""
    if len(name) > NAME_MAX:
        raise SpecError("metadata.name", f"{name!r}: {_NAME_TOO_LONG}")
    if not re.fullmatch(NAME_PATTERN, name):
        raise SpecError("metadata.name", f"{name!r}: {_NAME_NOT_DNS_1035}")
