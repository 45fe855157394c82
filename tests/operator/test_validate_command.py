"""`gpufleet validate`: what the operator would say of a manifest, before it is applied."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gpufleet.cli import app

BAD = """\
apiVersion: gpufleet.io/v1alpha1
kind: ModelDeployment
metadata: {name: chat}
spec:
  model: {name: m, repository: "s3://bucket/m"}
  runtime: {type: tritonn}
  slo: {latencyP95Ms: -5}
  cost: {maxHourlyCost: 10}
"""


def test_a_bad_manifest_exits_1_naming_every_wrong_field(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(BAD)
    result = CliRunner().invoke(app, ["validate", str(manifest)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith("chat: invalid: spec.runtime.type: ") for line in lines)
    assert any(line.startswith("chat: invalid: spec.slo.latencyP95Ms: ") for line in lines)


def test_a_good_manifest_is_valid_at_its_gpu_price(tmp_path: Path) -> None:
    manifest = tmp_path / "good.yaml"
    manifest.write_text(BAD.replace("tritonn", "triton").replace("-5", "200"))
    result = CliRunner().invoke(app, ["validate", str(manifest)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("chat: valid (")


def test_a_pause_annotation_the_operator_would_not_understand_is_invalid(tmp_path: Path) -> None:
    good = BAD.replace("tritonn", "triton").replace("-5", "200")
    manifest = tmp_path / "paused.yaml"
    manifest.write_text(good.replace("metadata: {name: chat}", PAUSED.format("lots")))
    result = CliRunner().invoke(app, ["validate", str(manifest)])
    assert result.exit_code == 1
    assert (
        "chat: invalid: metadata.annotations: gpufleet.io/paused-replicas='lots' is not a "
        "whole number of replicas"
    ) in result.output
    manifest.write_text(good.replace("metadata: {name: chat}", PAUSED.format("2")))
    result = CliRunner().invoke(app, ["validate", str(manifest)])
    assert result.exit_code == 0, result.output


PAUSED = "metadata: {{name: chat, annotations: {{gpufleet.io/paused-replicas: '{}'}}}}"


def test_a_bad_or_missing_name_is_named_as_metadata_not_spec(tmp_path: Path) -> None:
    """The name is no field of the spec: a name no Service can carry is reported at
    ``metadata.name``, and an object without one -- which kubectl apply refuses -- is
    not called valid."""
    good = BAD.replace("tritonn", "triton").replace("-5", "200")
    manifest = tmp_path / "named.yaml"
    manifest.write_text(good.replace("{name: chat}", "{name: Chat_1}"))
    result = CliRunner().invoke(app, ["validate", str(manifest)])
    assert result.exit_code == 1
    assert "Chat_1: invalid: metadata.name: 'Chat_1': metadata.name must be a DNS-1035" in (
        result.output
    )
    manifest.write_text(good.replace("metadata: {name: chat}", "metadata: {labels: {a: b}}"))
    result = CliRunner().invoke(app, ["validate", str(manifest)])
    assert result.exit_code == 1
    assert f"{manifest}, document 1: invalid: metadata.name: required" in result.output
