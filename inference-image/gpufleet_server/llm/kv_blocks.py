"""The KV cache's bookkeeping: which fixed-size blocks of token slots each sequence holds.

The tensors themselves live in the model runner; this only hands out and takes back block
numbers, so admission decisions never touch the device.

A freed block keeps its contents until it is handed out again, as with vLLM V1's prefix
caching (on by default): free blocks go out least recently freed first, and a preempted
sequence's blocks are freed tail first, so its prefix is taken last. Readmitted, the
sequence takes back the part of its prefix still there and recomputes only the rest.
"""

from __future__ import annotations

from collections import OrderedDict


def blocks_for(tokens: int, block_size: int) -> int:
    return -(-tokens // block_size)


class BlockAllocator:
    def __init__(self, num_blocks: int) -> None:
        self.num_blocks = num_blocks
        self._free: OrderedDict[int, None] = OrderedDict.fromkeys(range(num_blocks))
        """Free blocks, least recently freed first."""
        self._kept: dict[int, list[int]] = {}
        """For each preempted sequence, the free blocks still holding its prefix, in order."""
        self._keeper: dict[int, int] = {}
        """The sequence whose prefix each of those blocks holds."""

    @property
    def free_blocks(self) -> int:
        """Blocks free, a preempted sequence's kept prefix included (handed out when needed)."""
        return len(self._free)

    @property
    def usage(self) -> float:
        """Fraction of the blocks held by sequences (vLLM's kv_cache_usage_perc, 1 = full)."""
        return 1.0 - len(self._free) / self.num_blocks

    def allocate(self, count: int) -> list[int]:
        if count > len(self._free):
            raise RuntimeError(f"asked for {count} KV blocks, {len(self._free)} free")
        taken = []
        for _ in range(count):
            block, _ = self._free.popitem(last=False)
            keeper = self._keeper.pop(block, None)
            if keeper is not None:
                self._cut(keeper, block)
            taken.append(block)
        return taken

    def release(self, blocks: list[int]) -> None:
        """Blocks nobody will ask for again."""
        for block in blocks:
            self._free[block] = None

    def keep(self, sequence: int, prefix: list[int]) -> None:
        """Free ``prefix``, the blocks of ``sequence``'s first tokens, tail first, keeping
        their contents for ``sequence`` until they are handed out."""
        for block in reversed(prefix):
            self._free[block] = None
            self._keeper[block] = sequence
        if prefix:
            self._kept[sequence] = list(prefix)

    def kept(self, sequence: int) -> int:
        """Blocks of ``sequence``'s prefix still in the cache."""
        return len(self._kept.get(sequence, ()))

    def reclaim(self, sequence: int, count: int) -> list[int]:
        """The first ``count`` blocks of ``sequence``'s kept prefix, held again; the rest
        of it is anyone's."""
        prefix = self._kept.pop(sequence, [])
        for block in prefix:
            del self._keeper[block]
        for block in prefix[:count]:
            del self._free[block]
        return prefix[:count]

    def forget(self, sequence: int) -> None:
        """``sequence`` will not be readmitted: its kept prefix is anyone's."""
        for block in self._kept.pop(sequence, []):
            del self._keeper[block]

    def _cut(self, sequence: int, block: int) -> None:
        """``block`` of ``sequence``'s prefix was handed out: the prefix ends before it."""
        prefix = self._kept[sequence]
        at = prefix.index(block)
        for later in prefix[at + 1 :]:
            del self._keeper[later]
        del prefix[at:]
        if not prefix:
            del self._kept[sequence]
