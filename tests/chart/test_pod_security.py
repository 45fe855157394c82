"""The operator pod meets the Pod Security Standards "restricted" profile.

The checks follow https://kubernetes.io/docs/concepts/security/pod-security-standards/
(baseline + restricted controls), applied to the rendered pod spec.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .render import REPO_ROOT, VALUE_SETS, render

_RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """Every way ``pod`` (a PodSpec) breaks the restricted profile; empty when it complies."""
    found: list[str] = []
    pod_sc = pod.get("securityContext", {})
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            found.append(f"{field} is set")
    if pod_sc.get("windowsOptions", {}).get("hostProcess"):
        found.append("hostProcess")
    for sysctl in pod_sc.get("sysctls", []):
        if sysctl["name"] not in _SAFE_SYSCTLS:
            found.append(f"unsafe sysctl {sysctl['name']}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUME_TYPES:
            found.append(f"volume {volume['name']} has type {sorted(kinds)}")
    containers = [
        *pod.get("initContainers", []), *pod.get("containers", []),
        *pod.get("ephemeralContainers", []),
    ]  # fmt: skip
    for c in containers:
        sc = c.get("securityContext", {})
        name = c["name"]

        def effective(key: str, sc: dict[str, Any] = sc) -> Any:
            return sc.get(key, pod_sc.get(key))

        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation must be false")
        if effective("runAsNonRoot") is not True:
            found.append(f"{name}: runAsNonRoot must be true")
        if effective("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (effective("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{name}: capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {caps['add']}")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            found.append(f"{name}: hostPort")
        selinux = effective("seLinuxOptions") or {}
        if selinux.get("type") not in (None, "", "container_t", "container_init_t",
                                       "container_kvm_t", "container_engine_t"):  # fmt: skip
            found.append(f"{name}: seLinuxOptions.type")
    return found


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_operator_pod_is_restricted(chart_dir: Path, value_set: str) -> None:
    assert restricted_violations(render(chart_dir, VALUE_SETS[value_set]).pod_spec()) == []


def test_operator_runs_with_a_read_only_root_filesystem(chart_dir: Path) -> None:
    rendered = render(chart_dir)
    container = rendered.container()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # ... and still has a writable /tmp for Python.
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in rendered.pod_spec()["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume


def test_the_checker_catches_a_privileged_pod(chart_dir: Path) -> None:
    pod = render(chart_dir).pod_spec()
    container = pod["containers"][0]
    container["securityContext"] = {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}
    pod["securityContext"] = {"runAsUser": 0}
    pod["hostNetwork"] = True
    pod["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}})
    problems = "\n".join(restricted_violations(pod))
    for expected in (
        "hostNetwork", "privileged", "allowPrivilegeEscalation", "runAsNonRoot", "runAsUser 0",
        "seccompProfile", "drop ALL", "SYS_ADMIN", "hostPath",
    ):  # fmt: skip
        assert expected in problems


def _documented_openshift_values() -> dict[str, Any]:
    """The values docs/install.md gives for OpenShift's restricted-v2 SCC."""
    text = (REPO_ROOT / "docs" / "install.md").read_text()
    _, found, after = text.partition("restricted-v2")
    block = re.search(r"```yaml\n(.*?)```", after, flags=re.S) if found else None
    assert block, "docs/install.md: no values for OpenShift's restricted-v2 SCC"
    values: dict[str, Any] = yaml.safe_load(block.group(1))
    return values


def test_openshift_values_leave_the_uid_to_the_scc(chart_dir: Path) -> None:
    """restricted-v2 refuses a pod that asks for a UID outside the namespace's range
    (65532 is outside every range it assigns): with the documented values the pod asks
    for none, and is still non-root and restricted."""
    pod = render(chart_dir, _documented_openshift_values()).pod_spec()
    contexts = [pod.get("securityContext", {})]
    contexts += [c.get("securityContext", {}) for c in pod["containers"]]
    for context in contexts:
        assert "runAsUser" not in context, context
        assert "runAsGroup" not in context, context
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert restricted_violations(pod) == []


def test_openshift_values_let_the_network_policy_reach_openshift_dns(chart_dir: Path) -> None:
    """OpenShift's DNS pods listen on 5353 behind the Service's 53, and a NetworkPolicy
    sees the pod's port: allowing 53 alone leaves the operator unable to resolve
    Prometheus' name (every query fails, MetricsAvailable=False everywhere)."""
    values = _documented_openshift_values()
    values.setdefault("networkPolicy", {})["enabled"] = True
    policy = render(chart_dir, values).one("NetworkPolicy")
    open_ports = {
        (port["port"], port["protocol"])
        for rule in policy["spec"]["egress"]
        if "to" not in rule
        for port in rule.get("ports", [])
    }
    assert {(5353, "UDP"), (5353, "TCP"), (53, "UDP"), (53, "TCP")} <= open_ports
