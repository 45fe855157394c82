"""Generated tokens to text deltas, with OpenAI's stop sequences: text that may be the start of
a stop sequence is held back until it cannot be, and a matched stop sequence is never sent."""

from __future__ import annotations

from collections.abc import Sequence

from gpufleet_server.llm.tokenizer import decode


def ends_with_stop(token_ids: Sequence[int], stop: Sequence[str]) -> bool:
    """Whether the generated tokens end with one of the stop sequences (checked after every
    token, so a match is found at the token that completes it)."""
    if not stop:
        return False
    tail = decode(list(token_ids[-max(len(s.encode()) for s in stop) :]))
    return any(tail.endswith(s) for s in stop)


class StopText:
    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = tuple(stop)
        self._pending = ""

    def _held(self) -> int:
        """Length of the longest end of the pending text that begins a stop sequence."""
        longest = 0
        for sequence in self.stop:
            for size in range(min(len(sequence), len(self._pending)), longest, -1):
                if self._pending.endswith(sequence[:size]):
                    longest = size
                    break
        return longest

    def push(self, token_id: int) -> str:
        """The text that can be sent now that this token arrived."""
        self._pending += decode([token_id])
        ready = len(self._pending) - self._held()
        text, self._pending = self._pending[:ready], self._pending[ready:]
        return text

    def finish(self, reason: str) -> str:
        """The held-back text still due at the end (without the stop sequence that ended it)."""
        text, self._pending = self._pending, ""
        if reason == "stop":
            matched = max((s for s in self.stop if text.endswith(s)), key=len, default="")
            text = text[: len(text) - len(matched)]
        return text

    def delta(self, token_id: int | None, finish_reason: str | None) -> str:
        """The text one token event adds; held-back text is released at the finish."""
        text = "" if token_id is None else self.push(token_id)
        return text + (self.finish(finish_reason) if finish_reason is not None else "")
