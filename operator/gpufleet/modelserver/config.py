"""``GET /v2/models/{model}/config`` of one pod: Triton's model configuration extension,
which gpufleet-server serves alike."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp


class ModelConfigError(Exception):
    """The pod did not answer with a model configuration (refused, timed out, not JSON)."""


async def read_model_config(address: str, model: str, timeout_s: float) -> dict[str, Any]:
    """The configuration of ``model`` served at ``address`` (``host:port`` of the HTTP port)."""
    url = f"http://{address}/v2/models/{quote(model, safe='')}/config"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
            session.get(url) as response,
        ):
            if response.status != 200:
                raise ModelConfigError(f"{url} answered HTTP {response.status}")
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ModelConfigError(f"{url}: {exc or type(exc).__name__}") from exc
    if not isinstance(body, dict):
        raise ModelConfigError(f"{url} answered {type(body).__name__}, not a configuration")
    return body
