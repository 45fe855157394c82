"""Admission of custom resources against a CRD's structural ``openAPIV3Schema``.

The API server's order is kept: unknown fields are pruned, then nulls the schema does not
allow (a default replaces them), defaults applied, then the OpenAPI value validations run,
then the CEL ``x-kubernetes-validations`` rules, unless a value has the wrong type, is
missing, is not in its enum or is too long (the rules would misread it).

On an update, a value equal to the old one is not validated again (validation ratcheting,
on by default since Kubernetes 1.30 and GA in 1.33): an object admitted under an older CRD
keeps taking status updates and edits of its other fields after a new rule it breaks, and
only its transition rules (those reading ``oldSelf``), which are never ratcheted, still run.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gpufleet_devtools.apiserver import cel
from gpufleet_devtools.apiserver.errors import Cause, JsonDict

Schema = dict[str, Any]
# String formats the API server checks (others, like "int32", are informational).
_FORMATS = {
    "date-time": re.compile(
        r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
    ),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
}
_FLOAT_INTS = 2**53
"""Beyond this a float64 no longer holds every integer."""
# Never pruned nor validated at the root: the API server handles these itself.
_ROOT_SYSTEM_FIELDS = ("apiVersion", "kind", "metadata")


def _preserves(schema: Schema) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def prune(schema: Schema, value: Any, root: bool = False) -> Any:
    """Drop fields the schema does not declare (unless it preserves unknown fields)."""
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        properties: dict[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        result = {}
        for key, item in value.items():
            if root and key in _ROOT_SYSTEM_FIELDS:
                result[key] = item
            elif key in properties:
                result[key] = prune(properties[key], item)
            elif isinstance(extra, dict):
                result[key] = prune(extra, item)
            elif extra is True or _preserves(schema):
                result[key] = item
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(schema["items"], item) for item in value]
    return value


def unknown_fields(schema: Schema, value: Any, path: str = "", root: bool = False) -> list[str]:
    """The paths :func:`prune` would drop, as the API server names them (``spec.a[0].b``)."""
    found: list[str] = []
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        properties: dict[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if root and key in _ROOT_SYSTEM_FIELDS:
                continue
            if key in properties:
                found += unknown_fields(properties[key], item, where)
            elif isinstance(extra, dict):
                found += unknown_fields(extra, item, where)
            elif not (extra is True or _preserves(schema)):
                found.append(where)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += unknown_fields(schema["items"], item, f"{path}[{index}]")
    return found


FIELD_VALIDATION_MODES = ("Ignore", "Warn", "Strict")


@dataclass(slots=True)
class FieldValidation:
    """A write's ``fieldValidation`` directive and the warnings it collected.

    Unknown fields are always dropped from what is stored; ``Warn`` (the API server's
    default) says so in ``Warning`` headers, ``Strict`` (kubectl's default since 1.27)
    rejects the request instead, ``Ignore`` says nothing.
    """

    mode: str = "Ignore"
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, value: str | None) -> FieldValidation:
        mode = value or "Warn"
        if mode not in FIELD_VALIDATION_MODES:
            raise ValueError(
                f"fieldValidation must be one of {', '.join(FIELD_VALIDATION_MODES)}, got {mode!r}"
            )
        return cls(mode)


def prune_nulls(schema: Schema, value: Any, root: bool = False) -> Any:
    """Drop the ``null`` fields a schema does not declare ``nullable``, as the API server
    does before defaulting (so a default fills them). Nulls in lists stay, to fail
    validation; a nullable field keeps its null."""
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in list(value):
            if root and key in _ROOT_SYSTEM_FIELDS:
                continue
            sub = properties.get(key, extra if isinstance(extra, dict) else {})
            if value[key] is None and not sub.get("nullable"):
                del value[key]
            else:
                prune_nulls(sub, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            prune_nulls(schema["items"], item)
    return value


def apply_defaults(schema: Schema, value: Any) -> Any:
    """Fill ``default`` values of absent fields, recursing into the present ones."""
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and "default" in sub:
                value[key] = json.loads(json.dumps(sub["default"]))
            if key in value:
                value[key] = apply_defaults(sub, value[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                value[key] = apply_defaults(extra, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], item) for item in value]
    return value


_MULTI_LINE = re.compile(r"\(\?[a-zA-Z]*m")


@functools.lru_cache(maxsize=1024)
def re2_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled to match as the API server's Go RE2 does.

    RE2's ``$`` (without the ``m`` flag) is the end of the text; Python's also matches
    before a final newline, and would take "a" and a newline for ``^a$``: it becomes
    Python's end of the text, ``\\Z``.
    """
    if _MULTI_LINE.search(pattern):
        return re.compile(pattern)  # there both match at each line's end
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            # A "]" first in a class (after an optional "^") is a literal, not its end.
            start = i + 1
            if pattern.startswith("^", start):
                start += 1
            if pattern.startswith("]", start):
                start += 1
            out.append(pattern[i:start])
            i, in_class = start, True
            continue
        elif char == "$":
            char = "\\Z"
        out.append(char)
        i += 1
    return re.compile("".join(out))


def as_cel_sees(schema: Schema, value: Any) -> Any:
    """``value`` as the API server hands it to CEL: a whole number in a ``number`` field
    is a double there (JSON has one number type), so ``self * 2.0`` works on ``1``."""
    if value is None:
        return None
    kind = schema.get("type")
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return {
            key: as_cel_sees(properties.get(key, extra if isinstance(extra, dict) else {}), item)
            for key, item in value.items()
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [as_cel_sees(schema["items"], item) for item in value]
    return value


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def _type_ok(expected: str, value: Any) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        # A float is an integer while it is whole and exact (swag.IsFloat64AJSONInteger).
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer() and abs(value) <= _FLOAT_INTS
        )
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def _fields(schema: Schema, value: JsonDict, path: str) -> Iterator[tuple[str, Schema, str]]:
    """Each field of an object the schema validates: (key, its schema, its path)."""
    prefix = f"{path}." if path else ""
    properties: dict[str, Schema] = schema.get("properties") or {}
    for key, sub in properties.items():
        if key in value and not (path == "" and key in _ROOT_SYSTEM_FIELDS):
            yield key, sub, f"{prefix}{key}"
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in value:
            if key not in properties:
                yield key, extra, f"{path}[{key}]"


# A schema failure of these kinds leaves the CEL rules unchecked: they may read the wrong
# field as if it were right (the API server's hasBlockingErr).
_BLOCKING_REASONS = frozenset(
    {
        "FieldValueTypeInvalid",
        "FieldValueNotSupported",
        "FieldValueRequired",
        "FieldValueTooLong",
        "FieldValueTooMany",
    }
)
_RULES_NOT_CHECKED = Cause(
    "<nil>",
    'Invalid value: "null": some validation rules were not checked because the object was '
    "invalid; correct the existing errors to complete validation",
)


def _has_rules(node: Any) -> bool:
    """Whether a schema holds a CEL rule anywhere (the API server then has a CEL validator)."""
    if isinstance(node, dict):
        return "x-kubernetes-validations" in node or any(map(_has_rules, node.values()))
    if isinstance(node, list):
        return any(map(_has_rules, node))
    return False


class _Validator:
    def __init__(self) -> None:
        self.causes: list[Cause] = []
        self.rule_causes: list[Cause] = []
        """The CEL rules' failures: the API server reports them after the schema's."""

    def all_causes(self, schema: Schema) -> list[Cause]:
        if any(cause.reason in _BLOCKING_REASONS for cause in self.causes):
            return [*self.causes, *([_RULES_NOT_CHECKED] if _has_rules(schema) else [])]
        return [*self.causes, *self.rule_causes]

    def invalid(self, path: str, value: Any, detail: str) -> None:
        self.causes.append(Cause(path, f"Invalid value: {_shown(value)}: {detail}"))

    def validate(self, schema: Schema, value: Any, old: Any, path: str) -> None:
        if old is not None and value == old:
            self._unchanged(schema, value, path)
            return
        if value is None:
            if not schema.get("nullable"):
                self.causes.append(
                    Cause(
                        path,
                        f'Invalid value: "null": {path} in body must be of type '
                        f'{schema.get("type", "object")}: "null"',
                        "FieldValueTypeInvalid",
                    )
                )
            return
        expected = schema.get("type")
        if schema.get("x-kubernetes-int-or-string"):
            if not (isinstance(value, str) or _type_ok("integer", value)):
                self.causes.append(
                    Cause(
                        path,
                        f"Invalid value: {_shown(value)}: {path} in body must be of type "
                        "int-or-string",
                        "FieldValueTypeInvalid",
                    )
                )
                return
        elif expected and not _type_ok(expected, value):
            self.causes.append(
                Cause(
                    path,
                    f"Invalid value: {_shown(value)}: {path} in body must be of type {expected}: "
                    f"{_shown(value)}",
                    "FieldValueTypeInvalid",
                )
            )
            return
        if "enum" in schema and value not in schema["enum"]:
            supported = ", ".join(json.dumps(item) for item in schema["enum"])
            self.causes.append(
                Cause(
                    path,
                    f"Unsupported value: {_shown(value)}: supported values: {supported}",
                    "FieldValueNotSupported",
                )
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self._numbers(schema, value, path)
        if isinstance(value, str):
            self._strings(schema, value, path)
        if isinstance(value, list):
            self._arrays(schema, value, old, path)
        if isinstance(value, dict):
            self._objects(schema, value, old, path)
        self._rules(schema, value, old, path)

    def _numbers(self, schema: Schema, value: float, path: str) -> None:
        # OpenAPI v3.0 (the CRD dialect): exclusiveMinimum/Maximum are booleans that modify
        # minimum/maximum; a number there (JSON Schema 2019+) is accepted as the bound itself.
        low, low_exclusive = schema.get("minimum"), schema.get("exclusiveMinimum")
        if isinstance(low_exclusive, (int, float)) and not isinstance(low_exclusive, bool):
            low, low_exclusive = low_exclusive, True
        if low is not None:
            if low_exclusive and value <= low:
                self.invalid(path, value, f"{path} in body should be greater than {low}")
            elif not low_exclusive and value < low:
                self.invalid(
                    path, value, f"{path} in body should be greater than or equal to {low}"
                )
        high, high_exclusive = schema.get("maximum"), schema.get("exclusiveMaximum")
        if isinstance(high_exclusive, (int, float)) and not isinstance(high_exclusive, bool):
            high, high_exclusive = high_exclusive, True
        if high is not None:
            if high_exclusive and value >= high:
                self.invalid(path, value, f"{path} in body should be less than {high}")
            elif not high_exclusive and value > high:
                self.invalid(path, value, f"{path} in body should be less than or equal to {high}")
        step = schema.get("multipleOf")
        if step and (value / step) != int(value / step):
            self.invalid(path, value, f"{path} in body should be a multiple of {step}")

    def _strings(self, schema: Schema, value: str, path: str) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            self.invalid(
                path, value, f"{path} in body should be at least {schema['minLength']} chars long"
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.causes.append(
                Cause(
                    path,
                    f"Too long: may not be more than {schema['maxLength']} bytes",
                    "FieldValueTooLong",
                )
            )
        pattern = schema.get("pattern")
        if pattern and re2_pattern(pattern).search(value) is None:
            self.invalid(path, value, f"{path} in body should match '{pattern}'")
        checker = _FORMATS.get(schema.get("format", ""))
        if checker is not None and checker.fullmatch(value) is None:
            self.causes.append(
                Cause(
                    path,
                    f"Invalid value: {_shown(value)}: {path} in body must be of type "
                    f"{schema['format']}: {_shown(value)}",
                    "FieldValueTypeInvalid",
                )
            )

    def _arrays(self, schema: Schema, value: list[Any], old: Any, path: str) -> None:
        if "minItems" in schema and len(value) < schema["minItems"]:
            self.invalid(
                path, value, f"{path} in body should have at least {schema['minItems']} items"
            )
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.causes.append(
                Cause(
                    path,
                    f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                    "FieldValueTooMany",
                )
            )
        items = schema.get("items")
        if isinstance(items, dict):
            # oldSelf for list items is only correlated for map-type lists; skip it otherwise.
            for index, item in enumerate(value):
                self.validate(items, item, None, f"{path}[{index}]")

    def _objects(self, schema: Schema, value: JsonDict, old: Any, path: str) -> None:
        old_dict = old if isinstance(old, dict) else {}
        prefix = f"{path}." if path else ""
        for key in schema.get("required") or ():
            if key not in value:
                self.causes.append(Cause(f"{prefix}{key}", "Required value", "FieldValueRequired"))
        for key, sub, child in _fields(schema, value, path):
            self.validate(sub, value[key], old_dict.get(key), child)

    def _unchanged(self, schema: Schema, value: Any, path: str) -> None:
        """A value equal to the old one: only the transition rules run, here and below."""
        self._rules(schema, value, value, path, transitions_only=True)
        if not isinstance(value, dict):
            return  # list items are not correlated with old ones unless map-typed
        for key, sub, child in _fields(schema, value, path):
            self._unchanged(sub, value[key], child)

    def _rules(
        self, schema: Schema, value: Any, old: Any, path: str, transitions_only: bool = False
    ) -> None:
        for rule in schema.get("x-kubernetes-validations") or ():
            expression = rule["rule"]
            transition = cel.references_old_self(expression)
            if transition and old is None:
                continue  # transition rules only run on updates that had the old value
            if transitions_only and not transition:
                continue
            outcome = cel.evaluate(
                expression,
                as_cel_sees(schema, value),
                as_cel_sees(schema, old) if transition else None,
            )
            if outcome.passed:
                continue
            field_path = rule.get("fieldPath", "")
            field = f"{path}{field_path}" if path else field_path.lstrip(".")
            message = rule.get("message") or f"failed rule: {expression}"
            if rule.get("messageExpression"):
                message = (
                    cel.render_message(
                        rule["messageExpression"],
                        as_cel_sees(schema, value),
                        as_cel_sees(schema, old),
                    )
                    or message
                )
            if outcome.error:
                message = f"{message} (evaluation error: {outcome.error})"
            reason = rule.get("reason", "FieldValueInvalid")
            self.rule_causes.append(
                Cause(field, f"Invalid value: {_shown(value)}: {message}", reason)
            )


def admit(schema: Schema, obj: JsonDict, old: JsonDict | None) -> tuple[JsonDict, list[Cause]]:
    """Prune, default and validate a (deep-copied) custom resource.

    Returns the admitted object and the validation failures (empty when it is valid).
    """
    admitted = prune(schema, obj, root=True)
    admitted = prune_nulls(schema, admitted, root=True)
    admitted = apply_defaults(schema, admitted)
    validator = _Validator()
    validator.validate(schema, admitted, old, "")
    return admitted, validator.all_causes(schema)
