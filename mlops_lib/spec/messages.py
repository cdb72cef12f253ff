"""Pydantic's validation errors, said in the spec's own terms: the dotted path of the key, what
it must be (read from the JSON Schema, so the words match what an editor shows), and what it
was. `training.holdout_share: must be a number within [0.05, 0.5], not 0.9`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mlops_lib.spec.base import Loc, SpecProblem, render_loc

_MAPPING_ERRORS = {"dataclass_type", "dataclass_args_type", "dict_type", "model_type",
                   "model_attributes_type"}
_LIST_ERRORS = {"tuple_type", "list_type", "iterable_type"}
_UNKNOWN_KEY_ERRORS = {"unexpected_keyword_argument", "extra_forbidden", "invalid_key"}


def describe(error: ValidationError, schema: Mapping[str, Any],
             raw: Mapping[str, Any]) -> list[str]:
    """One line per problem: `path: message`."""
    return [line for details in error.errors(include_url=False)
            for line in _lines(details, schema, raw)]


def _lines(details: ErrorDetails, schema: Mapping[str, Any],
           raw: Mapping[str, Any]) -> Iterator[str]:
    loc: Loc = tuple(details["loc"])
    cause = (details.get("ctx") or {}).get("error")
    if isinstance(cause, SpecProblem):
        for where, message in cause.problems:
            yield _line((*loc, *where), message, raw)
        return
    yield _line(loc, _message(details, loc, schema), raw)


def _line(loc: Loc, message: str, raw: Mapping[str, Any]) -> str:
    path = render_loc(loc) or "(top level)"
    name = _feature_name(loc, raw)
    return f"{path} (feature {name!r}): {message}" if name else f"{path}: {message}"


def _feature_name(loc: Loc, raw: Mapping[str, Any]) -> str | None:
    """features[3] is easier to find by its name."""
    if len(loc) < 2 or loc[0] != "features" or not isinstance(loc[1], int):
        return None
    features = raw.get("features")
    if not isinstance(features, list) or not 0 <= loc[1] < len(features):
        return None
    entry = features[loc[1]]
    name = entry.get("name") if isinstance(entry, dict) else None
    return None if name is None else str(name)


def _message(details: ErrorDetails, loc: Loc, schema: Mapping[str, Any]) -> str:
    kind, value = details["type"], details.get("input")
    if kind == "missing":
        return "required"
    if kind in _UNKNOWN_KEY_ERRORS:
        allowed = _properties(schema, at(schema, loc[:-1]))
        return f"unknown key; allowed: {', '.join(allowed)}"
    if kind == "literal_error":
        return f"{value!r} is not one of: {', '.join(map(str, _choices(schema, at(schema, loc))))}"
    if kind in ("value_error", "assertion_error"):
        return str((details.get("ctx") or {}).get("error") or details["msg"])
    if kind == "string_pattern_mismatch":
        return f"must match {(details.get('ctx') or {}).get('pattern')}, not {value!r}"
    if kind in _MAPPING_ERRORS:
        keys = _properties(schema, at(schema, loc))
        return f"must be a mapping of: {', '.join(keys)}; not {value!r}" if keys else (
            f"must be a mapping, not {value!r}")
    if kind in _LIST_ERRORS:
        return f"must be a list, not {value!r}"
    return f"must be {expected(schema, at(schema, loc))}, not {value!r}"


# --- reading the JSON Schema ------------------------------------------------------------------


def at(schema: Mapping[str, Any], loc: Loc) -> Mapping[str, Any]:
    """The sub-schema of the key at `loc` ({} where the schema says nothing)."""
    node = _resolve(schema, schema)
    for part in loc:
        node = _step(schema, node, part)
    return node


def _step(schema: Mapping[str, Any], node: Mapping[str, Any],
          part: str | int) -> Mapping[str, Any]:
    for branch in _branches(schema, node):
        if isinstance(part, int) and "items" in branch:
            return _resolve(schema, branch["items"])
        if isinstance(part, str) and part in branch.get("properties", {}):
            return _resolve(schema, branch["properties"][part])
        extra = branch.get("additionalProperties")
        if isinstance(part, str) and isinstance(extra, dict):
            return _resolve(schema, extra)
    return {}


def _resolve(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][str(node["$ref"]).rsplit("/", 1)[-1]]
    return node


def _branches(schema: Mapping[str, Any], node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The non-null alternatives of a node (an optional value is anyOf [X, null])."""
    options = node.get("anyOf") or [node]
    return [_resolve(schema, o) for o in options if o.get("type") != "null"]


def _properties(schema: Mapping[str, Any], node: Mapping[str, Any]) -> list[str]:
    return [key for branch in _branches(schema, node) for key in branch.get("properties", {})]


def _choices(schema: Mapping[str, Any], node: Mapping[str, Any]) -> list[Any]:
    return [choice for branch in _branches(schema, node) for choice in branch.get("enum", [])]


def expected(schema: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    """What a value of this schema node is, in words: 'an integer >= 1'."""
    words = [_kind(branch) for branch in _branches(schema, node)]
    return " or ".join(w for w in words if w) or "valid"


def _kind(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    if kind == "boolean":
        return "true or false"
    if kind in ("integer", "number"):
        noun = "an integer" if kind == "integer" else "a number"
        return f"{noun}{_range(node)}"
    if kind == "string":
        return "a timestamp (ISO 8601)" if node.get("format") == "date-time" else "a string"
    return {"array": "a list", "object": "a mapping"}.get(str(kind), "")


def _range(node: Mapping[str, Any]) -> str:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    if low is not None and high is not None:
        left = "[" if "minimum" in node else "("
        right = "]" if "maximum" in node else ")"
        return f" within {left}{_number(low)}, {_number(high)}{right}"
    if low is not None:
        return f" {'>=' if 'minimum' in node else '>'} {_number(low)}"
    if high is not None:
        return f" {'<=' if 'maximum' in node else '<'} {_number(high)}"
    return ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
