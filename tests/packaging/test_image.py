"""The operator image, built from ./Dockerfile by ``make image`` (buildah, no daemon), run.

The image is unpacked (umoci) and its entrypoint runs as the image says (its user, its
environment) on a read-only root filesystem with a tmpfs on /tmp, as the chart runs it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gpufleet_devtools.apiserver.server import EmulatedApiServer
from tests.support.kube import DEPLOYMENTS, MODELDEPLOYMENTS, Kube
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / "modeldeployments.gpufleet.io.yaml"
EXAMPLE = REPO / "examples" / "tiny-mlp-torch.yaml"
TAG = "test"
CHART_UID = 65532
"""The chart's securityContext.runAsUser (charts/gpufleet/values.yaml)."""


@dataclass(frozen=True)
class UnpackedImage:
    rootfs: Path
    entrypoint: list[str]
    user: str
    env: dict[str, str]

    def command(self, args: list[str], env: dict[str, str], files: dict[str, Path]) -> list[str]:
        """Run the entrypoint with ``args`` inside the image: read-only root, tmpfs /tmp
        holding ``files`` (name -> host file), the image's user (a private mount namespace)."""
        root = shlex.quote(str(self.rootfs))
        steps = [
            f"mount --bind {root} {root}",
            f"mount -o remount,bind,ro {root}",
            f"mount -t tmpfs tmpfs {root}/tmp",
            f"mount -t proc proc {root}/proc",
            *(f"cp {shlex.quote(str(src))} {root}/tmp/{name}" for name, src in files.items()),
            *(f"chmod a+r {root}/tmp/{name}" for name in files),
            "exec env -i "
            + " ".join(shlex.quote(f"{k}={v}") for k, v in {**self.env, **env}.items())
            + f" chroot --userspec={self.user} {root} "
            + " ".join(shlex.quote(arg) for arg in [*self.entrypoint, *args]),
        ]
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", " && ".join(steps)]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> UnpackedImage:
    if os.geteuid() != 0 or not all(map(shutil.which, ("buildah", "umoci", "unshare"))):
        pytest.skip("make image needs root, buildah and umoci (make system-deps installs them)")
    work = tmp_path_factory.mktemp("image")
    build = subprocess.run(
        [REPO / ".ci" / "build-image", work / "oci", TAG],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    subprocess.run(
        ["umoci", "unpack", "--image", f"{work / 'oci'}:{TAG}", work / "bundle"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    process = json.loads((work / "bundle" / "config.json").read_text())["process"]
    user = process["user"]
    # The image's ENTRYPOINT is the first word; the rest is its default CMD.
    return UnpackedImage(
        rootfs=work / "bundle" / "rootfs",
        entrypoint=process["args"][:1],
        user=f"{user['uid']}:{user['gid']}",
        env=dict(entry.split("=", 1) for entry in process["env"]),
    )


def test_the_image_runs_as_the_charts_non_root_user_and_holds_no_test_rig(
    image: UnpackedImage,
) -> None:
    assert image.user == f"{CHART_UID}:{CHART_UID}"
    site = list(image.rootfs.glob("opt/gpufleet/lib/python3*/site-packages"))
    assert site, "no venv under /opt/gpufleet"
    installed = {path.name.split("-")[0].lower() for path in site[0].glob("*.dist-info")}
    assert "gpufleet" in installed
    assert (
        installed
        & {"kmock", "cel_python", "pytest", "gpufleet_devtools", "gpufleet_server", "torch"}
        == set()
    )


def test_the_entrypoint_answers_on_a_read_only_root(image: UnpackedImage) -> None:
    done = subprocess.run(
        image.command(["--help"], {}, {}), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "run" in done.stdout


@pytest.fixture
def apiserver() -> Iterator[EmulatedApiServer]:
    with EmulatedApiServer(crds=[CRD_FILE]) as server:
        yield server


def test_the_image_operates_a_model_deployment_from_create_to_delete(
    image: UnpackedImage, apiserver: EmulatedApiServer, tmp_path: Path
) -> None:
    env = {"KUBECONFIG": "/tmp/kubeconfig", "HOME": "/tmp", "GPUFLEET_AUTOSCALING": "0"}
    files = {"kubeconfig": apiserver.kubeconfig_path}
    log_path = tmp_path / "operator.log"
    with log_path.open("wb") as log:
        operator = subprocess.Popen(
            image.command(["run", "--standalone"], env, files), stdout=log, stderr=log
        )
        try:
            kube = Kube(apiserver.url)
            created = kube.create(MODELDEPLOYMENTS, "default", yaml.safe_load(EXAMPLE.read_text()))
            assert created.status_code == 201, created.text
            wait_for(
                lambda: kube.get(DEPLOYMENTS, "default", "tiny-mlp"),
                timeout=90,
                what=f"the Deployment (operator log: {log_path})",
            )
            assert operator.poll() is None, log_path.read_text()[-3000:]
            assert kube.delete(MODELDEPLOYMENTS, "default", "tiny-mlp").status_code in (200, 202)
            wait_for(
                lambda: kube.get(DEPLOYMENTS, "default", "tiny-mlp") is None,
                timeout=60,
                what="the Deployment to go with its ModelDeployment",
            )
        finally:
            operator.terminate()
            operator.wait(timeout=30)
    assert operator.returncode == 0, log_path.read_text()[-3000:]
