"""The fullest pod's KV-cache usage, read from the fleet's Prometheus (what the operator reads)."""

from __future__ import annotations

import logging

import aiohttp

from gpufleet_devtools.local.timeline import KvProbe

log = logging.getLogger(__name__)
QUERY_TIMEOUT_S = 2.0


def kv_usage_probe(prometheus_url: str, namespace: str, modeldeployment: str) -> KvProbe:
    """Each call: ``max(vllm:kv_cache_usage_perc)`` over the ModelDeployment's pods, or None
    when Prometheus has no such series (no pod scraped yet) or does not answer."""
    selector = f'namespace="{namespace}",modeldeployment="{modeldeployment}"'
    query = f"max(vllm:kv_cache_usage_perc{{{selector}}})"

    async def probe() -> float | None:
        timeout = aiohttp.ClientTimeout(total=QUERY_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"{prometheus_url}/api/v1/query", params={"query": query}) as reply,
            ):
                result = (await reply.json())["data"]["result"]
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as error:
            log.debug("KV usage query failed: %s", error)
            return None
        return float(result[0]["value"][1]) if result else None

    return probe
