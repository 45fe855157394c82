"""The children built from each example spec equal their golden YAML files.

Regenerate after an intended change with ``GPUFLEET_UPDATE_GOLDEN=1 make test-fast``
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from gpufleet.domain.manifests.children import CHILD_KINDS, OPTIONAL_CHILD_KINDS
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from tests.operator.specs import GOLDEN_SPECS

GOLDEN_DIR = Path(__file__).parent / "golden"
OWNER = Owner(name="demo", namespace="ml", uid="7d5c1d3e-0000-4000-8000-000000000001")


def render(case: str) -> str:
    spec = parse_spec(GOLDEN_SPECS[case])
    kinds = [*CHILD_KINDS, *(kind for kind in OPTIONAL_CHILD_KINDS if kind.wanted(spec))]
    docs = [kind.build(OWNER, spec) for kind in kinds]
    return yaml.safe_dump_all(docs, sort_keys=True)


@pytest.mark.parametrize("case", sorted(GOLDEN_SPECS))
def test_children_match_golden_yaml(case: str) -> None:
    path = GOLDEN_DIR / f"{case}.yaml"
    rendered = render(case)
    if os.environ.get("GPUFLEET_UPDATE_GOLDEN") == "1":
        path.write_text(rendered)
    assert path.exists(), f"no golden file {path}; run with GPUFLEET_UPDATE_GOLDEN=1"
    assert rendered == path.read_text(), f"{case}: children differ from {path.name}"
