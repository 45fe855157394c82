"""Loading CustomResourceDefinitions from YAML files or folders."""

from __future__ import annotations

import pathlib
from collections.abc import Iterable

import yaml

from gpufleet_devtools.apiserver.errors import JsonDict

_CRD_KIND = "CustomResourceDefinition"


def load_crds(paths: Iterable[pathlib.Path | str]) -> list[JsonDict]:
    """Every ``CustomResourceDefinition`` document in the files (folders: ``*.yaml|*.yml``)."""
    crds: list[JsonDict] = []
    for entry in map(pathlib.Path, paths):
        files = sorted([*entry.glob("*.yaml"), *entry.glob("*.yml")]) if entry.is_dir() else [entry]
        for file in files:
            for document in yaml.safe_load_all(file.read_text()):
                if isinstance(document, dict) and document.get("kind") == _CRD_KIND:
                    crds.append(document)
    return crds
