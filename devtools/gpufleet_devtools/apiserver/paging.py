"""``limit``/``continue`` paging of lists (kopf and kubectl list in chunks)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from gpufleet_devtools.apiserver.errors import JsonDict, bad_request


@dataclass(frozen=True)
class Page:
    items: list[JsonDict]
    continue_token: str = ""  # empty on the last page, as the API server answers
    remaining: int = 0


def _key(obj: JsonDict) -> tuple[str, str]:
    return (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def _encode(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode(token: str) -> tuple[str, str]:
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise bad_request(f"invalid continue token: {token!r}") from exc
    return str(namespace), str(name)


def paginate(ordered: list[JsonDict], limit: str | None, token: str | None) -> Page:
    """One page of objects sorted by (namespace, name); the token names the last one sent.

    Unlike a real server, later pages show the current state rather than a snapshot taken
    at the first page.
    """
    items = ordered
    if token:
        after = _decode(token)
        items = [obj for obj in items if _key(obj) > after]
    size = int(limit or 0)
    if 0 < size < len(items):
        return Page(items[:size], _encode(_key(items[size - 1])), len(items) - size)
    return Page(items)
