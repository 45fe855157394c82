"""An init container's command runs on this machine against the folders its mounts map to."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from gpufleet_devtools.local.initplan import plan_init_containers
from gpufleet_devtools.local.podplan import Ports, plan_process


def _template(script: str) -> dict[str, Any]:
    return {
        "spec": {
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "home", "emptyDir": {"sizeLimit": "1Mi"}},
            ],
            "initContainers": [
                {
                    "name": "fill",
                    "image": "alpine:3.20",
                    "command": ["/bin/sh", "-c", script],
                    "env": [{"name": "HOME", "value": "/home/fetch"}],
                    "volumeMounts": [
                        {"name": "data", "mountPath": "/data"},
                        {"name": "home", "mountPath": "/home/fetch"},
                    ],
                }
            ],
            "containers": [
                {
                    "name": "server",
                    "command": ["gpufleet-server", "--model-repository=/models"],
                    "volumeMounts": [{"name": "data", "mountPath": "/models", "readOnly": True}],
                }
            ],
        }
    }


def _run(template: dict[str, Any], tmp_path: Path) -> Path:
    """Run the init containers in order; returns the folder the server sees at /models."""
    pod_root = tmp_path / "runtime" / "pods" / "pod-1"
    for init in plan_init_containers(template, tmp_path / "volumes", pod_root, Ports(1, 2, 3)):
        subprocess.run(init.process.argv, env=init.process.env, check=True, timeout=30)
    server = plan_process(
        template, tmp_path / "volumes", lambda: 4, pod="pod-1", runtime_dir=tmp_path / "runtime"
    )
    return Path(server.argv[1].partition("=")[2])


@pytest.mark.parametrize(
    ("written", "read_back"),
    [
        ("/data", "{models}"),  # the mount itself
        ("/data/a/b", "{models}/a/b"),  # inside it
        ("/datax", "/datax"),  # another path that only starts alike
        ("x/data", "x/data"),  # a relative path
    ],
)
def test_mount_paths_in_the_script_name_the_folders_the_server_sees(
    tmp_path: Path, written: str, read_back: str
) -> None:
    template = _template(f"set -eo pipefail; printf '%s' {written} > /data/out")
    models = _run(template, tmp_path)
    assert (models / "out").read_text() == read_back.format(models=models)


def test_home_is_a_writable_folder_of_the_pod(tmp_path: Path) -> None:
    template = _template('touch "$HOME"/.wgetrc; printf %s "$HOME" > /data/out')
    home = Path((_run(template, tmp_path) / "out").read_text())
    assert (home / ".wgetrc").is_file()
    assert home.is_relative_to(tmp_path)
