"""Parse a wire ``spec`` at the boundary into the model, naming the offending field."""

from __future__ import annotations

import re
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


_NAMED_FIELD = re.compile(r"^([a-zA-Z]+(?:\.[a-zA-Z]+)+)(: )?")


def parse_spec(raw: dict[str, Any] | None) -> ModelDeploymentSpec:
    """Parse a wire ``spec`` into the model, raising :class:`SpecError` naming the field."""
    from pydantic import ValidationError

    try:
        return ModelDeploymentSpec.model_validate(_without_nulls(raw or {}))
    except ValidationError as exc:
        problems = [_problem(tuple(err["loc"]), str(err["msg"])) for err in exc.errors()]
        (path, msg), others = problems[0], tuple(problems[1:])
        raise SpecError(path, msg, others) from exc


def _without_nulls(value: Any) -> Any:
    """The spec as the API server stores it: no field of the CRD is nullable, so it drops
    a null field (then defaults it) instead of refusing it; a null list item stays, and
    fails as it does there."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _problem(loc: tuple[int | str, ...], msg: str) -> tuple[str, str]:
    """The field a pydantic error is about, and what is wrong with it."""
    path = field_path(loc)
    msg = msg.removeprefix("Value error, ")
    # A rule on an object names the field it is about at the start of its message.
    match = _NAMED_FIELD.match(msg)
    if match and (not path or match.group(1).startswith(path + ".")):
        path = match.group(1)
        if match.group(2):
            msg = msg[match.end() :]
    return path, msg
