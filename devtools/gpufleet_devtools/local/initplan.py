"""How a pod template's init containers become local processes: the kubelet's translation.

Images are not pulled on the local node, so the host's tools stand in for the image's
(``wget``, ``tar``). A container sees its volumes at their mount paths; the local process
sees them at the folders :func:`~gpufleet_devtools.local.podplan.volume_folders` maps them
to, so every mount path in the command line (a shell script included) and every
environment value that is a path inside a mount (``HOME`` on an emptyDir) is rewritten
to that folder.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gpufleet_devtools.local.podplan import PodPlanError, Ports, ProcessPlan, volume_folders

SHELLS = {"sh", "ash"}
"""The fetchers' images (alpine) run busybox ash, which knows ``set -o pipefail``;
Debian's ``/bin/sh`` (dash) does not, so bash stands in for them."""


@dataclass(frozen=True, slots=True)
class InitPlan:
    name: str
    process: ProcessPlan


def _host_binary(command: str) -> str:
    name = PurePosixPath(command).name
    if name in SHELLS:
        name = "bash"
    found = shutil.which(name)
    if found is None:
        raise PodPlanError(f"init container needs {name!r}, which this machine does not have")
    return found


def _mount_pattern(mounts: Mapping[PurePosixPath, Path]) -> re.Pattern[str] | None:
    """A mount path where it stands as a whole path (not ``/modelsx``, not ``a/models``)."""
    if not mounts:
        return None
    paths = sorted((str(mount) for mount in mounts), key=len, reverse=True)
    alternatives = "|".join(re.escape(path) for path in paths)
    return re.compile(rf"(?<![\w./-])({alternatives})(?![\w.-])")


def _rewrite(text: str, mounts: Mapping[PurePosixPath, Path]) -> str:
    pattern = _mount_pattern(mounts)
    if pattern is None:
        return text
    return pattern.sub(lambda match: str(mounts[PurePosixPath(match.group(1))]), text)


def _env_value(value: str, mounts: Mapping[PurePosixPath, Path]) -> str:
    """A value that is a path inside a mount (``HOME=/home/fetch``) names its folder."""
    pure = PurePosixPath(value)
    if not value.startswith("/"):
        return value
    for mount in sorted(mounts, key=lambda mount: -len(mount.parts)):
        if pure == mount or mount in pure.parents:
            return str(mounts[mount] / pure.relative_to(mount))
    return value


def plan_init_containers(
    template: Mapping[str, Any],
    volumes: Path,
    pod_root: Path,
    ports: Ports,
    base_env: Mapping[str, str] | None = None,
) -> list[InitPlan]:
    """The processes that run ``template``'s init containers, in order, on this machine."""
    plans = []
    for container in (template.get("spec") or {}).get("initContainers") or []:
        name = str(container.get("name", "init"))
        command = [*(container.get("command") or []), *(container.get("args") or [])]
        if not command:
            raise PodPlanError(f"init container {name} has no command (images are not pulled)")
        mounts = volume_folders(template, container, volumes, pod_root)
        argv = [_host_binary(command[0]), *(_rewrite(arg, mounts) for arg in command[1:])]
        env = dict(os.environ if base_env is None else base_env)
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = _env_value(str(item["value"]), mounts)
        plans.append(InitPlan(name, ProcessPlan(argv, env, ports, container_ports={})))
    return plans
