"""The LLM mode's KV block bookkeeping: freed blocks keep their contents until handed out
again, least recently freed first, so a preempted sequence's prefix goes last."""

from __future__ import annotations

from gpufleet_server.llm.kv_blocks import BlockAllocator


def test_a_preempted_prefix_is_handed_out_last_and_its_tail_first() -> None:
    cache = BlockAllocator(6)
    first, preempted = cache.allocate(2), cache.allocate(3)
    cache.keep(7, preempted)  # preempted: its 3 blocks freed, kept for it
    cache.release(first)  # a sequence finished after it
    assert (cache.free_blocks, cache.kept(7)) == (6, 3)
    # The never-used block goes first, then the preempted prefix from its tail, and the
    # blocks freed after it only then.
    assert cache.allocate(1) == [b for b in range(6) if b not in first + preempted]
    assert cache.allocate(1) == [preempted[2]]
    assert cache.kept(7) == 2
    assert cache.allocate(1) == [preempted[1]]
    assert cache.kept(7) == 1
    # Readmitted: it holds its first block again; the rest is anyone's.
    assert cache.reclaim(7, 1) == [preempted[0]]
    assert (cache.kept(7), cache.free_blocks) == (0, 2)


def test_a_readmitted_sequence_takes_back_only_what_it_asks_for() -> None:
    cache = BlockAllocator(4)
    blocks = cache.allocate(3)
    cache.keep(1, blocks)
    assert cache.reclaim(1, 2) == blocks[:2]
    # Its third block is free and no longer its: handing it out cuts no prefix.
    assert cache.kept(1) == 0
    assert sorted(cache.allocate(2)) == sorted([blocks[2], *set(range(4)) - set(blocks)])


def test_a_sequence_that_will_not_return_leaves_its_blocks_free_for_anyone() -> None:
    cache = BlockAllocator(3)
    blocks = cache.allocate(3)
    cache.keep(5, blocks)
    cache.forget(5)
    assert (cache.kept(5), cache.free_blocks, cache.usage) == (0, 3, 0.0)
    assert sorted(cache.allocate(3)) == sorted(blocks)
