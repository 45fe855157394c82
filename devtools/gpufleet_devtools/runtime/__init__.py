"""The torch runtime (gpufleet-server) under test: example models, the server as a
subprocess, an LLM streaming client -- for tests and benchmarks, not the image."""
