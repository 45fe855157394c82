"""Server-managed metadata: names, uids, timestamps, generations."""

from __future__ import annotations

import datetime
import random
import re
import uuid
from typing import Any

from gpufleet_devtools.apiserver.errors import Cause, JsonDict

# Kept by the server across writes; clients cannot change them.
SYSTEM_FIELDS = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# The alphabet of the API server's generateName suffixes (no vowels, no look-alikes).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def timestamp(moment: datetime.datetime | None = None) -> str:
    moment = moment or datetime.datetime.now(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    return prefix + "".join(random.choices(_SUFFIX_ALPHABET, k=5))


def name_causes(name: Any) -> list[Cause]:
    if not name:
        return [
            Cause(
                "metadata.name",
                "Required value: name or generateName is required",
                "FieldValueRequired",
            )
        ]
    if not isinstance(name, str) or len(name) > 253 or not _NAME_RE.match(name):
        return [
            Cause(
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                "lower case alphanumeric characters, '-' or '.', and must start and end with "
                "an alphanumeric character",
            )
        ]
    return []


def carry_system_fields(new_meta: JsonDict, old_meta: JsonDict) -> JsonDict:
    """The new metadata with the server-owned fields of the old one restored."""
    result = {k: v for k, v in new_meta.items() if k not in SYSTEM_FIELDS}
    for key in SYSTEM_FIELDS:
        if key in old_meta:
            result[key] = old_meta[key]
    return result
