"""``gpufleet profile`` against a real gpufleet-server with dynamic batching, and the
profile it writes driving ``gpufleet sim``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from gpufleet.profiling.cli import app as profile_app
from gpufleet.sim.cli import app as sim_app
from gpufleet.sim.profile import load_profile
from gpufleet_devtools.runtime.example_models import IN_FEATURES, mlp_config, write_model
from gpufleet_devtools.runtime.process import ServerProcess, start_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

MAX_BATCH = 8
QUEUE_DELAY_US = 5_000


class PerItemWork(nn.Module):
    """Computes a fixed amount per item, so a batch's time grows with its size."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.expand = nn.Linear(IN_FEATURES, 384)
        self.mix = nn.Parameter(torch.randn(384, 384) / 384**0.5)
        self.head = nn.Linear(384, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.expand(x))
        for _ in range(24):
            # An outer product per item (384 x 384 values each): the work, and the memory
            # it touches, grow with the batch, unlike a matmul that mostly reads shared
            # weights (flat from batch 1 to 8 on a CPU, which left the slope to noise).
            outer = h.unsqueeze(2) * h.unsqueeze(1)
            h = torch.tanh(torch.matmul(outer.mean(dim=1), self.mix))
        out: torch.Tensor = self.head(h)
        return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    repo = tmp_path_factory.mktemp("repo")
    write_model(repo, "work", PerItemWork(), mlp_config("work", MAX_BATCH, QUEUE_DELAY_US))
    running = start_server(repo, tmp_path_factory.mktemp("logs") / "server.log")
    yield running
    running.stop()


def test_profile_measures_batching_and_drives_the_simulator(
    server: ServerProcess, tmp_path: Path
) -> None:
    out = tmp_path / "work.yaml"
    result = CliRunner().invoke(
        profile_app,
        [
            "--url", server.http_url, "--model", "work", "--out", str(out),
            "--metrics-url", f"http://127.0.0.1:{server.metrics_port}/metrics",
            "--batch-sizes", "1,2,4,8", "--concurrency", "1,4",
            "--requests", "40", "--seconds", "2",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    profile = load_profile(out)
    # Batching limits come from the model's config on the server.
    assert profile.max_batch == MAX_BATCH
    assert profile.max_queue_delay_ms == pytest.approx(QUEUE_DELAY_US / 1000)
    # A batch of 8 items costs more than one of 1: the per-item cost is positive.
    assert profile.c_ms > 0
    assert profile.measured is not None
    assert [p.batch for p in profile.measured.batches] == [1, 2, 4, 8]
    # The server's compute counter gives the model's part of each lone request, below
    # what the client waited (HTTP, the batcher's wait); the profile fits it apart.
    # The counter only yields a mean, so it is held against the clients' mean: a median
    # can sit below a mean that a few slow requests on a busy host pull up.
    assert profile.compute_a_ms is not None
    for point in profile.measured.batches:
        assert point.compute_ms is not None
        assert point.mean_ms is not None
        assert 0 < point.compute_ms < point.mean_ms
    assert profile.compute_seconds(MAX_BATCH) < profile.batch_seconds(MAX_BATCH)
    by_clients = {p.concurrency: p for p in profile.measured.concurrency}
    assert set(by_clients) == {1, 4}
    # Four clients: the server's dynamic batcher grouped their requests.
    assert by_clients[4].mean_batch is not None
    assert by_clients[4].mean_batch > 1.2
    # One client waits for each answer: its throughput is what one request alone predicts.
    alone = by_clients[1]
    assert alone.predicted_rps is not None
    assert alone.throughput_rps == pytest.approx(alone.predicted_rps, rel=0.5)

    sim = CliRunner().invoke(
        sim_app,
        ["--trace", "synthetic:constant?rate=20&duration=300", "--profile", str(out),
         "--policies", "static,oracle", "--no-sweep"],
    )  # fmt: skip
    assert sim.exit_code == 0, sim.output
    assert "static" in sim.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "missing"], "missing"),
        (["--model", "work", "--batch-sizes", "1,64"], "max_batch_size 8"),
        (["--model", "work", "--concurrency", "0"], "--concurrency"),
    ],
    ids=["unknown-model", "batch-too-big", "bad-concurrency"],
)
def test_bad_input_is_refused_with_a_reason(
    server: ServerProcess, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "p.yaml"
    result = CliRunner().invoke(
        profile_app, ["--url", server.http_url, "--out", str(out), "--requests", "3", *args]
    )
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()
