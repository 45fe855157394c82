"""The free part of an LLM replica's KV cache, in the order vLLM V1 hands it out again.

With prefix caching (vLLM V1's default) a freed block keeps its contents until it is
handed out again: free blocks go out least recently freed first, and a sequence's blocks
are freed tail first, so its prefix is taken last. A sequence preempted for KV therefore
leaves its prefix in the cache, and readmitted before the others' growth has taken those
blocks, it recomputes only the part that was taken. Without prefix caching nothing freed
is kept: every readmission recomputes the whole sequence.

Kept in tokens, as the replica model holds its KV, not in blocks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

_EPSILON = 1e-9
"""Token counts are floats: a remainder below this is rounding, not tokens."""


@dataclass(slots=True)
class _Run:
    """Tokens freed together; ``owner`` is the request whose prefix they still hold,
    ``None`` for tokens nobody will ask for again."""

    owner: int | None
    tokens: float


class FreeKv:
    """Free KV tokens, least recently freed first; the prefixes preempted sequences left."""

    def __init__(self, tokens: float) -> None:
        self._order: deque[_Run] = deque([_Run(None, float(tokens))])
        """Least recently freed first."""
        self.cached: dict[int, float] = {}
        """Each preempted request's prefix still in the cache, in tokens."""

    def take(self, tokens: float) -> None:
        """Hand out ``tokens`` free tokens: the least recently freed, so a preempted
        request's prefix is lost only once everything freed before it is in use."""
        order = self._order
        while tokens > _EPSILON and order:
            run = order[0]
            if run.tokens <= tokens + _EPSILON:
                order.popleft()
                tokens -= run.tokens
                if run.owner is not None:
                    del self.cached[run.owner]
            else:
                run.tokens -= tokens
                if run.owner is not None:
                    self.cached[run.owner] = run.tokens
                tokens = 0.0

    def give(self, tokens: float, owner: int | None = None, cached: float = 0.0) -> None:
        """``tokens`` freed; the last ``cached`` of them hold ``owner``'s prefix (freed last
        of the sequence, so taken last)."""
        self._append(None, tokens - cached)
        if owner is not None and cached > _EPSILON:
            self._order.append(_Run(owner, cached))
            self.cached[owner] = cached

    def reclaim(self, owner: int, tokens: float) -> None:
        """``owner`` is readmitted and holds ``tokens`` of its cached prefix again; the rest
        of its run (a part block) stays free for anyone."""
        left = self.cached.pop(owner, 0.0) - tokens
        for index, run in enumerate(self._order):
            if run.owner == owner:
                if left > _EPSILON:
                    run.owner, run.tokens = None, left
                else:
                    del self._order[index]
                return

    def forget(self, owner: int) -> None:
        """``owner`` will never be readmitted (it failed): its prefix is anyone's space."""
        if self.cached.pop(owner, None) is None:
            return
        for run in self._order:
            if run.owner == owner:
                run.owner = None
                return

    def _append(self, owner: int | None, tokens: float) -> None:
        if tokens <= _EPSILON:
            return
        order = self._order
        if owner is None and order and order[-1].owner is None:
            order[-1].tokens += tokens
        else:
            order.append(_Run(owner, tokens))
