"""``gpufleet render FILE``: the children the operator would create, printed for review."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "tiny-mlp-torch.yaml"
GPUFLEET = str(Path(sys.executable).parent / "gpufleet")


def _render(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GPUFLEET, "render", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def _manifest(**spec_changes: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    manifest["spec"].update(spec_changes)
    return manifest


def _children(output: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(output) if doc]


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_the_example_renders_a_deployment_a_service_and_a_budget() -> None:
    done = _render(str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    children = _children(done.stdout)
    assert [child["kind"] for child in children] == [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    ]
    deployment, service, pdb = children
    for child in children:
        metadata = child["metadata"]
        assert (metadata["namespace"], metadata["name"]) == ("default", "tiny-mlp")
        (owner,) = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["controller"]) == (
            "ModelDeployment",
            "tiny-mlp",
            True,
        )
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    # The Service routes to, and the budget protects, exactly the Deployment's pods.
    assert _matches(service["spec"]["selector"], pod_labels)
    assert _matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert deployment["spec"]["replicas"] == 1  # the example's minReplicas
    # Each document says where it comes from, as `helm template` does.
    assert "# Source: ModelDeployment default/tiny-mlp -> Service" in done.stdout


def test_a_network_policy_is_rendered_only_when_the_spec_asks_for_one() -> None:
    manifest = _manifest(networkPolicy={})
    done = _render("-", stdin=yaml.safe_dump(manifest))
    assert done.returncode == 0, done.stderr
    kinds = [child["kind"] for child in _children(done.stdout)]
    assert kinds == ["Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"]


def test_namespace_flag_and_uid_fill_what_the_manifest_leaves_out(tmp_path: Path) -> None:
    manifest = _manifest()
    del manifest["metadata"]["namespace"]
    manifest["metadata"]["uid"] = "5b0e6c1e-0b7c-4a51-9d34-2f6f3f9b1a10"
    path = tmp_path / "md.yaml"
    path.write_text(yaml.safe_dump(manifest))
    done = _render(str(path), "--namespace", "models")
    assert done.returncode == 0, done.stderr
    for child in _children(done.stdout):
        assert child["metadata"]["namespace"] == "models"
        assert child["metadata"]["ownerReferences"][0]["uid"] == manifest["metadata"]["uid"]


def test_every_model_deployment_of_a_multi_document_file_is_rendered() -> None:
    second = _manifest()
    second["metadata"]["name"] = "tiny-mlp-b"
    text = EXAMPLE.read_text() + "\n---\n" + yaml.safe_dump(second)
    done = _render("-", stdin=text)
    assert done.returncode == 0, done.stderr
    names = {child["metadata"]["name"] for child in _children(done.stdout)}
    assert names == {"tiny-mlp", "tiny-mlp-b"}


@pytest.mark.parametrize(
    ("spec_change", "field"),
    [
        ({"slo": {"latencyP95Ms": -5}}, "latencyP95Ms"),
        ({"scaling": {"minReplicas": 4, "maxReplicas": 2}}, "maxReplicas"),
    ],
)
def test_an_invalid_spec_prints_nothing_and_names_the_field(
    spec_change: dict[str, Any], field: str
) -> None:
    done = _render("-", stdin=yaml.safe_dump(_manifest(**spec_change)))
    assert done.returncode == 1
    assert done.stdout == ""
    assert field in done.stderr


def test_a_file_without_a_model_deployment_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    done = _render(str(path))
    assert done.returncode == 1
    assert "no ModelDeployment" in done.stderr


def test_a_name_that_cannot_name_the_children_is_refused_as_the_api_server_would() -> None:
    manifest = _manifest()
    manifest["metadata"]["name"] = "m" * 70  # a Service name and a label value: 63 at most
    done = _render("-", stdin=yaml.safe_dump(manifest))
    assert done.returncode == 1
    assert done.stdout == ""
    assert "metadata.name" in done.stderr
