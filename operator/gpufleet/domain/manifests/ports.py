"""The three ports every runtime serves (Triton's defaults; the torch runtime mirrors them)."""

HTTP_PORT = 8000
GRPC_PORT = 8001
METRICS_PORT = 8002
