"""A pod template written for a cluster runs on one machine: own ports, local volumes."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.domain.manifests.deployment import build_deployment
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from gpufleet_devtools.local.endpoints import ready_http_endpoint
from gpufleet_devtools.local.paths import TRITON_EXAMPLE_MANIFEST
from gpufleet_devtools.local.podobjects import pod_manifest
from gpufleet_devtools.local.podplan import PodPlanError, plan_process


def _deployment(example: dict[str, Any]) -> dict[str, Any]:
    return build_deployment(Owner("tiny-mlp", "default", "uid-1"), parse_spec(example["spec"]), 1)


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(arg.split("=", 1) for arg in argv[1:] if "=" in arg)


def test_each_pod_gets_its_own_ports_and_the_claim_maps_to_a_local_folder(
    example: dict[str, Any], tmp_path: Path
) -> None:
    template = _deployment(example)["spec"]["template"]
    ports = itertools.count(40000)
    first = plan_process(template, tmp_path, lambda: next(ports), base_env={})
    second = plan_process(template, tmp_path, lambda: next(ports), base_env={})
    flags = _flags(first.argv)
    assert flags["--model-repository"] == str(tmp_path / "models" / "repository")
    assert [flags["--http-port"], flags["--grpc-port"], flags["--metrics-port"]] == [
        str(first.ports.http), str(first.ports.grpc), str(first.ports.metrics),
    ]  # fmt: skip
    assert flags["--host"] == "127.0.0.1"  # loopback only, never 0.0.0.0
    assert first.argv[0].endswith("gpufleet-server")
    assert set(first.ports.by_name().values()).isdisjoint(second.ports.by_name().values())
    assert first.env["OMP_NUM_THREADS"] == "1"  # six replicas share two cores


def test_the_pod_object_reports_the_ports_the_process_listens_on(
    example: dict[str, Any], tmp_path: Path
) -> None:
    deployment = _deployment(example)
    deployment["metadata"]["uid"] = "deployment-uid"
    plan = plan_process(deployment["spec"]["template"], tmp_path, itertools.count(41000).__next__)
    pod = pod_manifest(deployment, "tiny-mlp-abc-12345", "abc", plan.ports.by_name())
    assert pod["metadata"]["labels"]["gpufleet.io/modeldeployment"] == "tiny-mlp"
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "deployment-uid"
    pod["status"] = {
        "podIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    assert ready_http_endpoint(pod) == f"127.0.0.1:{plan.ports.http}"
    pod["status"]["conditions"][0]["status"] = "False"
    assert ready_http_endpoint(pod) is None  # not ready: out of rotation


def test_a_template_without_a_command_is_refused(tmp_path: Path) -> None:
    template = {"spec": {"containers": [{"name": "server", "image": "some/image"}]}}
    with pytest.raises(PodPlanError, match="no command"):
        plan_process(template, tmp_path, lambda: 1)


def test_a_sub_path_mount_inside_the_repository_shows_only_that_model(tmp_path: Path) -> None:
    """Triton's pods mount one model (subPath) at /models/<model>; the repository /models
    then holds that model alone, as in the container, not the whole claim."""
    manifest = yaml.safe_load(TRITON_EXAMPLE_MANIFEST.read_text())
    spec = parse_spec(manifest["spec"])
    owner = Owner(manifest["metadata"]["name"], "default", "uid-1")
    template = build_deployment(owner, spec, 1)["spec"]["template"]
    volumes = tmp_path / "volumes"
    claim = volumes / spec.model.pvc_claim  # type: ignore[operator]
    for model in ("tiny-mlp-triton", "another-model"):
        (claim / "triton" / model / "1").mkdir(parents=True)
    plan = plan_process(template, volumes, itertools.count(42000).__next__, base_env={}, pod="p1")
    repository = Path(_flags(plan.argv)["--model-repository"])
    assert [entry.name for entry in repository.iterdir()] == ["tiny-mlp-triton"]
    assert (repository / "tiny-mlp-triton").resolve() == (claim / "triton" / "tiny-mlp-triton")
    assert (repository / "tiny-mlp-triton" / "1").is_dir()
