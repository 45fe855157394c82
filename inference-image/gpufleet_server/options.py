"""Validated server options (the command line's result)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServerOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    model_repository: Path
    host: str = "0.0.0.0"
    http_port: int = Field(default=8000, ge=0, le=65535)
    grpc_port: int = Field(default=8001, ge=0, le=65535)
    metrics_port: int = Field(default=8002, ge=0, le=65535)
    exit_timeout_secs: float = Field(default=30.0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["fp32", "fp16", "bf16"] = "fp32"
    # Unlike Triton (off by default), latency summaries are on: the operator scales on p95.
    summary_latencies: bool = True
