"""`gpufleet render`, `validate` and `crds` refuse bad input naming it, without a traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gpufleet.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "llm-vllm.yaml"


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def test_render_refuses_a_namespace_no_cluster_has() -> None:
    code, said = _run("render", str(EXAMPLE), "--namespace", "Team_B")
    assert code == 2
    assert "not a namespace name: 'Team_B'" in said


def test_render_and_validate_refuse_a_manifests_own_bad_namespace(tmp_path: Path) -> None:
    manifest = tmp_path / "md.yaml"
    manifest.write_text(EXAMPLE.read_text().replace("namespace: default", "namespace: Team_B"))
    for command in ("render", "validate"):
        code, said = _run(command, str(manifest))
        assert code == 1, command
        assert "llama-3-8b: invalid: metadata.namespace: not a namespace name: 'Team_B'" in said


def test_render_names_a_bad_operator_setting() -> None:
    code, said = _run("render", str(EXAMPLE), env={"GPUFLEET_TICK_SECONDS": "soon"})
    assert code == 2
    assert "gpufleet render: invalid settings: GPUFLEET_TICK_SECONDS: 'soon'" in said


def test_crds_says_where_it_cannot_write(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "crd.yaml"
    code, said = _run("crds", "-o", str(target))
    assert code == 2
    assert f"error: {target}: No such file or directory" in said
