"""Validated server options (the command line's result)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpufleet_server.llm.options import LlmOptions


class ServerOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    # "triton": the models of a Triton-layout repository behind Triton's protocols and metrics;
    # "llm": one generative model behind OpenAI's API and Triton's generate extension, with
    # vLLM's metrics (then ``llm`` holds its settings).
    mode: Literal["triton", "llm"] = "triton"
    model_repository: Path | None = None
    llm: LlmOptions | None = None
    host: str = "0.0.0.0"
    http_port: int = Field(default=8000, ge=0, le=65535)
    grpc_port: int = Field(default=8001, ge=0, le=65535)
    metrics_port: int = Field(default=8002, ge=0, le=65535)
    exit_timeout_secs: float = Field(default=30.0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["fp32", "fp16", "bf16"] = "fp32"
    # Unlike Triton (off by default), latency summaries are on: the operator scales on p95.
    summary_latencies: bool = True

    @model_validator(mode="after")
    def _mode_has_its_settings(self) -> ServerOptions:
        if self.mode == "triton" and self.model_repository is None:
            raise ValueError("--model-repository is required (unless --mode llm)")
        if self.mode == "llm" and self.llm is None:
            raise ValueError("--mode llm needs its LLM settings")
        return self
