"""Kubernetes shapes a ModelDeployment passes through to its pods, with their schema.

Each is the Kubernetes type of the same name, restricted to what a model pod needs and
checked here (and by the CRD) so a mistake is reported on the ModelDeployment, naming the
field, instead of as a Deployment the API server refuses. Field names and meanings are
Kubernetes' own, so manifests copy over unchanged.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from gpufleet.domain.wire import WireModel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"

# A label's key ([DNS-subdomain prefix/]name, the name at most 63 characters) and value,
# as the API server checks them on the pods' nodeSelector and tolerations.
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
QUALIFIED_NAME = rf"^({DNS_SUBDOMAIN[1:-1]}/)?{_LABEL_NAME}$"
QUALIFIED_NAME_MAX = 253 + 1 + 63
LABEL_VALUE = rf"^({_LABEL_NAME})?$"


LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]

_NOT_QUALIFIED = (
    "{!r} is not a qualified name ([prefix/]name: name of at most 63 letters, digits, '-', "
    "'_' or '.', starting and ending alphanumeric; prefix a DNS subdomain)"
)
_LONG_PREFIX = "^[^/]{254,}/"
QUALIFIED_NAME_RULE = f"!self.matches('{_LONG_PREFIX}')"
"""CEL on a string the pattern QUALIFIED_NAME checks: its prefix is at most 253 characters,
which the pattern cannot say."""


def _is_qualified_name(key: str) -> bool:
    # The pattern bounds the name to 63 characters; a DNS subdomain's 253 it cannot.
    return bool(re.fullmatch(QUALIFIED_NAME, key)) and not re.match(_LONG_PREFIX, key)


def qualified_name(key: str) -> str:
    """``key`` if it is a qualified name (a label key, a topology key), as the API server
    judges one, else a ValueError saying what one is."""
    if not _is_qualified_name(key):
        raise ValueError(_NOT_QUALIFIED.format(key))
    return key


def label_keys(labels: dict[str, str] | None) -> dict[str, str] | None:
    """``labels`` if every key is a label key (a qualified name, as the API server wants
    it), else a ValueError naming the first that is not.

    Checked by the operator (and ``gpufleet validate``), not by the CRD: structural
    schemas have no ``propertyNames``, and a CEL rule over a map's keys (no length bound)
    costs more than a CRD's rules may."""
    for key in labels or {}:
        if not _is_qualified_name(key):
            raise ValueError(f"label key {_NOT_QUALIFIED.format(key)}")
    return labels


# An extended resource (the API server's IsExtendedResourceName): a qualified name with a
# prefix, outside the kubernetes.io namespace ("*kubernetes.io/": a native resource), not
# starting "requests." (quota's prefix), and a qualified name still once quota prefixes it
# with "requests." -- the domain at most 253 - 9 = 244 characters.
_QUOTA_PREFIX = "requests."
EXTENDED_RESOURCE = rf"^{DNS_SUBDOMAIN[1:-1]}/{_LABEL_NAME}$"
EXTENDED_RESOURCE_DOMAIN_MAX = 253 - len(_QUOTA_PREFIX)
EXTENDED_RESOURCE_MAX = EXTENDED_RESOURCE_DOMAIN_MAX + 1 + 63
_LONG_DOMAIN = f"^[^/]{{{EXTENDED_RESOURCE_DOMAIN_MAX + 1},}}/"
NOT_AN_EXTENDED_RESOURCE = (
    "not an extended resource name: domain/name, e.g. nvidia.com/gpu, "
    "nvidia.com/mig-1g.10gb, amd.com/gpu, gpu.intel.com/i915 (the domain a lowercase DNS "
    f"subdomain of at most {EXTENDED_RESOURCE_DOMAIN_MAX} characters, not in kubernetes.io "
    "and not starting with 'requests.'; the name at most 63 letters, digits, '-', '_' or '.', "
    "starting and ending alphanumeric)"
)


def extended_resource_name(name: str) -> str:
    """``name`` if the API server takes it as an extended resource, else a ValueError."""
    if (
        not re.fullmatch(EXTENDED_RESOURCE, name)
        or re.match(_LONG_DOMAIN, name)
        or "kubernetes.io/" in name
        or name.startswith(_QUOTA_PREFIX)
    ):
        raise ValueError(f"{name!r} is {NOT_AN_EXTENDED_RESOURCE}")
    return name


_INT64 = 2**63
_FLOAT_INTS = 2**53
"""Beyond this a float64 no longer holds every integer (nor is a JSON integer to the API server)."""


def _quantity_text(value: object) -> object:
    """A quantity written as a JSON integer (``cpu: 8`` unquoted in YAML), which the API
    server takes in an int-or-string field as a Deployment does, in its string form "8"."""
    if isinstance(value, bool):
        return value  # refused: a bool is no quantity
    if isinstance(value, int) and -_INT64 <= value < _INT64:
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) <= _FLOAT_INTS:
        return str(int(value))  # 8.0: the API server reads a whole float as an integer
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_quantity_text),
    Field(pattern=QUANTITY),
    # Int-or-string has no type in a structural schema; the pattern checks only a string,
    # so a number (cpu: -1 unquoted) needs a rule of its own to be refused as a negative.
    WithJsonSchema(
        {
            "pattern": QUANTITY,
            "x-kubernetes-int-or-string": True,
            "x-kubernetes-validations": [
                {"rule": "type(self) == string || self >= 0", "message": "must not be negative"}
            ],
        }
    ),
]
"""A resource quantity, as a string ("8", "500m", "8Gi") or a whole number (8)."""

ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
VolumeName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
Mode = Annotated[int, Field(ge=0, le=0o777)]


def _exactly_one(rule_fields: tuple[str, ...]) -> str:
    """A CEL rule: exactly one of ``rule_fields`` is set."""
    return " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in rule_fields) + " == 1"


def _one_of(fields: tuple[str, ...], what: str) -> JsonDict:
    names = ", ".join(fields)
    return {
        "x-kubernetes-validations": [
            {"rule": _exactly_one(fields), "message": f"{what}: set exactly one of {names}"}
        ]
    }


def _count_set(model: WireModel, fields: tuple[str, ...]) -> int:
    return sum(getattr(model, f) is not None for f in fields)


def _cel_matches(regex: str) -> str:
    """A CEL rule: the whole value matches ``regex`` (which holds no double quote)."""
    return 'self.matches("' + regex.replace("\\", "\\\\") + '")'


def _rule(rule: str, message: str) -> JsonDict:
    return {"x-kubernetes-validations": [{"rule": rule, "message": message}]}


def _fullmatch(regex: str, message: str) -> AfterValidator:
    """The operator's side of ``_rule(_cel_matches(regex), message)``: the same refusal,
    in the same words, where the CRD's rule is not run (``gpufleet validate``, the
    operator's own parse)."""

    def check(text: str) -> str:
        if not re.fullmatch(regex, text):
            raise ValueError(message)
        return text

    return AfterValidator(check)


EXTENDED_RESOURCE_RULE = (
    f"{_cel_matches(EXTENDED_RESOURCE)} && !self.matches('{_LONG_DOMAIN}') && "
    f"!self.contains('kubernetes.io/') && !self.startsWith('{_QUOTA_PREFIX}')"
)
"""CEL twin of :func:`extended_resource_name`."""


# The fields an environment variable may read of its pod (the API server's
# validEnvDownwardAPIFieldPathExpressions), and a label or annotation by its key.
ENV_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels['<key>']",
    "metadata.annotations['<key>']",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
# An annotation's key is checked lower-cased: its prefix may hold capitals.
_ANY_CASE_SUBDOMAIN = DNS_SUBDOMAIN[1:-1].replace("a-z", "A-Za-z")
ENV_FIELD_PATH = (
    r"^(metadata\.(name|namespace|uid)|spec\.(nodeName|serviceAccountName)"
    r"|status\.(hostIPs?|podIPs?)"
    rf"|metadata\.labels\['{QUALIFIED_NAME[1:-1]}'\]"
    rf"|metadata\.annotations\['({_ANY_CASE_SUBDOMAIN}/)?{_LABEL_NAME}'\])$"
)
_ENV_FIELD_PATH_UNKNOWN = (
    "fieldPath is not a field the API server gives an environment variable; one of "
    + ", ".join(ENV_FIELD_PATHS)
    + " (a key is a qualified name)"
)


class KeySelector(WireModel):
    """A key of a Secret or ConfigMap (``secretKeyRef`` / ``configMapKeyRef``)."""

    name: ObjectName
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=CONFIG_KEY)]
    optional: bool | None = None


class ObjectFieldSelector(WireModel):
    field_path: Annotated[
        str,
        Field(
            min_length=1,
            max_length=256,
            json_schema_extra=_rule(_cel_matches(ENV_FIELD_PATH), _ENV_FIELD_PATH_UNKNOWN),
        ),
        _fullmatch(ENV_FIELD_PATH, _ENV_FIELD_PATH_UNKNOWN),
    ]
    api_version: Annotated[
        str | None,
        # The API server converts the path with the version's field labels, and only v1
        # (its default) has any.
        Field(default=None, pattern=r"^v1$", description="The pod API's version: v1."),
    ] = None


# What an environment variable may read of its container's resources (the API server's
# validEnvDownwardAPIResourceFieldSelectors, and huge pages by size).
ENV_RESOURCE = (
    r"^(limits|requests)\.(cpu|memory|ephemeral-storage"
    r"|hugepages-[0-9]+(\.[0-9]+)?(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$"
)
_ENV_RESOURCE_UNKNOWN = (
    "resource is not one the API server gives an environment variable: limits. or "
    "requests. followed by cpu, memory, ephemeral-storage or hugepages-<size>"
)
_QUANTITY_SUFFIX = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
_QUANTITY_SUFFIX |= {"E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_QUANTITY_SUFFIX |= {"Pi": 2**50, "Ei": 2**60}
_BYTE_DIVISORS = frozenset(_QUANTITY_SUFFIX.values())
_CPU_DIVISORS = frozenset({Fraction(1, 1000), Fraction(1)})


def quantity_value(quantity: str) -> Fraction:
    """The exact value of a quantity that matches ``QUANTITY`` ("1000m" is 1)."""
    number = quantity.rstrip("kmKMGTPEi")
    suffix = quantity[len(number) :]
    if suffix == "m":
        return Fraction(number) / 1000
    return Fraction(number) * _QUANTITY_SUFFIX[suffix]


class ResourceFieldSelector(WireModel):
    resource: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            json_schema_extra=_rule(_cel_matches(ENV_RESOURCE), _ENV_RESOURCE_UNKNOWN),
        ),
        _fullmatch(ENV_RESOURCE, _ENV_RESOURCE_UNKNOWN),
    ]
    container_name: str | None = None
    divisor: Annotated[str | None, Field(default=None, pattern=QUANTITY)] = None

    @field_validator("divisor")
    @classmethod
    def _a_divisor_of_its_unit(cls, divisor: str | None, info: ValidationInfo) -> str | None:
        # As the API server: CPU in cores or millicores, the rest in bytes by a power of
        # 1000 or 1024; a zero divisor is no divisor. Checked by the operator, on the
        # ModelDeployment: a CEL rule here cannot compare quantities by value.
        resource = info.data.get("resource")
        if divisor is None or resource is None or (value := quantity_value(divisor)) == 0:
            return divisor
        cpu = resource.endswith(".cpu")
        if value not in (_CPU_DIVISORS if cpu else _BYTE_DIVISORS):
            allowed = "1m or 1" if cpu else "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, ... 1Ei"
            raise ValueError(f"divisor {divisor} of {resource}: must be {allowed}")
        return divisor


_ENV_SOURCES = ("secretKeyRef", "configMapKeyRef", "fieldRef", "resourceFieldRef")


class EnvVarSource(WireModel):
    model_config = ConfigDict(json_schema_extra=_one_of(_ENV_SOURCES, "valueFrom"))

    secret_key_ref: KeySelector | None = None
    config_map_key_ref: KeySelector | None = None
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> EnvVarSource:
        python_names = ("secret_key_ref", "config_map_key_ref", "field_ref", "resource_field_ref")
        if _count_set(self, python_names) != 1:
            raise ValueError(f"set exactly one of {', '.join(_ENV_SOURCES)}")
        return self


class EnvVar(WireModel):
    """An environment variable: a literal ``value`` or a reference (``valueFrom``).

    Credentials belong in ``valueFrom``: a literal value is stored in the ModelDeployment
    (and in the operator's last-applied annotation) for anyone who can read it.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.value) && has(self.valueFrom))",
                    "message": "set value or valueFrom, not both",
                }
            ]
        }
    )

    name: Annotated[str, Field(min_length=1, max_length=256, pattern=ENV_NAME)]
    value: str | None = None
    value_from: EnvVarSource | None = None

    @model_validator(mode="after")
    def _value_or_reference(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError("set value or valueFrom, not both")
        return self


class LocalObjectReference(WireModel):
    name: ObjectName


class OptionalObjectReference(WireModel):
    name: ObjectName
    optional: bool | None = None


_ENV_FROM_SOURCES = ("configMapRef", "secretRef")


class EnvFromSource(WireModel):
    """Every key of a Secret or ConfigMap as environment variables."""

    model_config = ConfigDict(json_schema_extra=_one_of(_ENV_FROM_SOURCES, "envFrom"))

    prefix: Annotated[str | None, Field(default=None, max_length=253, pattern=ENV_NAME)] = None
    config_map_ref: OptionalObjectReference | None = None
    secret_ref: OptionalObjectReference | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> EnvFromSource:
        if _count_set(self, ("config_map_ref", "secret_ref")) != 1:
            raise ValueError("set exactly one of configMapRef, secretRef")
        return self


_KEY_PATH_BACKSTEP = (
    "path may not start with '..' nor hold a '..' segment: the API server refuses a key's "
    "file outside its volume"
)


class KeyToPath(WireModel):
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=CONFIG_KEY)]
    path: Annotated[
        str,
        Field(
            min_length=1,
            max_length=253,
            pattern=r"^[^/].*$",
            json_schema_extra=_rule(
                "!self.startsWith('..') && !self.matches('(^|/)[.][.](/|$)')", _KEY_PATH_BACKSTEP
            ),
        ),
    ]
    mode: Mode | None = None

    @field_validator("path")
    @classmethod
    def _stays_in_the_volume(cls, path: str) -> str:
        # As the API server: "..x" is refused too, though it names no parent directory.
        if path.startswith("..") or ".." in path.split("/"):
            raise ValueError(_KEY_PATH_BACKSTEP)
        return path


class SecretVolumeSource(WireModel):
    secret_name: ObjectName
    items: Annotated[list[KeyToPath] | None, Field(default=None, max_length=64)] = None
    default_mode: Mode | None = None
    optional: bool | None = None


class ConfigMapVolumeSource(WireModel):
    name: ObjectName
    items: Annotated[list[KeyToPath] | None, Field(default=None, max_length=64)] = None
    default_mode: Mode | None = None
    optional: bool | None = None


class PersistentVolumeClaimVolumeSource(WireModel):
    claim_name: ObjectName
    read_only: bool | None = None


class EmptyDirVolumeSource(WireModel):
    medium: Annotated[str | None, Field(default=None, pattern=r"^(|Memory)$")] = None
    size_limit: Annotated[str | None, Field(default=None, pattern=QUANTITY)] = None


# The API server checks a CSI driver's name lower-cased as a DNS-1123 subdomain.
CSI_DRIVER = DNS_SUBDOMAIN.replace("a-z", "A-Za-z")
_CSI_DRIVER_INVALID = (
    "driver is not a CSI driver's name: a DNS-1123 subdomain (letters, digits, '-' and '.', "
    "each dot-separated part starting and ending with a letter or digit)"
)


class CSIVolumeSource(WireModel):
    driver: Annotated[
        str,
        Field(
            min_length=1,
            max_length=63,
            json_schema_extra=_rule(_cel_matches(CSI_DRIVER), _CSI_DRIVER_INVALID),
        ),
        _fullmatch(CSI_DRIVER, _CSI_DRIVER_INVALID),
    ]
    read_only: bool | None = None
    fs_type: str | None = None
    volume_attributes: dict[str, str] | None = None
    node_publish_secret_ref: LocalObjectReference | None = None


class NFSVolumeSource(WireModel):
    server: Annotated[str, Field(min_length=1)]
    path: Annotated[str, Field(min_length=1, pattern=r"^/")]
    read_only: bool | None = None


_VOLUME_SOURCES = ("secret", "configMap", "persistentVolumeClaim", "emptyDir", "csi", "nfs")


class Volume(WireModel):
    """An extra pod volume: credentials files, CA bundles, a shared model store.

    The sources a model pod needs; ``hostPath`` is deliberately absent (it would let a
    ModelDeployment author read the node's files).
    """

    model_config = ConfigDict(json_schema_extra=_one_of(_VOLUME_SOURCES, "volume"))

    name: VolumeName
    secret: SecretVolumeSource | None = None
    config_map: ConfigMapVolumeSource | None = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None
    csi: CSIVolumeSource | None = None
    nfs: NFSVolumeSource | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Volume:
        python_names = (
            "secret",
            "config_map",
            "persistent_volume_claim",
            "empty_dir",
            "csi",
            "nfs",
        )
        if _count_set(self, python_names) != 1:
            raise ValueError(f"set exactly one of {', '.join(_VOLUME_SOURCES)}")
        return self


class VolumeMount(WireModel):
    name: VolumeName
    # At most one trailing slash: "/data/" and "/data" are the same directory, and a CEL
    # rule (no string functions to strip a run of slashes) can then tell two mounts apart.
    mount_path: Annotated[str, Field(min_length=2, max_length=1024, pattern=r"^/.*[^/]/?$")]
    read_only: bool | None = None
    sub_path: Annotated[
        str | None, Field(default=None, max_length=1024, pattern=r"^[^/](.*[^/])?$")
    ] = None


# An image reference, by the grammar of github.com/distribution/reference:
#   reference := name [ ":" tag ] [ "@" digest ]
#   name := [domain "/"] path-component ["/" path-component]*
# Written for both Python's re and the API server's RE2 (no look-arounds, ASCII classes).
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = (
    rf"^(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
)
IMAGE_NAME_MAX = 255
"""The registry's limit on the name (domain and path, without tag or digest)."""
IMAGE_REFERENCE_MAX = IMAGE_NAME_MAX + 1 + 128 + 1 + 72 + 64
"""Name, ":" tag (128), "@" and a sha512 digest."""


# The name's length, by regular expressions a CEL rule can run too (the API server's CEL
# has no split): a tag is a ':' with no '/' after it before the digest (a ':' followed by a
# '/' is a registry port); the name is what precedes the tag, or the digest.
_TAGGED = r"^[^@]*:[^/@]*(@.*)?$"
_LONG_TAGGED = rf"^[^@]{{{IMAGE_NAME_MAX + 1},}}:[^/@]*(@.*)?$"
_LONG_UNTAGGED = rf"^[^@]{{{IMAGE_NAME_MAX + 1},}}(@.*)?$"
IMAGE_NAME_TOO_LONG = (
    f"the image name (registry and path) is longer than {IMAGE_NAME_MAX} characters"
)
IMAGE_NAME_RULE = (
    f"!(self.matches('{_TAGGED}') ? self.matches('{_LONG_TAGGED}') "
    f": self.matches('{_LONG_UNTAGGED}'))"
)
"""CEL on an image reference: its name is at most IMAGE_NAME_MAX characters."""


def image_name_too_long(image: str) -> bool:
    """True when the name part of an image reference exceeds the registry's 255 characters."""
    long = _LONG_TAGGED if re.search(_TAGGED, image) else _LONG_UNTAGGED
    return re.search(long, image) is not None


_VALUES_FOR_SETS = "values must be set for In and NotIn, and empty for Exists and DoesNotExist"


class LabelSelectorRequirement(WireModel):
    # The API server's rule, checked here and in the CRD so that a wrong one is refused on
    # the ModelDeployment instead of on its NetworkPolicy.
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(self.operator == 'In' || self.operator == 'NotIn') == "
                    "(has(self.values) && size(self.values) > 0)",
                    "message": _VALUES_FOR_SETS,
                }
            ]
        }
    )

    key: Annotated[str, Field(min_length=1, max_length=QUALIFIED_NAME_MAX, pattern=QUALIFIED_NAME)]
    operator: Annotated[str, Field(pattern=r"^(In|NotIn|Exists|DoesNotExist)$")]
    values: Annotated[list[LabelValue] | None, Field(default=None, max_length=64)] = None

    @model_validator(mode="after")
    def _values_for_sets(self) -> LabelSelectorRequirement:
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError(_VALUES_FOR_SETS)
        return self


class LabelSelector(WireModel):
    """Kubernetes' LabelSelector; empty selects everything."""

    # Values are label values; keys are checked by the operator only (label_keys).
    match_labels: dict[str, LabelValue] | None = None
    match_expressions: Annotated[
        list[LabelSelectorRequirement] | None, Field(default=None, max_length=16)
    ] = None

    _keys = field_validator("match_labels")(label_keys)


class IPBlock(WireModel):
    cidr: Annotated[str, Field(min_length=1, max_length=64)]
    except_: Annotated[list[str] | None, Field(default=None, alias="except", max_length=16)] = None


_PEER_FIELDS = ("podSelector", "namespaceSelector", "ipBlock")


class NetworkPolicyPeer(WireModel):
    """Who may connect: pods (in this or the selected namespaces), namespaces, or CIDRs."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": " || ".join(f"has(self.{f})" for f in _PEER_FIELDS),
                    "message": "set podSelector, namespaceSelector or ipBlock",
                },
                {
                    "rule": "!has(self.ipBlock) || "
                    "(!has(self.podSelector) && !has(self.namespaceSelector))",
                    "message": "ipBlock stands alone",
                },
            ]
        }
    )

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None

    @model_validator(mode="after")
    def _some_peer(self) -> NetworkPolicyPeer:
        selectors = self.pod_selector is not None or self.namespace_selector is not None
        if not selectors and self.ip_block is None:
            raise ValueError("set podSelector, namespaceSelector or ipBlock")
        if selectors and self.ip_block is not None:
            raise ValueError("ipBlock stands alone")
        return self
