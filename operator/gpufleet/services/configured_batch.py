"""The largest batch each ModelDeployment's server is configured for, read from a pod.

The capacity model needs the most requests one execution serves; the metrics give only
the mean batch. Triton's model configuration states the bound, so the operator asks a
ready pod (``GET /v2/models/{model}/config``) and hands the answer to the policy.

A scaling tick never waits on a pod: the read runs in the background and the tick uses
what is known (``None`` until a read succeeds: the spec's ``model.maxBatchSize``, else
the policy's belief, stands in). A failed read (a NetworkPolicy that keeps the operator
out, a pod that went away) is retried every ``retry_s``; an answer is read again every
``refresh_s`` and whenever the spec's model or runtime changes (a rollout may change
the model's configuration).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpufleet.domain.model_config import largest_batch, serves_model_config
from gpufleet.domain.spec import ModelDeploymentSpec
from gpufleet.modelserver.config import ModelConfigError, read_model_config

log = logging.getLogger(__name__)

ReadConfig = Callable[[str, str, float], Awaitable[dict[str, Any]]]

READ_TIMEOUT_S = 2.0
"""A model server answers its configuration at once; longer is a network that drops."""
RETRY_S = 60.0
REFRESH_S = 600.0


@dataclass(slots=True)
class _Entry:
    key: str
    value: int | None = None
    read_at: float = float("-inf")
    """When the last read ended (successful or not)."""
    answered: bool = False
    """Whether a pod answered with a configuration (which may still state no bound)."""
    error: str | None = None
    reading: asyncio.Task[None] | None = field(default=None, repr=False)


def _config_key(spec: ModelDeploymentSpec) -> str:
    """What, changed, may change the model's configuration."""
    return spec.model.model_dump_json() + spec.runtime.model_dump_json()


class ConfiguredBatches:
    """Per ModelDeployment uid, the largest batch its server says it forms."""

    def __init__(
        self,
        read: ReadConfig = read_model_config,
        clock: Callable[[], float] = time.monotonic,
        retry_s: float = RETRY_S,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self._read = read
        self._clock = clock
        self._retry_s = retry_s
        self._refresh_s = refresh_s
        self._entries: dict[str, _Entry] = {}

    def largest_batch(
        self, uid: str, spec: ModelDeploymentSpec, addresses: Sequence[str]
    ) -> int | None:
        """What is known now; starts a read from one of ``addresses`` (the ready pods'
        HTTP ``host:port``) when one is due. ``None``: not known (yet), or the runtime has
        no model configuration to read."""
        if not serves_model_config(spec.runtime):
            self.forget(uid)
            return None
        key = _config_key(spec)
        entry = self._entries.get(uid)
        if entry is None or entry.key != key:
            if entry is not None and entry.reading is not None:
                entry.reading.cancel()
            entry = self._entries[uid] = _Entry(key)
        since = self._clock() - entry.read_at
        due = since >= (self._refresh_s if entry.answered else self._retry_s)
        if due and addresses and entry.reading is None:
            # Pods are tried in turn across reads: one that does not answer is not asked
            # every time.
            address = sorted(addresses)[int(self._clock() // self._retry_s) % len(addresses)]
            entry.reading = asyncio.ensure_future(self._refresh(entry, address, spec.model.name))
        return entry.value

    async def _refresh(self, entry: _Entry, address: str, model: str) -> None:
        try:
            config = await self._read(address, model, READ_TIMEOUT_S)
        except ModelConfigError as exc:
            if entry.error is None:
                log.warning(
                    f"could not read model {model!r}'s configuration from {address}, "
                    f"will retry every {self._retry_s:.0f} s: {exc}"
                )
            entry.error = str(exc)
        else:
            value = largest_batch(config)
            if value != entry.value:
                log.info(f"model {model!r} is configured for batches of up to {value} requests")
            entry.value, entry.error, entry.answered = value, None, True
        finally:
            entry.read_at = self._clock()
            entry.reading = None

    def forget(self, uid: str) -> None:
        entry = self._entries.pop(uid, None)
        if entry is not None and entry.reading is not None:
            entry.reading.cancel()
