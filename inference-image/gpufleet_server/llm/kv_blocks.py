"""The KV cache's bookkeeping: which fixed-size blocks of token slots each sequence holds.

The tensors themselves live in the model runner; this only hands out and takes back block
numbers, so admission decisions never touch the device.
"""

from __future__ import annotations


def blocks_for(tokens: int, block_size: int) -> int:
    return -(-tokens // block_size)


class BlockAllocator:
    def __init__(self, num_blocks: int) -> None:
        self.num_blocks = num_blocks
        self._free = list(range(num_blocks - 1, -1, -1))

    @property
    def free_blocks(self) -> int:
        return len(self._free)

    @property
    def usage(self) -> float:
        """Fraction of the blocks held by sequences (vLLM's kv_cache_usage_perc, 1 = full)."""
        return 1.0 - len(self._free) / self.num_blocks

    def allocate(self, count: int) -> list[int]:
        if count > len(self._free):
            raise RuntimeError(f"asked for {count} KV blocks, {len(self._free)} free")
        taken = self._free[-count:] if count else []
        del self._free[len(self._free) - count :]
        return taken

    def release(self, blocks: list[int]) -> None:
        self._free.extend(blocks)
