"""Label and field selectors as the API server parses them for list and watch."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from gpufleet_devtools.apiserver.errors import JsonDict, bad_request

Predicate = Callable[[JsonDict], bool]

_SET_RE = re.compile(r"^\s*([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_CMP_RE = re.compile(r"^\s*([^\s!=,()]+)\s*(==|=|!=)\s*([^\s,()]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([^\s!=,()]+)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # in, notin, exists, !exists
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "!exists":
            return self.key not in labels
        if self.operator == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values  # notin (also for absent keys)


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``(...)`` sets."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def parse_label_selector(selector: str) -> list[Requirement]:
    requirements = []
    for term in _split_terms(selector):
        if match := _SET_RE.match(term):
            key, op, values = match.groups()
            items = frozenset(v.strip() for v in values.split(",") if v.strip())
            requirements.append(Requirement(key, op, items))
        elif match := _CMP_RE.match(term):
            key, op, value = match.groups()
            requirements.append(
                Requirement(key, "notin" if op == "!=" else "in", frozenset({value}))
            )
        elif match := _EXISTS_RE.match(term):
            negated, key = match.groups()
            requirements.append(Requirement(key, "!exists" if negated else "exists"))
        else:
            raise bad_request(f"unable to parse requirement: {term!r}")
    return requirements


def _field_value(obj: JsonDict, path: str) -> str | None:
    value: object = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_field_selector(selector: str) -> list[tuple[str, bool, str]]:
    """``metadata.name=x,status.phase!=Running`` as (path, equal?, value) triples."""
    terms = []
    for term in _split_terms(selector):
        match = _CMP_RE.match(term)
        if match is None:
            raise bad_request(f"invalid field selector: {term!r}")
        path, op, value = match.groups()
        terms.append((path, op != "!=", value))
    return terms


def make_predicate(label_selector: str | None, field_selector: str | None) -> Predicate | None:
    """A filter for objects, or None when nothing is selected out (the fast path)."""
    labels = parse_label_selector(label_selector) if label_selector else []
    fields = parse_field_selector(field_selector) if field_selector else []
    if not labels and not fields:
        return None

    def predicate(obj: JsonDict) -> bool:
        obj_labels = obj.get("metadata", {}).get("labels") or {}
        if not all(requirement.matches(obj_labels) for requirement in labels):
            return False
        return all(
            ((_field_value(obj, path) or "") == value) == equal for path, equal, value in fields
        )

    return predicate
