"""Helpers for tests and benchmarks: example models, and the server run as a subprocess."""
