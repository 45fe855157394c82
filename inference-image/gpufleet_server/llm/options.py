"""What the LLM mode is told on the command line: the model's shape and the engine's limits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpufleet_server.llm.emulated_device import EmulatedDevice


class LlmOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    served_model_name: str = Field(
        default="gpufleet-llm",
        min_length=1,
        description="the name clients put in 'model' and that labels every metric (vLLM's "
        "--served-model-name)",
    )
    max_model_len: int = Field(
        default=2048,
        ge=2,
        description="longest sequence (prompt + generated tokens) one request may have",
    )
    kv_cache_tokens: int = Field(
        default=8192,
        ge=1,
        description="token capacity of the KV cache: the prompt + max_tokens of all running "
        "sequences fit in it; a request that does not fit waits in the queue",
    )
    block_size: int = Field(
        default=16, ge=1, description="KV cache allocation unit in tokens (vLLM's block size)"
    )
    max_num_seqs: int = Field(
        default=64, ge=1, description="most sequences one iteration carries (vLLM's --max-num-seqs)"
    )
    max_num_batched_tokens: int = Field(
        default=2048,
        ge=1,
        description="most tokens one iteration carries (vLLM's --max-num-batched-tokens): a "
        "decode token for each running sequence, the rest chunks of prompts (chunked prefill), "
        "so a long prompt stalls the running sequences' decode for one budget at most",
    )
    num_layers: int = Field(default=6, ge=1, description="transformer layers")
    hidden_size: int = Field(default=384, ge=8, description="model width (d_model)")
    num_heads: int = Field(default=6, ge=1, description="attention heads")
    seed: int = Field(
        default=0, description="seed of the weights and of sampling: same seed, same model"
    )
    emulate_decode_base_ms: float = Field(
        default=0.0,
        ge=0,
        description="emulated device: ms every iteration holds it, whatever it carries (0 and "
        "the two below 0: no emulation, iterations take what the model's compute takes)",
    )
    emulate_decode_ms_per_seq: float = Field(
        default=0.0,
        ge=0,
        description="emulated device: ms added per sequence an iteration decodes",
    )
    emulate_prefill_ms_per_token: float = Field(
        default=0.0, ge=0, description="emulated device: ms added per prompt token prefilled"
    )

    @model_validator(mode="after")
    def _consistent(self) -> LlmOptions:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_heads "
                f"({self.num_heads})"
            )
        if self.max_model_len > self.num_blocks * self.block_size:
            raise ValueError(
                f"max_model_len ({self.max_model_len}) exceeds the KV cache's capacity "
                f"({self.num_blocks} blocks of {self.block_size} tokens): a request of maximal "
                "length could never be admitted"
            )
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise ValueError(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be at least "
                f"max_num_seqs ({self.max_num_seqs}): one iteration decodes a token for every "
                "running sequence"
            )
        return self

    @property
    def emulated_device(self) -> EmulatedDevice | None:
        costs = (
            self.emulate_decode_base_ms,
            self.emulate_decode_ms_per_seq,
            self.emulate_prefill_ms_per_token,
        )
        return EmulatedDevice(*costs) if any(costs) else None

    @property
    def num_blocks(self) -> int:
        return self.kv_cache_tokens // self.block_size
