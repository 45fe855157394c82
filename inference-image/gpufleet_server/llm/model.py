"""A small GPT-style causal transformer whose attention reads and writes a paged KV cache.

Weights are drawn from a seed: the serving loop needs the compute profile of a transformer
(prefill cost growing with the prompt, decode steps whose cost barely grows with the batch),
not meaningful text.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelShape:
    vocab_size: int
    max_positions: int
    num_layers: int
    hidden_size: int
    num_heads: int

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass(frozen=True)
class AttentionLayout:
    """Where one forward pass reads and writes the KV cache, for a batch of B sequences each
    bringing up to T new tokens and attending to up to S tokens of context."""

    write_slots: torch.Tensor  # (N,) cache slots of the N real (unpadded) new tokens
    new_token_valid: torch.Tensor  # (B, T) bool: which new-token entries are real
    context_slots: torch.Tensor  # (B, S) cache slots of each sequence's context, padded
    mask: torch.Tensor  # (B, 1, T, S) bool: query t may attend to context position s


class Block(nn.Module):
    def __init__(self, shape: ModelShape) -> None:
        super().__init__()
        self.shape = shape
        hidden = shape.hidden_size
        self.attention_norm = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attention_out = nn.Linear(hidden, hidden)
        self.mlp_norm = nn.LayerNorm(hidden)
        self.mlp_in = nn.Linear(hidden, 4 * hidden)
        self.mlp_out = nn.Linear(4 * hidden, hidden)

    def forward(
        self,
        x: torch.Tensor,
        layout: AttentionLayout,
        key_cache: torch.Tensor,
        value_cache: torch.Tensor,
    ) -> torch.Tensor:
        batch, new_tokens, hidden = x.shape
        heads, head_dim = self.shape.num_heads, self.shape.head_dim
        q, k, v = (
            self.qkv(self.attention_norm(x)).view(batch, new_tokens, 3, heads, head_dim).unbind(2)
        )
        # The new tokens' keys and values enter the cache first, so a sequence's queries see
        # them in the same pass (prefill attends within the prompt, decode to itself).
        key_cache[layout.write_slots] = k[layout.new_token_valid]
        value_cache[layout.write_slots] = v[layout.new_token_valid]
        keys = key_cache[layout.context_slots].transpose(1, 2)  # (B, H, S, D)
        values = value_cache[layout.context_slots].transpose(1, 2)
        attended = F.scaled_dot_product_attention(
            q.transpose(1, 2), keys, values, attn_mask=layout.mask
        )
        x = x + self.attention_out(attended.transpose(1, 2).reshape(batch, new_tokens, hidden))
        out: torch.Tensor = x + self.mlp_out(F.gelu(self.mlp_in(self.mlp_norm(x))))
        return out


class TinyCausalLM(nn.Module):
    def __init__(self, shape: ModelShape, seed: int) -> None:
        super().__init__()
        self.shape = shape
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.token_embedding = nn.Embedding(shape.vocab_size, shape.hidden_size)
            self.position_embedding = nn.Embedding(shape.max_positions, shape.hidden_size)
            self.blocks = nn.ModuleList(Block(shape) for _ in range(shape.num_layers))
            self.final_norm = nn.LayerNorm(shape.hidden_size)
            # GPT-2's initialisation: with torch's default N(0, 1) embeddings the tied output
            # projection gives logits so peaked that sampling repeats one character forever.
            for module in self.modules():
                if isinstance(module, nn.Linear | nn.Embedding):
                    nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if isinstance(module, nn.Linear):
                    nn.init.zeros_(module.bias)

    def forward(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        last_index: torch.Tensor,
        layout: AttentionLayout,
        key_caches: torch.Tensor,
        value_caches: torch.Tensor,
    ) -> torch.Tensor:
        """Logits (B, vocab) after each sequence's last new token."""
        x = self.token_embedding(tokens) + self.position_embedding(positions)
        for index, block in enumerate(self.blocks):
            x = block(x, layout, key_caches[index], value_caches[index])
        last = x[torch.arange(x.shape[0], device=x.device), last_index]
        # The output projection is the token embedding, transposed (weight tying, as in GPT-2).
        logits: torch.Tensor = F.linear(self.final_norm(last), self.token_embedding.weight)
        return logits
