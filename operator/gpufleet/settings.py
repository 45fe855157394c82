"""Operator settings, read once from the environment (``GPUFLEET_*``).

The Helm chart sets these; ``gpufleet run --help`` documents the flags that
override them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gpufleet.domain.manifests.context import GFD_PRODUCT_LABEL
from gpufleet.domain.pricing import DEFAULT_GPU_PRICES
from gpufleet.domain.spec.name import NAMESPACE_NAME


class MetricLabels(BaseModel):
    """Prometheus label names that identify where a sample came from."""

    model_config = ConfigDict(frozen=True)

    namespace: str = "namespace"
    modeldeployment: str = "modeldeployment"
    pod: str = "pod"


PEERING_OBJECT_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""A Kubernetes object name (DNS-1123 subdomain), as the peering object's must be."""

HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP field name (RFC 9110's token)."""
CLIENT_HEADERS = frozenset(
    {"authorization", "host", "content-type", "content-length", "transfer-encoding", "connection"}
)
"""Headers the reader sets itself (or takes from the auth settings)."""


SIMPLE_VARIABLES: dict[str, str] = {
    "GPUFLEET_PROMETHEUS_URL": "prometheus_url",
    "GPUFLEET_TICK_SECONDS": "tick_seconds",
    "GPUFLEET_RATE_WINDOW_SECONDS": "rate_window_seconds",
    "GPUFLEET_SCRAPE_INTERVAL_SECONDS": "scrape_interval_seconds",
    "GPUFLEET_STALE_AFTER_SECONDS": "stale_after_seconds",
    "GPUFLEET_QUERY_TIMEOUT_SECONDS": "query_timeout_seconds",
    "GPUFLEET_GPU_NODE_LABEL": "gpu_node_label",
    "GPUFLEET_PEERING_PRIORITY": "peering_priority",
    "GPUFLEET_PEERING_NAME": "peering_name",
    "GPUFLEET_PROMETHEUS_BEARER_TOKEN_FILE": "prometheus_bearer_token_file",
    "GPUFLEET_PROMETHEUS_USERNAME": "prometheus_username",
    "GPUFLEET_PROMETHEUS_PASSWORD_FILE": "prometheus_password_file",
    "GPUFLEET_PROMETHEUS_CA_FILE": "prometheus_ca_file",
    "GPUFLEET_PROMETHEUS_INSECURE_SKIP_VERIFY": "prometheus_insecure_skip_verify",
    "GPUFLEET_OPERATOR_NAMESPACE": "operator_namespace",
}
"""Environment variables read as they are, by the setting each one sets."""

VARIABLE_OF: dict[str, str] = {
    **{field: var for var, field in SIMPLE_VARIABLES.items()},
    "autoscaling_enabled": "GPUFLEET_AUTOSCALING",
    "namespaces": "--namespace / GPUFLEET_NAMESPACES",
    "operator_pod_labels": "GPUFLEET_OPERATOR_POD_LABELS",
    "gpu_prices": "GPUFLEET_GPU_PRICES",
    "prometheus_headers": "GPUFLEET_PROMETHEUS_HEADERS",
    "labels": "GPUFLEET_LABEL_*",
}
"""Where each setting comes from, for an error a person can act on."""


def problems(error: ValidationError) -> list[str]:
    """Each bad setting named by the variable (or flag) that set it, with what is wrong."""
    out = []
    for item in error.errors():
        loc = item["loc"]
        where = VARIABLE_OF.get(str(loc[0]), str(loc[0])) if loc else "settings"
        given = item.get("input")
        shown = f" {given!r}:" if loc and isinstance(given, str) else ""
        out.append(f"{where}:{shown} {item['msg']}")
    return out


SCRAPES_SPANNED: dict[str, tuple[int, str, str]] = {
    "rate_window_seconds": (2, "two scrape intervals", "rate() needs two samples in its window"),
    "stale_after_seconds": (1, "one scrape interval", "every pod would read stale between scrapes"),
}
"""The scrape intervals a setting must span, and why (the chart checks the same)."""


class OperatorSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    tick_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0
    scrape_interval_seconds: Annotated[float, Field(gt=0)] = 5.0
    """How often Prometheus scrapes the model pods (validated before the two below, which
    are checked against it)."""
    rate_window_seconds: Annotated[float, Field(gt=0, validate_default=True)] = 30.0
    """Window of ``rate()``; at least 2 scrape intervals."""
    stale_after_seconds: Annotated[float, Field(gt=0, validate_default=True)] = 30.0
    """A sample older than this (or a pod absent from the result) is unknown; at least one
    scrape interval."""
    query_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    prometheus_bearer_token_file: Path | None = None
    """File holding a bearer token for Prometheus (a projected service-account token, a
    managed Prometheus's token); read again whenever it changes, so rotation needs no restart."""
    prometheus_username: str | None = None
    """Basic-auth user name; the password is read from ``prometheus_password_file``."""
    prometheus_password_file: Path | None = None
    prometheus_ca_file: Path | None = None
    """PEM bundle of the CAs that may sign Prometheus's certificate (https URLs);
    unset: the system's trust store."""
    prometheus_insecure_skip_verify: bool = False
    """Accept any certificate from Prometheus. Off by default: only for tests."""
    prometheus_headers: dict[str, str] = Field(default_factory=dict)
    """Headers sent with every query, e.g. the tenant of a multi-tenant Prometheus
    (Grafana Mimir's and Cortex's ``X-Scope-OrgID``). Not for credentials: those come
    from files (``prometheus_bearer_token_file``, ``prometheus_password_file``)."""
    gpu_prices: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_GPU_PRICES))
    labels: MetricLabels = Field(default_factory=MetricLabels)
    namespaces: tuple[Annotated[str, Field(pattern=NAMESPACE_NAME)], ...] = ()
    """Namespaces to watch (``--namespace``, else ``GPUFLEET_NAMESPACES``); empty means the
    whole cluster. Prometheus is read for these namespaces' pods only."""
    autoscaling_enabled: bool = True
    peering_priority: int = 0
    """kopf peering: while a peer with a higher priority is alive this operator pauses;
    peers of equal priority pause each other (all of them). A hot standby runs with a
    lower priority than the primary."""
    peering_name: Annotated[str, Field(pattern=PEERING_OBJECT_NAME, max_length=253)] = "gpufleet"
    """The kopf peering object (``ClusterKopfPeering`` or ``KopfPeering``) this operator
    peers through. Not kopf's ``default``: every kopf-based operator peers through that
    one, and any of them at an equal priority would pause gpufleet (and itself)."""
    gpu_node_label: str = GFD_PRODUCT_LABEL
    """Node label naming each node's GPU model: GPU Feature Discovery's by default (its
    product names); another key (e.g. ``cloud.google.com/gke-accelerator``) carries the
    gpuType itself; empty selects any node with ``nvidia.com/gpu``."""

    operator_namespace: str | None = None
    """The namespace the operator's pods run in (the chart sets it): a NetworkPolicy the
    operator builds lets its pods reach the model's HTTP port, where it reads the model's
    configuration. Unset: no such rule (the operator then relies on model.maxBatchSize)."""
    operator_pod_labels: dict[str, str] = Field(default_factory=dict)
    """Labels selecting the operator's pods in ``operator_namespace`` (``k=v,k2=v2`` in
    the environment); empty: any pod there."""

    @model_validator(mode="after")
    def _one_prometheus_auth(self) -> OperatorSettings:
        if self.prometheus_bearer_token_file and (
            self.prometheus_username or self.prometheus_password_file
        ):
            raise ValueError(
                "prometheus_bearer_token_file and prometheus_username/prometheus_password_file "
                "are exclusive: Prometheus gets one Authorization header"
            )
        if bool(self.prometheus_username) != bool(self.prometheus_password_file):
            raise ValueError(
                "prometheus_username and prometheus_password_file go together (basic auth)"
            )
        return self

    @field_validator("rate_window_seconds", "stale_after_seconds")
    @classmethod
    def _spans_scrapes(cls, seconds: float, info: ValidationInfo) -> float:
        interval = info.data.get("scrape_interval_seconds")
        scrapes, spelled, why = SCRAPES_SPANNED[str(info.field_name)]
        if interval is not None and seconds < scrapes * interval:
            raise ValueError(
                f"{seconds:g} s is shorter than {spelled} ({scrapes} x {interval:g} s): {why}"
            )
        return seconds

    @field_validator("prometheus_headers")
    @classmethod
    def _sendable_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not HEADER_NAME.fullmatch(name):
                raise ValueError(f"prometheus header {name!r} is not an HTTP header name")
            if name.lower() in CLIENT_HEADERS:
                raise ValueError(
                    f"prometheus header {name!r} is the client's own: "
                    + (
                        "credentials come from the bearer token or password file"
                        if name.lower() == "authorization"
                        else "it is set for each request"
                    )
                )
            if any(c in value for c in "\r\n\0"):
                raise ValueError(f"prometheus header {name!r}: a value is one line")
        return headers

    @field_validator("gpu_prices")
    @classmethod
    def _positive_prices(cls, prices: dict[str, float]) -> dict[str, float]:
        for gpu, price in prices.items():
            if price <= 0:
                raise ValueError(f"GPU price for {gpu!r} must be > 0, got {price}")
        return prices

    @classmethod
    def from_env(cls, env: dict[str, str], namespaces: Sequence[str] = ()) -> OperatorSettings:
        """Build settings from ``GPUFLEET_*`` variables; unknown ones are ignored.
        ``namespaces`` (``gpufleet run --namespace``) win over ``GPUFLEET_NAMESPACES``."""
        values: dict[str, object] = {}
        for var, name in SIMPLE_VARIABLES.items():
            if var in env:
                values[name] = env[var]
        if "GPUFLEET_AUTOSCALING" in env:
            values["autoscaling_enabled"] = env["GPUFLEET_AUTOSCALING"].lower() not in {
                "0",
                "false",
                "no",
                "off",
            }
        if namespaces:
            values["namespaces"] = tuple(namespaces)
        elif env.get("GPUFLEET_NAMESPACES"):
            values["namespaces"] = tuple(
                ns.strip() for ns in env["GPUFLEET_NAMESPACES"].split(",") if ns.strip()
            )
        if env.get("GPUFLEET_OPERATOR_POD_LABELS"):
            values["operator_pod_labels"] = _label_pairs(env["GPUFLEET_OPERATOR_POD_LABELS"])
        prices = env.get("GPUFLEET_GPU_PRICES")
        if prices:
            values["gpu_prices"] = _gpu_prices(prices)
        if env.get("GPUFLEET_PROMETHEUS_HEADERS"):
            values["prometheus_headers"] = _json_strings(
                "GPUFLEET_PROMETHEUS_HEADERS", env["GPUFLEET_PROMETHEUS_HEADERS"]
            )
        labels = {
            key: env[f"GPUFLEET_LABEL_{key.upper()}"]
            for key in ("namespace", "modeldeployment", "pod")
            if f"GPUFLEET_LABEL_{key.upper()}" in env
        }
        if labels:
            values["labels"] = MetricLabels(**labels)
        return cls.model_validate(values)


def _gpu_prices(setting: str) -> dict[str, float]:
    """Inline JSON (``{"nvidia-l4": 0.8}``) or a path to a JSON/YAML file of them; a
    ``ValueError`` naming the variable when it is neither."""
    try:
        text = setting if setting.lstrip().startswith("{") else Path(setting).read_text()
        loaded = json.loads(text) if text.lstrip().startswith("{") else _yaml(text)
        return {str(k): float(str(v)) for k, v in loaded.items()}
    except OSError as error:
        raise ValueError(f"GPUFLEET_GPU_PRICES: {setting}: {error.strerror}") from error
    except ValueError as error:
        raise ValueError(f"GPUFLEET_GPU_PRICES: {error}") from error


def _label_pairs(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` (a label selector's equality terms) as a mapping."""
    pairs: dict[str, str] = {}
    for term in (t.strip() for t in text.split(",")):
        if not term:
            continue
        key, sep, value = term.partition("=")
        if not sep or not key.strip():
            raise ValueError(
                f"GPUFLEET_OPERATOR_POD_LABELS: {term!r} is not key=value (terms split by ',')"
            )
        pairs[key.strip()] = value.strip()
    return pairs


def _json_strings(variable: str, text: str) -> dict[str, str]:
    """A JSON object of strings (``{"X-Scope-OrgID": "team-a"}``), as the chart writes it."""
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{variable}: not JSON ({error})") from error
    if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
        raise ValueError(f'{variable}: must be a JSON object of strings, e.g. {{"X-Name": "v"}}')
    return loaded


def _yaml(text: str) -> dict[str, object]:
    import yaml

    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise ValueError("must be a mapping of gpuType to USD per GPU-hour")
    return loaded
