"""The operator pod meets the Pod Security Standards "restricted" profile.

The checks follow https://kubernetes.io/docs/concepts/security/pod-security-standards/
(baseline + restricted controls), applied to the rendered pod spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .render import VALUE_SETS, render

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
