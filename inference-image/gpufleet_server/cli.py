"""``gpufleet-server``: command line flags mirroring ``tritonserver``'s."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from gpufleet_server.llm.options import LlmOptions
from gpufleet_server.llm.server import serve_llm
from gpufleet_server.options import ServerOptions
from gpufleet_server.server import serve

# LLM-mode flags and the LlmOptions field each sets; rejected in triton mode.
_LLM_FLAGS = {
    "--served-model-name": ("served_model_name", str),
    "--max-model-len": ("max_model_len", int),
    "--kv-cache-tokens": ("kv_cache_tokens", int),
    "--block-size": ("block_size", int),
    "--max-num-seqs": ("max_num_seqs", int),
    "--max-num-batched-tokens": ("max_num_batched_tokens", int),
    "--num-layers": ("num_layers", int),
    "--hidden-size": ("hidden_size", int),
    "--num-heads": ("num_heads", int),
    "--seed": ("seed", int),
    "--emulate-decode-base-ms": ("emulate_decode_base_ms", float),
    "--emulate-decode-ms-per-seq": ("emulate_decode_ms_per_seq", float),
    "--emulate-prefill-ms-per-token": ("emulate_prefill_ms_per_token", float),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpufleet-server",
        description="PyTorch model server speaking Triton's HTTP/gRPC protocol and metrics.",
        allow_abbrev=False,  # an abbreviation of a flag is an unknown flag, as in tritonserver
    )
    parser.add_argument(
        "--mode",
        choices=("triton", "llm"),
        default="triton",
        help="triton: a model repository behind Triton's protocols and metrics; llm: a small "
        "generative transformer behind OpenAI's API, Triton's generate extension and vLLM's "
        "metrics",
    )
    parser.add_argument("--model-repository", "--model-store", help="required unless --mode llm")
    parser.add_argument("--host", default="0.0.0.0", help="address all three ports bind to")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--exit-timeout-secs", type=float, default=30.0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32")
    parser.add_argument(
        "--metrics-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only summary_latencies=true|false is supported (default true)",
    )
    parser.add_argument("--log-level", default="INFO")
    llm = parser.add_argument_group("LLM mode (only with --mode llm)")
    for flag, (field, kind) in _LLM_FLAGS.items():
        setting = LlmOptions.model_fields[field]
        help_text = f"{setting.description} (default {setting.default})"
        llm.add_argument(flag, dest=field, type=kind, default=None, help=help_text)
    return parser


def _llm_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> LlmOptions | None:
    given = {field: getattr(args, field) for field, _ in _LLM_FLAGS.values()}
    given = {field: value for field, value in given.items() if value is not None}
    if args.mode != "llm":
        if given:
            flags = [flag for flag, (field, _) in _LLM_FLAGS.items() if field in given]
            parser.error(f"{' '.join(flags)} only apply with --mode llm")
        return None
    if args.model_repository is not None:
        parser.error("--model-repository does not apply with --mode llm")
    try:
        return LlmOptions(**given)
    except ValidationError as error:
        parser.error(str(error))


def _summary_latencies(settings: list[str], parser: argparse.ArgumentParser) -> bool:
    enabled = True
    for setting in settings:
        key, _, value = setting.partition("=")
        if key != "summary_latencies" or value not in ("true", "false"):
            parser.error(f"unsupported --metrics-config '{setting}'")
        enabled = value == "true"
    return enabled


def parse_options(argv: Sequence[str]) -> tuple[ServerOptions, str]:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(
            f"unknown flag(s): {' '.join(unknown)} "
            "(gpufleet-server accepts only the flags listed by --help)"
        )
    try:
        options = ServerOptions(
            mode=args.mode,
            model_repository=args.model_repository,
            llm=_llm_options(args, parser),
            host=args.host,
            http_port=args.http_port,
            grpc_port=args.grpc_port,
            metrics_port=args.metrics_port,
            exit_timeout_secs=args.exit_timeout_secs,
            device=args.device,
            dtype=args.dtype,
            summary_latencies=_summary_latencies(args.metrics_config, parser),
        )
    except ValidationError as error:
        parser.error(str(error))
    return options, args.log_level


def main(argv: Sequence[str] | None = None) -> None:
    options, log_level = parse_options(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if options.llm is not None:
        sys.exit(asyncio.run(serve_llm(options, options.llm)))
    sys.exit(asyncio.run(serve(options)))


if __name__ == "__main__":
    main()
