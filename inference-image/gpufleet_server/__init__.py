"""gpufleet-server: the torch runtime, a KServe v2 / Triton-protocol inference server."""

__version__ = "0.1.0"
