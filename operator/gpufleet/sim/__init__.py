"""``gpufleet sim``: a trace-driven simulator of a GPU inference fleet and its autoscalers."""
