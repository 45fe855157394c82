"""Runs one batch of sequences through the model on the device: lays out where each token's
keys and values go in the paged KV cache, runs the forward pass, picks the next tokens.

Called from the engine's worker thread, one call at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gpufleet_server.llm.model import AttentionLayout, ModelShape, TinyCausalLM
from gpufleet_server.llm.options import LlmOptions
from gpufleet_server.llm.tokenizer import GENERATED_TOKEN_IDS, VOCAB_SIZE


@dataclass(frozen=True)
class Sampling:
    """How a sequence picks its next token: greedy at temperature 0; otherwise a sample from
    the softmax of logits/temperature restricted to the ``top_k`` likeliest tokens (0: all),
    then to the smallest set whose probability reaches ``top_p`` (vLLM's order). A ``seed``
    makes the sample a function of the seed and the position alone, so the same request
    gives the same text whatever it is batched, chunked or preempted with."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None

    @property
    def filters(self) -> bool:
        return self.top_k > 0 or self.top_p < 1.0


@dataclass(frozen=True)
class StepInput:
    """One sequence's part of a forward pass: its new tokens (the whole prompt at prefill, the
    last generated token at decode) starting at position ``start``."""

    new_tokens: Sequence[int]
    start: int
    blocks: Sequence[int]
    sampling: Sampling

    @property
    def length(self) -> int:
        return self.start + len(self.new_tokens)


class ModelRunner:
    def __init__(self, options: LlmOptions, device: torch.device, dtype: torch.dtype) -> None:
        self.device = device
        self.block_size = options.block_size
        shape = ModelShape(
            vocab_size=VOCAB_SIZE,
            max_positions=options.max_model_len,
            num_layers=options.num_layers,
            hidden_size=options.hidden_size,
            num_heads=options.num_heads,
        )
        self.model = TinyCausalLM(shape, options.seed).to(device=device, dtype=dtype).eval()
        cache_shape = (
            shape.num_layers,
            options.num_blocks * options.block_size,
            shape.num_heads,
            shape.head_dim,
        )
        self.key_caches = torch.zeros(cache_shape, device=device, dtype=dtype)
        self.value_caches = torch.zeros(cache_shape, device=device, dtype=dtype)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(options.seed)
        # Added to the logits: tokens that may not be generated get -inf.
        self.logit_bias = torch.full((VOCAB_SIZE,), float("-inf"), device=device)
        self.logit_bias[list(GENERATED_TOKEN_IDS)] = 0.0

    def _layout(self, batch: Sequence[StepInput]) -> tuple[torch.Tensor, ...]:
        bs = self.block_size
        new_len = torch.tensor([len(item.new_tokens) for item in batch])
        start = torch.tensor([item.start for item in batch])
        lengths = start + new_len
        width, context = int(new_len.max()), int(lengths.max())
        tokens = torch.zeros((len(batch), width), dtype=torch.long)
        for row, item in enumerate(batch):
            tokens[row, : len(item.new_tokens)] = torch.tensor(item.new_tokens)
        offsets = torch.arange(width)
        valid = offsets[None, :] < new_len[:, None]
        # Padding entries repeat the sequence's last position: their causal mask is then never
        # empty (no NaN) and they are not written to the cache.
        positions = torch.minimum(start[:, None] + offsets[None, :], (lengths - 1)[:, None])
        blocks_needed = -(-context // bs)
        table = torch.zeros((len(batch), blocks_needed), dtype=torch.long)
        for row, item in enumerate(batch):
            used = list(item.blocks[: -(-item.length // bs)])
            table[row, : len(used)] = torch.tensor(used)
        context_positions = torch.arange(context)
        context_slots = table[:, context_positions // bs] * bs + context_positions % bs
        new_slots = table.gather(1, positions // bs) * bs + positions % bs
        key_valid = context_positions[None, :] < lengths[:, None]
        mask = (context_positions[None, None, :] <= positions[:, :, None]) & key_valid[:, None, :]
        return tokens, positions, new_len - 1, new_slots[valid], valid, context_slots, mask

    def run(self, batch: Sequence[StepInput]) -> list[int]:
        """The next token of every sequence in the batch."""
        if not batch:
            return []
        tensors = [t.to(self.device, non_blocking=True) for t in self._layout(batch)]
        tokens, positions, last_index, write_slots, valid, context_slots, mask = tensors
        layout = AttentionLayout(write_slots, valid, context_slots, mask[:, None])
        with torch.inference_mode():
            logits = self.model(
                tokens, positions, last_index, layout, self.key_caches, self.value_caches
            )
            logits = logits.float() + self.logit_bias
            chosen = logits.argmax(dim=-1)
            temperatures = torch.tensor(
                [item.sampling.temperature for item in batch], device=self.device
            )
            if bool((temperatures > 0).any()):
                # Gumbel-max: the argmax of logits/T plus Gumbel noise is a sample from
                # softmax(logits/T), without torch.multinomial's per-row cumulative sums.
                uniform = self._uniform(batch, logits.shape).clamp_(min=1e-20)
                gumbel = -torch.log(-torch.log(uniform))
                scaled = logits / temperatures.clamp(min=1e-4)[:, None]
                if any(item.sampling.filters for item in batch):
                    scaled = self._filtered(batch, scaled)
                chosen = torch.where(temperatures > 0, (scaled + gumbel).argmax(dim=-1), chosen)
            return [int(token) for token in chosen.tolist()]

    def _uniform(self, batch: Sequence[StepInput], shape: torch.Size) -> torch.Tensor:
        uniform = torch.rand(shape, device=self.device, generator=self.generator)
        for row, item in enumerate(batch):
            seed = item.sampling.seed
            if seed is not None:
                # Seeded by (seed, position of the token drawn): no state carried between
                # steps, so a discarded draw (a prompt chunk before the last) shifts nothing.
                generator = torch.Generator(device=self.device)
                generator.manual_seed(hash((seed, item.length)) & 0xFFFF_FFFF_FFFF_FFFF)
                uniform[row] = torch.rand(shape[-1], device=self.device, generator=generator)
        return uniform

    def _filtered(self, batch: Sequence[StepInput], scaled: torch.Tensor) -> torch.Tensor:
        """The logits with the tokens outside each row's top-k, then top-p, set to -inf."""
        vocab = scaled.shape[-1]
        top_k = torch.tensor([item.sampling.top_k or vocab for item in batch], device=self.device)
        top_p = torch.tensor([item.sampling.top_p for item in batch], device=self.device)
        ordered, order = scaled.sort(dim=-1, descending=True)
        ranks = torch.arange(vocab, device=self.device)
        ordered = ordered.masked_fill(ranks[None, :] >= top_k[:, None], float("-inf"))
        probabilities = ordered.softmax(dim=-1)
        # A token stays while the likelier ones hold less than top_p: the first always does.
        before = probabilities.cumsum(dim=-1) - probabilities
        ordered = ordered.masked_fill(before >= top_p[:, None], float("-inf"))
        return torch.full_like(scaled, float("-inf")).scatter(-1, order, ordered)

    def warm_up(self) -> None:
        """A prefill and a decode step on scratch slots before the server reports ready
        (allocates, loads kernels, fails fast on a broken device)."""
        blocks = list(range(-(-2 // self.block_size)))  # two tokens always fit (max_model_len >= 2)
        first = self.run([StepInput([ord("a")], 0, blocks, Sampling(temperature=0.0))])
        self.run([StepInput(first, 1, blocks, Sampling(top_k=2, top_p=0.9, seed=0))])
