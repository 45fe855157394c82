"""``python -m gpufleet_devtools.local.supervise ROOT``: keep a fleet up until SIGTERM.

What ``gpufleet local up`` starts.

The fleet writes ``ROOT/state.json`` (``ready`` once everything is up, and every
process's pid, refreshed as pods come and go) so ``status`` and ``down`` find them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from gpufleet_devtools.local.fleet import FleetOptions, LocalFleet
from gpufleet_devtools.local.paths import LocalPaths
from gpufleet_devtools.local.state import LocalFleetRecord


async def supervise(paths: LocalPaths, options: FleetOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with LocalFleet(paths, options):  # writes state.json while it runs
            await stop.wait()
    except Exception as error:
        LocalFleetRecord(supervisor_pid=os.getpid(), error=str(error)).write(paths.state_file)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpufleet_devtools.local.supervise")
    parser.add_argument("root", type=Path, help="the fleet's state directory (.gpufleet)")
    parser.add_argument("--start-delay", type=float, default=0.0)
    parser.add_argument("--tick", type=float, default=2.0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    options = FleetOptions(tick_seconds=args.tick, start_delay_s=args.start_delay)
    asyncio.run(supervise(LocalPaths(args.root).ensure(), options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
