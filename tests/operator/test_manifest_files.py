"""`gpufleet validate` and `gpufleet render` read a manifest file as kubectl would: what
kubectl would refuse is refused, naming the line, the document or the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet.cli import app

GOOD = """\
apiVersion: gpufleet.io/v1alpha1
kind: ModelDeployment
metadata: {name: chat}
spec:
  model: {name: m, repository: "s3://bucket/m"}
  slo: {latencyP95Ms: 200}
  cost: {maxHourlyCost: 10}
"""
CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
COMMANDS = ["validate", "render"]


def _invoke(command: str, path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [command, str(path)])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "md.yaml: no ModelDeployment in it"),
        ("---\n---\n", "md.yaml: no ModelDeployment in it"),
        (CONFIG_MAP, "md.yaml: no ModelDeployment in it"),
        ("just text\n", "md.yaml, document 1: expected a Kubernetes object (a mapping), got a "
         "string"),
        (f"{CONFIG_MAP}---\n- {GOOD.splitlines()[0]}\n", "md.yaml, document 2: expected a "
         "Kubernetes object (a mapping), got a list"),
        (GOOD.replace("kind: ModelDeployment\n", ""), "md.yaml, document 1: no kind"),
        (GOOD.replace("v1alpha1", "v1"), "chat: invalid: md.yaml, document 1: apiVersion "
         "'gpufleet.io/v1': a ModelDeployment is gpufleet.io/v1alpha1"),
        (GOOD.replace("metadata: {name: chat}", "metadata: [chat]"),
         "md.yaml, document 1: metadata: expected a mapping, got a list"),
        ("apiVersion: gpufleet.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: chat}\n"
         "spec: [model]\n", "chat: invalid: md.yaml, document 1: spec: expected a mapping, got "
         "a list"),
        ("kind: ModelDeployment\nspec: {slo: [}\n",
         "md.yaml: line 2, column 14: expected the node content, but found '}'"),
        # PyYAML keeps the last of two keys, losing the first without a word; kubectl refuses.
        (GOOD + "  slo: {latencyP95Ms: 900}\n",
         "md.yaml: line 8, column 3: key 'slo' is given twice (first at line 6)"),
        # YAML 1.1 reads 1e400 (no dot) as a string: a number field refuses it.
        (GOOD.replace("maxHourlyCost: 10", "maxHourlyCost: 1e400"),
         "chat: invalid: spec.cost.maxHourlyCost: Input should be a valid number"),
        (GOOD.replace("maxHourlyCost: 10", "maxHourlyCost: .inf"),
         "chat: invalid: spec.cost.maxHourlyCost: Input should be a finite number"),
        # NaN fails the field's bound before the finite check.
        (GOOD.replace("maxHourlyCost: 10", "maxHourlyCost: .nan"),
         "chat: invalid: spec.cost.maxHourlyCost: Input should be greater than 0"),
    ],
)  # fmt: skip
def test_a_file_kubectl_would_refuse_exits_1_saying_where(
    tmp_path: Path, command: str, text: str, message: str
) -> None:
    path = tmp_path / "md.yaml"
    path.write_text(text)
    exit_code, output = _invoke(command, path)
    assert exit_code == 1
    assert message.replace("md.yaml", str(path)) in output
    assert "Traceback" not in output


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.yaml", None, "missing.yaml: No such file or directory"),
        ("latin1.yaml", b"kind: Mod\xe8le\n", "latin1.yaml: not UTF-8 text (byte 9)"),
    ],
)
def test_a_file_that_cannot_be_read_exits_2(
    tmp_path: Path, command: str, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    exit_code, output = _invoke(command, path)
    assert exit_code == 2
    assert f"{tmp_path}/{message}" in output


@pytest.mark.parametrize("command", COMMANDS)
def test_a_directory_exits_2(tmp_path: Path, command: str) -> None:
    exit_code, output = _invoke(command, tmp_path)
    assert exit_code == 2
    assert f"{tmp_path}: Is a directory" in output


LIST = "apiVersion: v1\nkind: List\nitems:\n" + "".join(
    ("- " if i == 0 else "  ") + line + "\n" for i, line in enumerate(GOOD.splitlines())
)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # `kubectl get modeldeployments -o yaml` writes a List of them.
        (LIST, "chat: valid ("),
        (f"{CONFIG_MAP}---\n{GOOD}", "chat: valid ("),
        ("\ufeff" + GOOD, "chat: valid ("),  # a BOM, as some Windows editors save
        # A merge key is not a key given twice; the mapping's own key wins, as in kubectl.
        (GOOD.replace("slo: {latencyP95Ms: 200}", "slo: {<<: {latencyP95Ms: -1}, latencyP95Ms: "
                      "200}"), "chat: valid ("),
    ],
)  # fmt: skip
def test_what_kubectl_reads_is_read(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "md.yaml"
    path.write_text(text)
    _, output = _invoke("validate", path)
    assert said in output


def test_every_model_deployment_in_a_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "md.yaml"
    bad = GOOD.replace("latencyP95Ms: 200", "latencyP95Ms: -1")
    path.write_text(
        f"{GOOD}---\n{bad.replace('chat', 'two')}---\n{bad.replace('chat', 'three')}---\n"
        f"{GOOD.replace('chat', 'four')}"
    )
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert [line.split(":")[0:2] for line in result.output.splitlines()] == [
        ["chat", " valid (0.8 USD per GPU-hour)"],
        ["two", " invalid"],
        ["three", " invalid"],
        ["four", " valid (0.8 USD per GPU-hour)"],
    ]


def test_validate_reads_stdin_as_render_does() -> None:
    result = CliRunner().invoke(app, ["validate", "-"], input=GOOD)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("chat: valid (")
