"""``python -m gpufleet.sim``: the simulator's command line until ``gpufleet sim`` is mounted."""

from gpufleet.sim.cli import app

app(prog_name="gpufleet sim")
