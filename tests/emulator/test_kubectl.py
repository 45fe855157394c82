"""The standalone server (``python -m gpufleet_devtools.apiserver``) driven by kubectl."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.emulator.conftest import WIDGETS_CRD

KUBECTL = shutil.which("kubectl")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
]

MANIFEST = """\
apiVersion: example.com/v1
kind: Widget
metadata:
  name: from-kubectl
  labels:
    team: a
spec:
  color: green
  size: {size}
"""


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pathlib.Path]:
    path = tmp_path_factory.mktemp("kubectl") / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gpufleet_devtools.apiserver",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--kubeconfig",
            str(path),
            "--crds",
            str(WIDGETS_CRD),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()  # printed once it serves
        assert url.startswith("http://127.0.0.1:")
        assert url in path.read_text()
        yield path
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def kubectl(kubeconfig: pathlib.Path, *args: str, stdin: str = "") -> str:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    result = subprocess.run(
        [str(KUBECTL), *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def kubectl_fails(kubeconfig: pathlib.Path, *args: str, stdin: str = "") -> str:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    result = subprocess.run(
        [str(KUBECTL), *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode != 0
    return result.stderr


def test_apply_get_and_delete(kubeconfig: pathlib.Path) -> None:
    applied = kubectl(
        kubeconfig, "apply", "--validate=false", "-f", "-", stdin=MANIFEST.format(size=4)
    )
    assert "widget.example.com/from-kubectl created" in applied
    reapplied = kubectl(kubeconfig, "apply", "-f", "-", stdin=MANIFEST.format(size=5))
    assert "configured" in reapplied

    table = kubectl(kubeconfig, "get", "widgets").splitlines()
    assert table[0].split() == ["NAME", "SIZE", "READY", "AGE"]
    name, size, age = table[1].split()  # READY is blank: the widget has no status yet
    assert (name, size) == ("from-kubectl", "5")
    assert age.endswith("s")

    short = kubectl(kubeconfig, "get", "wd", "-l", "team=a", "-o", "name")
    assert short.strip() == "widget.example.com/from-kubectl"

    obj = json.loads(kubectl(kubeconfig, "get", "widget", "from-kubectl", "-o", "json"))
    assert obj["spec"] == {"color": "green", "size": 5, "minSize": 1, "maxSize": 10}
    assert obj["metadata"]["generation"] == 2

    deleted = kubectl(kubeconfig, "delete", "widget", "from-kubectl")
    assert 'widget.example.com "from-kubectl" deleted' in deleted
    assert "NotFound" in kubectl_fails(kubeconfig, "get", "widget", "from-kubectl")


def test_invalid_object_is_rejected_naming_the_field(kubeconfig: pathlib.Path) -> None:
    error = kubectl_fails(kubeconfig, "apply", "-f", "-", stdin=MANIFEST.format(size=50))
    assert "spec.size" in error
    assert "less than or equal to 10" in error


def test_builtin_kinds(kubeconfig: pathlib.Path) -> None:
    namespaces = kubectl(kubeconfig, "get", "namespaces", "-o", "name").split()
    assert "namespace/default" in namespaces
    kubectl(kubeconfig, "create", "configmap", "settings", "--from-literal=a=b")
    settings = json.loads(kubectl(kubeconfig, "get", "cm", "settings", "-o", "json"))
    assert settings["data"] == {"a": "b"}
    yaml_text = kubectl(kubeconfig, "get", "configmap", "settings", "-o", "yaml")
    assert "name: settings" in yaml_text


TYPO = """\
apiVersion: example.com/v1
kind: Widget
metadata:
  name: typo
spec:
  color: green
  colour: blue
"""


def test_kubectl_default_validation_rejects_an_unknown_field_naming_it(
    kubeconfig: pathlib.Path,
) -> None:
    # No --validate flag: kubectl sends fieldValidation=Strict, as to a real API server.
    error = kubectl_fails(kubeconfig, "apply", "-f", "-", stdin=TYPO)
    assert 'strict decoding error: unknown field "spec.colour"' in error
    assert "NotFound" in kubectl_fails(kubeconfig, "get", "widget", "typo")


def test_kubectl_validate_warn_stores_the_object_without_the_field(
    kubeconfig: pathlib.Path,
) -> None:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    done = subprocess.run(
        [str(KUBECTL), "apply", "--validate=warn", "-f", "-"],
        input=TYPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert 'Warning: unknown field "spec.colour"' in done.stderr
    stored = json.loads(kubectl(kubeconfig, "get", "widget", "typo", "-o", "json"))
    assert "colour" not in stored["spec"]
    kubectl(kubeconfig, "delete", "widget", "typo")


def test_kubectl_default_validation_accepts_valid_objects(kubeconfig: pathlib.Path) -> None:
    applied = kubectl(kubeconfig, "apply", "-f", "-", stdin=MANIFEST.format(size=2).replace(
        "from-kubectl", "strictly-fine"))  # fmt: skip
    assert "widget.example.com/strictly-fine created" in applied
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: strict-cm}\ndata: {a: b}\n"
    assert "configmap/strict-cm created" in kubectl(kubeconfig, "apply", "-f", "-", stdin=cm)
