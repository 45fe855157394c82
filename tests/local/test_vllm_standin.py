"""The LLM example's pods: the operator writes vLLM's command, the local node runs it with
gpufleet-server's LLM mode on the pod's own ports, and the example's trace keeps its token
counts (a prompt longer than the context is shortened, never refused)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from gpufleet.domain.manifests.deployment import build_deployment
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from gpufleet_devtools.local.llm_trace import TokenTrace, max_model_len, replay_streams
from gpufleet_devtools.local.paths import LLM_EXAMPLE_MANIFEST
from gpufleet_devtools.local.podplan import PodPlanError, plan_process
from gpufleet_server.cli import parse_options


def _template() -> dict[str, object]:
    example = yaml.safe_load(LLM_EXAMPLE_MANIFEST.read_text())
    spec = parse_spec(example["spec"])
    deployment = build_deployment(Owner("tiny-llm", "default", "uid-1"), spec, 1)
    return dict(deployment["spec"]["template"])


def test_the_vllm_pod_runs_the_llm_mode_on_its_own_ports(tmp_path: Path) -> None:
    template = _template()
    command = template["spec"]["containers"][0]["command"]  # type: ignore[index]
    assert command[:2] == ["vllm", "serve"]  # what a cluster would run
    plan = plan_process(template, tmp_path, itertools.count(42000).__next__, base_env={})
    assert plan.argv[0].endswith("gpufleet-server")
    # The server accepts what the node made of the command: the example's settings included.
    options, _ = parse_options(plan.argv[1:])
    assert options.mode == "llm"
    assert (options.http_port, options.metrics_port) == (plan.ports.http, plan.ports.metrics)
    assert options.host == "127.0.0.1"
    assert options.llm is not None
    assert options.llm.served_model_name == "tiny-llm"
    assert options.llm.emulated_device is not None
    # It drains streams for as long as the pod's grace period lets it.
    assert plan.termination_grace_s is not None
    assert options.exit_timeout_secs == plan.termination_grace_s


def test_a_command_that_is_not_vllm_serve_is_reported(tmp_path: Path) -> None:
    template = _template()
    template["spec"]["containers"][0]["command"] = ["vllm", "bench"]  # type: ignore[index]
    with pytest.raises(PodPlanError, match="vllm serve"):
        plan_process(template, tmp_path, itertools.count(43000).__next__, base_env={})


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--max-model-len=4096"], 4096),
        (["--max-num-seqs=8", "--max-model-len", "512"], 512),
        ([], 2048),  # gpufleet-server's default
    ],
)
def test_the_context_limit_is_read_from_the_server_args(args: list[str], expected: int) -> None:
    assert max_model_len(args) == expected


def test_replayed_streams_keep_their_tokens_and_long_prompts_are_shortened() -> None:
    trace = TokenTrace(
        times=(0.0, 1.0, 2.0), prompt_tokens=(100, 3000, 50), output_tokens=(20, 200, 5000)
    )
    streams = replay_streams(
        trace, duration_s=10.0, speedup=1.0, rate_scale=1.0, max_model_len=1024
    )
    assert streams.arrivals.offsets == (0.0, 1.0, 2.0)
    # Fits: as in the trace. Too long: the output stays, the prompt's start goes. An output
    # longer than the context leaves one prompt token.
    assert list(zip(streams.prompt_tokens, streams.max_tokens, strict=True)) == [
        (100, 20), (824, 200), (1, 1023),
    ]  # fmt: skip
    assert streams.clipped == 2
