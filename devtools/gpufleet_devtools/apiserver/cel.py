"""CEL ``x-kubernetes-validations`` rules, evaluated with cel-python (``celpy``)."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes, evaluation
from celpy.adapter import json_to_cel

# celpy logs every evaluation step at DEBUG; under a verbose operator (kopf --verbose sets
# the root logger to DEBUG) that floods the logs and slows every admission down.
logging.getLogger("celpy").setLevel(logging.WARNING)


@dataclass(frozen=True)
class RuleOutcome:
    passed: bool
    error: str = ""  # set when the rule could not be evaluated at all


@functools.lru_cache(maxsize=512)
def _program(rule: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def references_old_self(rule: str) -> bool:
    return "oldSelf" in rule


def evaluate(rule: str, value: Any, old_value: Any = None) -> RuleOutcome:
    """Run ``rule`` with ``self`` bound to ``value`` (and ``oldSelf`` when given)."""
    # Rules are pure functions of their inputs, and most writes (status updates, metadata
    # patches, kopf's annotations) leave the validated values unchanged: remember outcomes.
    old_key = json.dumps(old_value, sort_keys=True) if old_value is not None else None
    return _evaluate_cached(rule, json.dumps(value, sort_keys=True), old_key)


@functools.lru_cache(maxsize=8192)
def _evaluate_cached(rule: str, value_json: str, old_json: str | None) -> RuleOutcome:
    try:
        program = _program(rule)
    except Exception as exc:  # celpy raises its own parse errors; all mean "bad rule"
        return RuleOutcome(False, f"compilation failed: {exc}")
    activation: dict[str, celtypes.Value] = {"self": json_to_cel(json.loads(value_json))}
    if old_json is not None:
        activation["oldSelf"] = json_to_cel(json.loads(old_json))
    try:
        result = program.evaluate(activation)
    except Exception as exc:  # evaluation errors (no such key, overloads) fail the rule
        return RuleOutcome(False, str(exc))
    if isinstance(result, evaluation.CELEvalError):
        return RuleOutcome(False, str(result))
    return RuleOutcome(bool(result))


def render_message(expression: str, value: Any, old_value: Any = None) -> str | None:
    """A rule's ``messageExpression``; None when it does not evaluate to a string."""
    try:
        program = _program(expression)
        activation: dict[str, celtypes.Value] = {"self": json_to_cel(value)}
        if old_value is not None:
            activation["oldSelf"] = json_to_cel(old_value)
        result = program.evaluate(activation)
    except Exception:  # a broken message expression falls back to the static message
        return None
    return str(result) if isinstance(result, str) else None
