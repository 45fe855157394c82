"""gpufleet-server: the torch runtime, a KServe v2 / Triton-protocol inference server."""
