"""``python -m gpufleet_devtools.apiserver --port 0 --kubeconfig PATH --crds DIR_OR_FILE...``"""

from __future__ import annotations

import argparse
import asyncio
import logging
import pathlib
import signal
import sys

from gpufleet_devtools.apiserver.server import EmulatedApiServer


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gpufleet_devtools.apiserver",
        description="Run the emulated Kubernetes API server (plain http, no auth).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--kubeconfig",
        type=pathlib.Path,
        required=True,
        help="where to write a kubeconfig (context gpufleet-local)",
    )
    parser.add_argument(
        "--crds",
        type=pathlib.Path,
        nargs="*",
        default=[],
        help="CRD YAML files or folders to preload",
    )
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    server = EmulatedApiServer(
        crds=args.crds, host=args.host, port=args.port, kubeconfig_path=args.kubeconfig
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, server.request_stop)
    await server.start()
    print(server.url, flush=True)
    await server.wait_until_stop_requested()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_run(_parse(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
