"""The local node's vLLM: ``gpufleet-server --mode llm`` runs what the operator asks of ``vllm``.

vLLM needs a GPU; this machine has none. The operator writes a ``runtime.type: vllm`` pod as
for a cluster (``vllm serve <model> --host=0.0.0.0 --port=8000 --served-model-name=<name>``
plus ``runtime.args``, ``/health`` probes, metrics on the HTTP port). The local node runs
that command with gpufleet-server's LLM mode, which speaks vLLM's OpenAI API and exports
vLLM's metric names: the operator scales it exactly as it would scale vLLM. Its model is the
seeded transformer (the ``<model>`` folder is mounted but not read); ``runtime.args`` pass
through, so they must be gpufleet-server's LLM flags (``--max-model-len``,
``--max-num-seqs``, ... share vLLM's names; ``--emulate-*`` are the server's own).
"""

from __future__ import annotations

from collections.abc import Sequence

BINARY = "vllm"
SERVER = "gpufleet-server"
# Flags whose local values the node sets itself (its ports, its loopback address).
_NODE_FLAGS = ("--port", "--host")


class VllmCommandError(ValueError):
    """The command is not ``vllm serve <model> ...``."""


def _flag(arg: str) -> str:
    return arg.partition("=")[0]


def server_args(
    command: Sequence[str], http_port: int, metrics_port: int, grace_s: float | None = None
) -> list[str]:
    """gpufleet-server's arguments (after the binary) for ``vllm serve <model> <flags>``.

    ``grace_s`` (the pod's termination grace period): how long the server may drain its
    streams after SIGTERM, as vLLM's do until the kubelet kills it.
    """
    args = list(command[1:])
    if len(args) < 2 or args[0] != "serve" or args[1].startswith("-"):
        raise VllmCommandError(f"expected 'vllm serve <model> ...', got {' '.join(command)!r}")
    # The operator writes these as --flag=value, and users may not set them (reserved flags).
    kept = [arg for arg in args[2:] if _flag(arg) not in _NODE_FLAGS]
    drain = [] if grace_s is None else [f"--exit-timeout-secs={grace_s:g}"]
    return [
        "--mode=llm",
        f"--http-port={http_port}",
        f"--metrics-port={metrics_port}",
        "--host=127.0.0.1",
        *drain,
        *kept,
    ]
