"""How a Deployment's pod template becomes a local process: the kubelet's translation.

The operator writes the container command for a cluster (ports 8000-8002, the
model repository mounted from a PVC under ``/models``). On one machine every pod
needs its own ports and the claim is a local folder, so the plan rewrites the
port flags to free ports, maps mount paths to ``volumes/<claim>/<subPath>/...`` (an
emptyDir to a folder of the pod's own) and binds the server to loopback. A path that
holds mounts without being one (Triton's ``/models`` with only ``/models/<model>``
mounted) becomes a per-pod folder of links to those mounts, as the container's
filesystem would show it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gpufleet_devtools.local import vllm_standin
from gpufleet_devtools.triton import server_env

PORT_FLAGS = {"http": "--http-port", "grpc": "--grpc-port", "metrics": "--metrics-port"}
# One thread per server: six replicas share two cores, and torch would otherwise
# start one thread per core in every replica and thrash.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TORCH_NUM_THREADS": "1"}
LOOPBACK_FLAGS = {
    "gpufleet-server": ["--host=127.0.0.1"],
    "tritonserver": [
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--metrics-address=127.0.0.1",
    ],
}


class PodPlanError(ValueError):
    """The pod template cannot run on the local node (reported on the Pod)."""


@dataclass(frozen=True, slots=True)
class Ports:
    http: int
    grpc: int
    metrics: int

    def by_name(self) -> dict[str, int]:
        return {"http": self.http, "grpc": self.grpc, "metrics": self.metrics}


@dataclass(frozen=True, slots=True)
class ProcessPlan:
    argv: list[str]
    env: dict[str, str]
    ports: Ports
    container_ports: dict[str, int]
    """The template's port name -> containerPort (what the Pod object reports)."""
    shm_prefix: str | None = None
    """Shared-memory segments of this process (Triton's python backend), removed after it."""
    termination_grace_s: float | None = None
    """The template's terminationGracePeriodSeconds: SIGKILL this long after SIGTERM."""


def server_container(template: Mapping[str, Any]) -> dict[str, Any]:
    containers = (template.get("spec") or {}).get("containers") or []
    for container in containers:
        if container.get("name") == "server":
            return dict(container)
    if containers:
        return dict(containers[0])
    raise PodPlanError("the pod template has no container")


def empty_dirs(pod_root: Path) -> Path:
    """The pod's emptyDir volumes (beside its container-filesystem view), gone with the pod."""
    return pod_root.parent / f"{pod_root.name}.empty-dirs"


def volume_folders(
    template: Mapping[str, Any], container: Mapping[str, Any], volumes: Path, pod_root: Path
) -> dict[PurePosixPath, Path]:
    """Mount path -> the local folder it shows.

    A claim: ``volumes/<claim>/<subPath>``. An emptyDir: a folder of this pod's own
    (:func:`empty_dirs`), so its init containers and its server share it.
    """
    folders: dict[str, Path] = {}
    for volume in (template.get("spec") or {}).get("volumes") or []:
        if volume.get("persistentVolumeClaim"):
            folders[volume["name"]] = volumes / volume["persistentVolumeClaim"]["claimName"]
        elif "emptyDir" in volume:
            folders[volume["name"]] = empty_dirs(pod_root) / volume["name"]
    mounts = {}
    for mount in container.get("volumeMounts") or []:
        if mount.get("name") not in folders:
            continue
        folder = folders[mount["name"]] / str(mount.get("subPath") or "").strip("/")
        if folder.is_relative_to(empty_dirs(pod_root)):
            folder.mkdir(parents=True, exist_ok=True)
        mounts[PurePosixPath(mount["mountPath"])] = folder
    return mounts


def map_path(path: str, mounts: Mapping[PurePosixPath, Path], pod_root: Path) -> str:
    """Where a container path lives on this machine.

    Inside a mount: the mount's folder (``/models/x`` with ``/models`` from claim
    ``models`` -> ``volumes/models/x``). Holding mounts: ``pod_root/<path>``, made of
    links to them. Anything else is left alone.
    """
    pure = PurePosixPath(path)
    for mount in sorted(mounts, key=lambda mount: -len(mount.parts)):
        if pure == mount or mount in pure.parents:
            return str(mounts[mount] / pure.relative_to(mount))
    inner = [mount for mount in mounts if pure in mount.parents]
    if not inner:
        return path
    for mount in inner:
        link = pod_root / mount.relative_to("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(mounts[mount].resolve(), target_is_directory=True)
    return str(pod_root / pure.relative_to("/"))


def resolve_binary(name: str) -> str:
    """The server binaries live in this venv (gpufleet-server) or in nvidia-pytriton."""
    if name == "tritonserver":
        from gpufleet_devtools.triton import bundled_tritonserver

        return str(bundled_tritonserver())
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _rewrite_flag(
    arg: str, ports: Ports, mounts: Mapping[PurePosixPath, Path], pod_root: Path
) -> str:
    flag, sep, value = arg.partition("=")
    if not sep:
        return arg
    for name, port_flag in PORT_FLAGS.items():
        if flag == port_flag:
            return f"{flag}={ports.by_name()[name]}"
    if flag in ("--model-repository", "--model-store"):
        return f"{flag}={map_path(value, mounts, pod_root)}"
    return arg


def plan_process(
    template: Mapping[str, Any],
    volumes: Path,
    allocate_port: Callable[[], int],
    base_env: Mapping[str, str] | None = None,
    pod: str = "pod",
    runtime_dir: Path | None = None,
) -> ProcessPlan:
    """The argv/env that runs ``template``'s server container on free local ports.

    ``runtime_dir`` holds what a runtime needs once per fleet (Triton's backends).
    """
    container = server_container(template)
    command = [*(container.get("command") or []), *(container.get("args") or [])]
    if not command:
        raise PodPlanError("the server container has no command (images are not pulled locally)")
    binary = PurePosixPath(command[0]).name
    ports = Ports(allocate_port(), allocate_port(), allocate_port())
    runtime_dir = runtime_dir or volumes.parent / "runtime"
    pod_root = runtime_dir / "pods" / pod
    mounts = volume_folders(template, container, volumes, pod_root)
    grace = (template.get("spec") or {}).get("terminationGracePeriodSeconds")
    grace_s = None if grace is None else float(grace)
    if binary == vllm_standin.BINARY:
        try:
            args = vllm_standin.server_args(command, ports.http, ports.metrics, grace_s)
        except vllm_standin.VllmCommandError as error:
            raise PodPlanError(str(error)) from error
        argv = [resolve_binary(vllm_standin.SERVER), *args]
    else:
        argv = [resolve_binary(binary)]
        argv += [_rewrite_flag(arg, ports, mounts, pod_root) for arg in command[1:]]
        argv += LOOPBACK_FLAGS.get(binary, [])
    env = dict(os.environ if base_env is None else base_env)
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
    env.update(THREAD_ENV)
    shm = None
    if binary == "gpufleet-server":
        # The node's device library (the GPU stand-in's operator), as a GPU node's driver.
        from gpufleet_devtools.local import gpu_standin

        env = gpu_standin.pod_env(env, runtime_dir)
    if binary == "tritonserver":
        from gpufleet_devtools.local import triton

        argv += triton.local_flags(runtime_dir, pod)
        env = server_env(env)
        shm = triton.shm_prefix(pod)
    container_ports = {
        str(port.get("name")): int(port["containerPort"])
        for port in container.get("ports") or []
        if port.get("name")
    }
    return ProcessPlan(argv, env, ports, container_ports, shm, grace_s)
