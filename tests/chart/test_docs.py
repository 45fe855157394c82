"""Docs that must follow the chart: the values table and one runbook per alert."""

from __future__ import annotations

import importlib.util
import itertools
import re
from pathlib import Path
from types import ModuleType

import pytest

from .render import CHART_DIR, REPO_ROOT, render


def _values_doc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("values_doc", CHART_DIR / "ci" / "values_doc.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_doc_is_generated_from_the_schema() -> None:
    doc = REPO_ROOT / "docs" / "configuration.md"
    assert doc.read_text() == _values_doc().render(), (
        "docs/configuration.md is stale: run .venv/bin/python charts/gpufleet/ci/values_doc.py"
    )


def test_configuration_doc_lists_every_value() -> None:
    text = _values_doc().render()
    for key in ("operator.tickSeconds", "watch.scope", "prometheusRule.alerts.sloMissed.for"):
        assert f"| `{key}` |" in text


def test_every_alert_has_a_runbook_section(chart_dir: Path) -> None:
    values = {"prometheusRule": {"enabled": True}, "metrics": {"serviceMonitor": {"enabled": True}}}
    rule = render(chart_dir, values).one("PrometheusRule")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    runbooks = (REPO_ROOT / "docs" / "runbooks.md").read_text()
    headings = {h.strip().lower() for h in re.findall(r"^## (.+)$", runbooks, flags=re.M)}
    assert len(alerts) == 8
    for alert in alerts:
        assert alert["alert"].lower() in headings, f"docs/runbooks.md has no '## {alert['alert']}'"
        anchor = alert["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == alert["alert"].lower()


_SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```", flags=re.M | re.S)
_SET = re.compile(r"--set[ =](\S+)")


def _shell_commands(doc: Path) -> list[str]:
    """The shell commands of a document's ```sh blocks, in order, continuations joined."""
    commands: list[str] = []
    for block in _SHELL_BLOCK.findall(doc.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            command = line.split(" #", 1)[0].strip()
            if command:
                commands.append(command)
    return commands


def _helm_install_values(command: str) -> tuple[str, dict[str, object]]:
    """The release namespace and the values of a documented `helm install` command."""
    words = command.split()
    namespace = "default"
    for flag, value in itertools.pairwise(words):
        if flag in ("-n", "--namespace"):
            namespace = value
    values: dict[str, object] = {}
    for assignment in _SET.findall(command):
        for pair in assignment.split(","):
            key, _, value = pair.partition("=")
            value = value.strip("'\"")
            parsed: object = {"true": True, "false": False}.get(value, value)
            if value.startswith("{"):
                parsed = value.strip("{}").split(",")
            *parents, leaf = key.split(".")
            node = values
            for parent in parents:
                node = node.setdefault(parent, {})  # type: ignore[assignment]
            node[leaf] = parsed  # type: ignore[index]
    return namespace, values


@pytest.mark.parametrize("doc", ["docs/install.md", "charts/gpufleet/README.md"])
def test_documented_install_creates_the_watched_namespaces_first(chart_dir: Path, doc: str) -> None:
    """Helm cannot create a Role in a namespace that does not exist: a quick start that
    creates the watched namespace after `helm install` fails with `namespaces "models"
    not found` (--create-namespace creates only the release's)."""
    created: set[str] = set()
    installs = 0
    for command in _shell_commands(REPO_ROOT / doc):
        words = command.split()
        if words[:3] in (["kubectl", "create", "namespace"], ["kubectl", "create", "ns"]):
            created.add(words[3])
        if words[:2] != ["helm", "install"]:
            continue
        installs += 1
        namespace, values = _helm_install_values(command)
        existing = created | ({namespace} if "--create-namespace" in words else set())
        watch = {"watch": values["watch"]} if "watch" in values else {}
        rendered = render(chart_dir, watch, namespace=namespace)
        targets = {
            o["metadata"]["namespace"] for o in rendered.objects if "namespace" in o["metadata"]
        }
        missing = targets - existing
        assert not missing, f"{doc}: `helm install` into namespaces not created yet: {missing}"
    assert installs, f"{doc}: no `helm install` in a ```sh block"


KUBE_PROMETHEUS_STACK = {"release": "kube-prometheus-stack"}
"""kube-prometheus-stack's default monitor and rule selectors (`*SelectorNilUsesHelmValues`),
for a release of that name."""


@pytest.mark.parametrize("doc", ["docs/install.md", "charts/gpufleet/README.md"])
def test_documented_install_is_picked_up_by_kube_prometheus_stack(
    chart_dir: Path, doc: str
) -> None:
    """The install docs name kube-prometheus-stack; its Prometheus ignores a PodMonitor
    without its release label, and then no model is scraped and nothing ever scales."""
    for command in _shell_commands(REPO_ROOT / doc):
        if command.split()[:2] != ["helm", "install"]:
            continue
        namespace, values = _helm_install_values(command)
        rendered = render(chart_dir, values, namespace=namespace)
        monitoring = [o for o in rendered.objects if o["apiVersion"].startswith("monitoring.")]
        assert rendered.of_kind("PodMonitor"), f"{doc}: the install scrapes no model pod"
        for obj in monitoring:
            labels = obj["metadata"]["labels"]
            assert KUBE_PROMETHEUS_STACK.items() <= labels.items(), (
                f"{doc}: {obj['kind']} {obj['metadata']['name']} is ignored by "
                f"kube-prometheus-stack's Prometheus (labels {labels})"
            )


def test_gitops_doc_names_the_annotations_the_operator_writes() -> None:
    """docs/gitops.md tells GitOps users which annotations appear on their
    ModelDeployments; kopf writes them under the prefix the operator configures."""
    import kopf

    from gpufleet.handlers.lifecycle import configure_kopf
    from gpufleet.settings import OperatorSettings

    settings = kopf.OperatorSettings()
    configure_kopf(settings, OperatorSettings())
    diffbase = settings.persistence.diffbase_storage
    assert isinstance(diffbase, kopf.AnnotationsDiffBaseStorage)
    (written, *_) = diffbase.make_keys(diffbase.key)
    prefix = written.split("/")[0]
    doc = (REPO_ROOT / "docs" / "gitops.md").read_text()
    assert f"`{prefix}/*`" in doc, f"docs/gitops.md should name the {prefix}/* annotations"
    assert f"`{written}`" in doc, f"docs/gitops.md should name {written}"
    assert "kopf.zalando.org" not in doc, "kopf's default prefix is not the operator's"
