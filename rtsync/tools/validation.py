"""Argument checking and output encoding: what a tool call's arguments must be, what its output is.

:func:`check` compares parsed JSON arguments with the basic keywords of a schema (``type``,
``enum``, ``items``, ``properties``, ``required``, ``additionalProperties``, ``anyOf``/``oneOf``);
:func:`encode_output` turns a tool's result into the output string; :func:`error_output` is the
``{"error": ...}`` output of a call that failed.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

import attrs

__all__ = ["check", "describe", "encode_output", "error_output"]


def _type_ok(value: Any, t: str) -> bool:
    if t == "string":
        return isinstance(value, str)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "array":
        return isinstance(value, list)
    if t == "object":
        return isinstance(value, dict)
    if t == "null":
        return value is None
    return True  # an unknown type keyword: do not reject


def check(value: Any, schema: Any, path: str) -> str | None:
    """The first mismatch of ``value`` against the basic keywords of ``schema``, or ``None``."""
    if not isinstance(schema, dict) or not schema:
        return None
    if "anyOf" in schema or "oneOf" in schema:
        subs = schema.get("anyOf") or schema.get("oneOf") or []
        if isinstance(subs, list) and subs and all(check(value, s, path) is not None for s in subs):
            return f"argument {path!r} does not match any allowed type"
    t = schema.get("type")
    if isinstance(t, str) or isinstance(t, list):
        kinds = [t] if isinstance(t, str) else [k for k in t if isinstance(k, str)]
        if kinds and not any(_type_ok(value, k) for k in kinds):
            return f"argument {path!r} must be {' or '.join(kinds)}, not {describe(value)}"
    enum_values = schema.get("enum")
    if isinstance(enum_values, list) and not any(
        value == e and isinstance(value, bool) == isinstance(e, bool) for e in enum_values
    ):
        return f"argument {path!r} must be one of {json.dumps(enum_values)}"
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            err = check(item, schema["items"], f"{path}[{i}]")
            if err:
                return err
    if isinstance(value, dict):
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = schema.get("required")
        for key in required if isinstance(required, list) else []:
            if key not in value:
                return f"missing required argument {_join(path, key)!r}"
        extra = schema.get("additionalProperties", True)
        for key, sub in value.items():
            if key in props:
                err = check(sub, props[key], _join(path, key))
            elif extra is False:
                err = f"unexpected argument {_join(path, key)!r}"
            else:
                err = check(sub, extra, _join(path, key)) if isinstance(extra, dict) else None
            if err:
                return err
    return None


def _join(path: str, key: str) -> str:
    return str(key) if not path else f"{path}.{key}"


def describe(value: Any) -> str:
    """The JSON type name of a parsed value (for messages)."""
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null",
            int: "integer", float: "number"}.get(type(value), type(value).__name__)


def error_output(message: str) -> str:
    """The output of a failed call: ``{"error": message}`` as JSON."""
    return json.dumps({"error": message}, ensure_ascii=False)


def _default(obj: Any) -> Any:
    if isinstance(obj, enum.Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if attrs.has(type(obj)):
        return attrs.asdict(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return str(obj)


def encode_output(result: Any) -> str:
    """The output string of a tool result: a ``str`` as is, anything else JSON-encoded."""
    if isinstance(result, str):
        return result
    return json.dumps(result, ensure_ascii=False, default=_default)

