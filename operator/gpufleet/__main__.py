from gpufleet.cli import app

app(prog_name="gpufleet")
