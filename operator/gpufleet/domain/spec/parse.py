"""Parse a wire ``spec`` at the boundary into the model, naming the offending field."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from gpufleet.domain.spec.deployment import ModelDeploymentSpec
from gpufleet.domain.spec.errors import SpecError


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error's location as a field path: ``runtime.env[0].name``."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(item)
    return ".".join(parts)


# A field's path: ``a.b``, ``a.b[0].c``, ``a.b[0].c[1]``.
_NAMED_FIELD = re.compile(r"^([a-zA-Z]+(?:\.[a-zA-Z]+|\[[0-9]+\])*(?:\.[a-zA-Z]+|\[[0-9]+\]))(: )?")


def parse_spec(raw: dict[str, Any] | None) -> ModelDeploymentSpec:
    """Parse a wire ``spec`` into the model, raising :class:`SpecError` naming the field."""
    from pydantic import ValidationError

    # Strict: a value of the wrong JSON type ("1" for a count, true for a number) is refused
    # as the API server refuses it, not converted; strict enums need JSON input.
    stored = json.dumps(_as_stored(raw or {}), default=str)  # a YAML date as kubectl sends it
    try:
        spec = ModelDeploymentSpec.model_validate_json(stored, strict=True)
    except ValidationError as exc:
        problems = [_problem(tuple(err["loc"]), str(err["msg"])) for err in exc.errors()]
        (path, msg), others = problems[0], tuple(problems[1:])
        raise SpecError(path, msg, others) from exc
    # A file's .inf (or NaN) reaches here as a float: no object the API server holds has
    # one (JSON has no infinity), the bounds let it through and the arithmetic on it
    # breaks. Looked for in the parsed values, whatever their source -- only when the JSON
    # holds one: it writes them as Infinity and NaN, and the operator parses every spec at
    # every tick.
    if "Infinity" in stored or "NaN" in stored:
        wire = spec.model_dump(by_alias=True, exclude_none=True)
        non_finite = [(field_path(loc), _NOT_FINITE) for loc in _non_finite(wire, ())]
        if non_finite:
            (path, msg), others = non_finite[0], tuple(non_finite[1:])
            raise SpecError(path, msg, others)
    return spec


_NOT_FINITE = "Input should be a finite number"


def _non_finite(value: object, loc: tuple[int | str, ...]) -> Iterator[tuple[int | str, ...]]:
    """Where in ``value`` a float is infinite or NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, (*loc, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, (*loc, index))


_FLOAT_INTS = 2**53
"""Beyond this a float64 no longer holds every integer, and the API server takes none."""


def _as_stored(value: Any) -> Any:
    """The spec as the API server stores it. No field of the CRD is nullable, so it drops
    a null field (then defaults it) instead of refusing it; a null list item stays, and
    fails as it does there. A whole float is an integer (1.0 is stored as 1)."""
    if isinstance(value, Mapping):
        return {key: _as_stored(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_as_stored(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) <= _FLOAT_INTS:
        return int(value)
    return value


def _problem(loc: tuple[int | str, ...], msg: str) -> tuple[str, str]:
    """The field a pydantic error is about, and what is wrong with it."""
    path = field_path(loc)
    msg = msg.removeprefix("Value error, ")
    # A rule on an object names the field it is about at the start of its message.
    match = _NAMED_FIELD.match(msg)
    if match and (not path or match.group(1).startswith((path + ".", path + "["))):
        path = match.group(1)
        if match.group(2):
            msg = msg[match.end() :]
    return path, msg
