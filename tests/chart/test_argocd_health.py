"""Argo CD's health of a ModelDeployment, from the Lua check gpufleet ships.

Runs gitops/argocd/health.lua in Lua 5.1 (Argo CD embeds gopher-lua, a Lua 5.1)
through lupa, against Argo CD's own test layout: health_test.yaml + testdata/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

lupa = pytest.importorskip("lupa.lua51", reason="lupa (PyPI) runs the Lua health check")

HEALTH_DIR = Path(__file__).resolve().parents[2] / "gitops" / "argocd"
CASES: list[dict[str, Any]] = yaml.safe_load((HEALTH_DIR / "health_test.yaml").read_text())["tests"]


def argocd_health(obj: dict[str, Any]) -> dict[str, str]:
    """Evaluate health.lua the way Argo CD does: a global ``obj``, a returned table."""
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals()["obj"] = runtime.table_from(obj, recursive=True)
    script = (HEALTH_DIR / "health.lua").read_text()
    result = runtime.execute(script)
    return {"status": result["status"], "message": result["message"]}


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_health_of_fixture(case: dict[str, Any]) -> None:
    obj = yaml.safe_load((HEALTH_DIR / case["inputPath"]).read_text())
    assert argocd_health(obj) == case["healthStatus"]


def test_every_health_status_is_covered() -> None:
    assert {c["healthStatus"]["status"] for c in CASES} == {"Healthy", "Progressing", "Degraded"}


def test_fixtures_are_modeldeployments_with_valid_specs() -> None:
    from gpufleet.domain.spec import parse_spec

    for case in CASES:
        obj = yaml.safe_load((HEALTH_DIR / case["inputPath"]).read_text())
        assert (obj["apiVersion"], obj["kind"]) == ("gpufleet.io/v1alpha1", "ModelDeployment")
        parse_spec(obj["spec"])


def test_conditions_use_the_operators_vocabulary() -> None:
    from gpufleet.domain.conditions import ConditionType

    known = {t.value for t in ConditionType}
    for case in CASES:
        obj = yaml.safe_load((HEALTH_DIR / case["inputPath"]).read_text())
        for condition in obj.get("status", {}).get("conditions", []):
            assert condition["type"] in known
            assert condition["status"] in {"True", "False", "Unknown"}
