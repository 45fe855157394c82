"""The subset of Kubernetes JSONPath used by ``additionalPrinterColumns``.

Supported steps: ``.field``, ``['field']``, ``[N]``, ``[*]``, ``..`` is not, and filters
``[?(@.a.b == "x")]`` / ``!=`` / ``<`` / ``>`` against a string, number or boolean literal.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

Step = Callable[[Any], list[Any]]

_FILTER_RE = re.compile(
    r"""^\?\(@((?:\.[\w-]+)*)\s*(==|!=|<=|>=|<|>)\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^)\s]+)\s*\)$"""
)
_EXISTS_FILTER_RE = re.compile(r"^\?\(@((?:\.[\w-]+)+)\)$")


def _field(name: str) -> Step:
    return lambda value: [value[name]] if isinstance(value, dict) and name in value else []


def _index(index: int) -> Step:
    def step(value: Any) -> list[Any]:
        if isinstance(value, list) and -len(value) <= index < len(value):
            return [value[index]]
        return []

    return step


def _wildcard(value: Any) -> list[Any]:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return list(value.values())
    return []


def _lookup(value: Any, dotted: str) -> list[Any]:
    values = [value]
    for name in [part for part in dotted.split(".") if part]:
        values = [found for item in values for found in _field(name)(item)]
    return values


def _literal(text: str) -> Any:
    if text[0] == "'" and text[-1] == "'":
        return text[1:-1]
    return json.loads(text)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    ">": lambda a, b: bool(a > b),
    "<=": lambda a, b: bool(a <= b),
    ">=": lambda a, b: bool(a >= b),
}


def _filter(expression: str) -> Step:
    if match := _EXISTS_FILTER_RE.match(expression):
        dotted = match.group(1)
        return lambda value: [item for item in _wildcard(value) if _lookup(item, dotted)]
    match = _FILTER_RE.match(expression)
    if match is None:
        raise ValueError(f"unsupported JSONPath filter: {expression}")
    dotted, operator, literal = match.groups()
    expected, compare = _literal(literal), _COMPARE[operator]

    def step(value: Any) -> list[Any]:
        result = []
        for item in _wildcard(value):
            found = _lookup(item, dotted)
            try:
                if found and compare(found[0], expected):
                    result.append(item)
            except TypeError:  # comparing unlike types: the item does not match
                pass
        return result

    return step


def _bracket(content: str) -> Step:
    content = content.strip()
    if content == "*":
        return _wildcard
    if content.startswith("?"):
        return _filter(content)
    if content[:1] in "'\"":
        return _field(content[1:-1])
    return _index(int(content))


@functools.lru_cache(maxsize=256)
def compile_path(path: str) -> tuple[Step, ...]:
    """Parse ``.a.b[0].c[?(@.type=="Ready")].status`` (braces ``{...}`` allowed)."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    text = text.removeprefix("$")
    steps: list[Step] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == ".":
            match = re.compile(r"\.([\w-]+)").match(text, position)
            if match is None:
                raise ValueError(f"unsupported JSONPath: {path}")
            steps.append(_field(match.group(1)))
            position = match.end()
        elif char == "[":
            end = _closing_bracket(text, position)
            steps.append(_bracket(text[position + 1 : end]))
            position = end + 1
        else:
            raise ValueError(f"unsupported JSONPath: {path}")
    return tuple(steps)


def _closing_bracket(text: str, start: int) -> int:
    depth, quote = 0, ""
    for position in range(start, len(text)):
        char = text[position]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return position
    raise ValueError(f"unbalanced brackets in JSONPath: {text}")


def find(obj: Any, path: str) -> list[Any]:
    values = [obj]
    for step in compile_path(path):
        values = [found for value in values for found in step(value)]
    return values
