"""Where the local fleet keeps its state: ``.gpufleet/`` under the working directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
"""The checkout holding ``operator/``, ``crds/`` and ``examples/``."""
CRDS_DIR = REPO_ROOT / "crds"
EXAMPLE_MANIFEST = REPO_ROOT / "examples" / "tiny-mlp-torch.yaml"
TRITON_EXAMPLE_MANIFEST = REPO_ROOT / "examples" / "local" / "tiny-mlp-triton.yaml"
LLM_EXAMPLE_MANIFEST = REPO_ROOT / "examples" / "local" / "tiny-llm.yaml"
EXAMPLES = {
    "torch": EXAMPLE_MANIFEST,
    "triton": TRITON_EXAMPLE_MANIFEST,
    "llm": LLM_EXAMPLE_MANIFEST,
}
DEFAULT_TRACE = REPO_ROOT.parent / "shared" / "data" / "azure-llm-2023-conv.csv"


@dataclass(frozen=True, slots=True)
class LocalPaths:
    root: Path

    @classmethod
    def under(cls, base: Path | None = None) -> LocalPaths:
        return cls((base or Path.cwd()) / ".gpufleet")

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def volumes(self) -> Path:
        """``pvc://claim/path`` resolves to ``volumes/<claim>/<path>``."""
        return self.root / "volumes"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def prometheus(self) -> Path:
        """Prometheus's config and TSDB, one temporary directory a run."""
        return self.root / "prometheus"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def ensure(self) -> LocalPaths:
        for folder in (self.root, self.volumes, self.logs, self.prometheus):
            folder.mkdir(parents=True, exist_ok=True)
        return self
