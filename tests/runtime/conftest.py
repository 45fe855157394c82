"""Fixtures that run the real gpufleet-server as a subprocess on a generated model repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from gpufleet_devtools.runtime.example_models import IN_FEATURES, Mlp, mlp_config, write_model
from gpufleet_devtools.runtime.process import ServerProcess, start_server

# The seeds of the served models, so tests can compute the expected answers in torch.
MLP_V1_SEED, MLP_V2_SEED, EXPORTED_SEED, HELD_SEED = 1, 2, 3, 4
MLP_QUEUE_DELAY_US = 20_000


class Fragile(nn.Module):
    """Fails inside the model on any input above 100: a model exception must fail only the
    request that caused it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x > 100).any()):
            raise RuntimeError("input value above 100")
        return x * 2


def build_repository(repo: Path) -> None:
    mlp = mlp_config("mlp", 8, MLP_QUEUE_DELAY_US)
    # Two versions: only the highest (2) is served under the default version policy.
    write_model(repo, "mlp", Mlp(MLP_V1_SEED), mlp, version=1)
    write_model(repo, "mlp", Mlp(MLP_V2_SEED), mlp, version=2)
    write_model(
        repo,
        "mlp_export",
        Mlp(EXPORTED_SEED),
        mlp_config("mlp_export", 8, None),
        export_example=torch.zeros(2, IN_FEATURES),
    )
    write_model(
        repo, "fragile", Fragile(), mlp_config("fragile", 4, None, out_features=IN_FEATURES)
    )
    # A long queue delay keeps a lone request waiting in the queue: in flight, not computing.
    write_model(repo, "held", Mlp(HELD_SEED), mlp_config("held", 64, 1_500_000))


@pytest.fixture(scope="session")
def reference_models() -> dict[str, nn.Module]:
    """The torch modules behind the served models, to compute the answers they must give."""
    return {"mlp": Mlp(MLP_V2_SEED), "mlp_export": Mlp(EXPORTED_SEED)}


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("model_repository")
    build_repository(repo)
    return repo


@pytest.fixture(scope="session")
def server(
    model_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    running = start_server(model_repository, tmp_path_factory.mktemp("logs") / "server.log")
    yield running
    running.stop()


# The shared LLM server's context limit; its KV cache (the default 8192 tokens) holds every
# test's concurrent requests at once, so none waits unless a test asks for it.
LLM_MAX_MODEL_LEN = 1024


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(
        None,
        tmp_path_factory.mktemp("llm-logs") / "server.log",
        ["--max-model-len", str(LLM_MAX_MODEL_LEN)],
    )
    yield running
    running.stop()
