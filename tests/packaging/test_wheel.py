"""The operator as users install it: the wheel, alone in a clean venv, against the emulator.

``pip install`` of the wheel with no extras must bring the operator and nothing of the test
rig (kmock, cel-python, pytest, the dev tools) nor the torch runtime (code or torch: it is
its own distribution and image); that install must run the operator: a ModelDeployment gets
its children, which go when it is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet_devtools.apiserver.server import EmulatedApiServer
from tests.support.kube import DEPLOYMENTS, MODELDEPLOYMENTS, PDBS, SERVICES, Kube
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "modeldeployments.gpufleet.io.yaml"
EXAMPLE = REPO / "examples" / "tiny-mlp-torch.yaml"
SYSTEM_PYTHON = os.environ.get("SYSTEM_PYTHON", "/usr/bin/python3")
SOURCES = ("pyproject.toml", "README.md", "operator")
"""What the Dockerfile copies to build the wheel."""
BUILD_LEFTOVERS = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
TEST_RIG = {"kmock", "cel-python", "pytest", "gpufleet-devtools", "nvidia-pytriton", "torch"}
"""Distributions a bare operator install must not contain."""


def _run(*args: str | Path, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def operator_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel built from this checkout, installed with no extras."""
    work = tmp_path_factory.mktemp("wheel")
    # From a copy of what the Dockerfile copies: setuptools reuses a checkout's stale
    # build/ folder, which would ship files the sources no longer have.
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=BUILD_LEFTOVERS)
        else:
            shutil.copy2(REPO / name, source / name)
    # No build isolation: the build backend (setuptools) is the dev venv's, so no download.
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--wheel-dir", work / "dist", source)  # fmt: skip
    (wheel,) = (work / "dist").glob("gpufleet-*.whl")
    venv = work / "venv"
    _run(SYSTEM_PYTHON, "-m", "venv", venv)
    _run(venv / "bin" / "pip", "install", "--quiet", wheel)
    return venv


def test_a_bare_install_holds_the_operator_and_no_test_rig(operator_venv: Path) -> None:
    listed = json.loads(_run(operator_venv / "bin" / "pip", "list", "--format=json"))
    installed = {package["name"].lower().replace("_", "-") for package in listed}
    assert "gpufleet" in installed
    assert "kopf" in installed
    assert installed & TEST_RIG == set()
    shipped = _run(operator_venv / "bin" / "pip", "show", "--files", "gpufleet").splitlines()
    assert [line for line in shipped if "devtools" in line] == []
    assert [line for line in shipped if "gpufleet_server" in line] == []


def test_the_torch_runtime_is_its_own_distribution(tmp_path: Path) -> None:
    """inference-image/ builds the gpufleet-server wheel: the server package and its
    command, nothing of the operator."""
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--wheel-dir", tmp_path, REPO / "inference-image")  # fmt: skip
    (wheel,) = tmp_path.glob("gpufleet_server-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    packages = {name.split("/")[0] for name in names if not name.startswith("gpufleet_server-")}
    assert packages == {"gpufleet_server"}
    assert "gpufleet-server = gpufleet_server.cli:main" in scripts


@pytest.mark.parametrize(
    ("command", "where"),
    [("local", "gpufleet-devtools"), ("sim", "gpufleet[sim]")],
)
def test_a_command_a_bare_install_lacks_says_where_it_comes_from(
    operator_venv: Path, command: str, where: str
) -> None:
    done = subprocess.run(
        [operator_venv / "bin" / "gpufleet", command, "demo"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert where in done.stderr


@pytest.fixture
def apiserver() -> Iterator[EmulatedApiServer]:
    with EmulatedApiServer(crds=[CRD_FILE]) as server:
        yield server


@pytest.fixture
def installed_operator(
    operator_venv: Path, apiserver: EmulatedApiServer, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``gpufleet run`` from the bare install, as the image's entrypoint runs it."""
    env = {
        "PATH": str(operator_venv / "bin"),
        "HOME": str(tmp_path),
        "KUBECONFIG": str(apiserver.kubeconfig_path),
        "GPUFLEET_AUTOSCALING": "0",  # no Prometheus here; the scaling loop has its own tests
    }
    log = (tmp_path / "operator.log").open("wb")
    process = subprocess.Popen(
        [operator_venv / "bin" / "gpufleet", "run", "--standalone"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
    assert process.returncode == 0, (tmp_path / "operator.log").read_text()[-4000:]


def _subset(wanted: Any, live: Any) -> bool:
    """Everything ``wanted`` sets is in ``live`` (the API server adds defaults and metadata)."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(
            key in live and _subset(value, live[key]) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(live, list) and len(wanted) == len(live) and all(map(_subset, wanted, live))
        )
    return bool(wanted == live)


def test_the_installed_operator_creates_the_rendered_children_and_they_go_with_it(
    operator_venv: Path,
    apiserver: EmulatedApiServer,
    installed_operator: subprocess.Popen[bytes],
) -> None:
    kube = Kube(apiserver.url)
    manifest = yaml.safe_load(EXAMPLE.read_text())
    created = kube.create(MODELDEPLOYMENTS, "default", manifest)
    assert created.status_code == 201, created.text
    uid = created.json()["metadata"]["uid"]
    kinds = {"Deployment": DEPLOYMENTS, "Service": SERVICES, "PodDisruptionBudget": PDBS}
    children = {
        name: wait_for(
            lambda kind=kind: kube.get(kind, "default", "tiny-mlp"),  # type: ignore[misc]
            timeout=60,
            what=f"the {name}",
        )
        for name, kind in kinds.items()
    }
    assert installed_operator.poll() is None

    # `gpufleet render` of the same manifest (with its uid) is what the operator created.
    manifest["metadata"]["uid"] = uid
    rendered = subprocess.run(
        [operator_venv / "bin" / "gpufleet", "render", "-"],
        input=yaml.safe_dump(manifest),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for child in yaml.safe_load_all(rendered):
        if child:
            assert _subset(child, children[child["kind"]]), child["kind"]

    assert kube.delete(MODELDEPLOYMENTS, "default", "tiny-mlp").status_code in (200, 202)
    for name, kind in kinds.items():
        wait_for(
            lambda kind=kind: kube.get(kind, "default", "tiny-mlp") is None,  # type: ignore[misc]
            timeout=60,
            what=f"the {name} to be collected",
        )
    wait_for(lambda: kube.get(MODELDEPLOYMENTS, "default", "tiny-mlp") is None, timeout=30)
