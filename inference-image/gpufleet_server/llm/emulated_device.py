"""An emulated accelerator: each iteration holds the "device" for a modelled time.

On a GPU node an iteration launches kernels and the host thread waits for them, so the
CPU is free meanwhile and N replicas on N GPUs serve N times what one does. A machine
with a few cores and no GPU cannot show that with a model that computes on the CPU.
With an emulated device, an iteration lasts at least
``decode_base_ms + decode_ms_per_seq * decoding sequences + prefill_ms_per_token * prompt
tokens``
(the cost model of ``gpufleet sim``'s LLM replica): the model still runs (a small one
costs little), and the rest of that time is spent waiting with the GIL released, as a
host thread waits on a CUDA stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EmulatedDevice:
    decode_base_ms: float
    decode_ms_per_seq: float
    prefill_ms_per_token: float

    def iteration_s(self, decoding: int, prompt_tokens: int) -> float:
        """How long one iteration holds the device (seconds)."""
        ms = (
            self.decode_base_ms
            + self.decode_ms_per_seq * decoding
            + self.prefill_ms_per_token * prompt_tokens
        )
        return ms / 1000.0

    def hold(self, started: float, decoding: int, prompt_tokens: int) -> None:
        """Wait until the iteration begun at ``started`` (time.monotonic) has taken its time."""
        remaining = started + self.iteration_s(decoding, prompt_tokens) - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
