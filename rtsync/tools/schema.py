"""Tool schemas: a JSON schema (and the :class:`~rtsync.events.Tool` model) from a Python function.

See :mod:`rtsync.tools` for the mapping from type hints to JSON schema.
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from rtsync.events import Tool

__all__ = ["build", "function_schema"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SECTION_RE = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments)\s*:\s*$")
_OTHER_SECTION_RE = re.compile(
    r"^(Returns?|Yields?|Raises|Examples?|Notes?|Attributes|See Also|Warnings?|Todo|References)\s*:\s*$"
)
_ARG_LINE_RE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NONE_TYPE = type(None)


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(first paragraph as one line, {parameter: description}) of a cleaned docstring."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    para: list[str] = []
    for line in lines:
        if not line.strip():
            if para:
                break
            continue
        if _SECTION_RE.match(line.strip()) or _OTHER_SECTION_RE.match(line.strip()):
            break
        para.append(line.strip())
    summary = " ".join(para)

    args: dict[str, str] = {}
    in_section = False
    section_indent = 0
    arg_indent: int | None = None
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not in_section:
            if _SECTION_RE.match(stripped):
                in_section, section_indent, arg_indent, current = True, indent, None, None
            continue
        if not stripped:
            continue
        if indent <= section_indent:
            # A new section (or the end of this one).
            in_section = bool(_SECTION_RE.match(stripped))
            section_indent, arg_indent, current = indent, None, None
            continue
        if arg_indent is None:
            arg_indent = indent
        if indent <= arg_indent:
            m = _ARG_LINE_RE.match(stripped)
            if m:
                current = m.group(1)
                args[current] = m.group(2).strip()
            else:
                current = None
        elif current is not None:
            args[current] = f"{args[current]} {stripped}".strip()
    return summary, args


def _json_type_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return None


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    kinds = []
    for v in values:
        k = _json_type_of(v)
        if k is not None and k not in kinds:
            kinds.append(k)
    if len(kinds) == 1:
        schema["type"] = kinds[0]
    elif kinds:
        schema["type"] = kinds
    schema["enum"] = list(values)
    return schema


def _with_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also accepts ``null``."""
    if not schema:
        return schema
    out = dict(schema)
    t = out.get("type")
    if isinstance(t, str) and set(out) <= {"type", "items", "description", "enum", "default",
                                           "additionalProperties", "properties", "required"}:
        out["type"] = [t, "null"] if t != "null" else "null"
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    if isinstance(t, list):
        if "null" not in t:
            out["type"] = [*t, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def _type_schema(tp: Any) -> dict[str, Any]:
    """The JSON schema of one annotation (``{}`` accepts anything)."""
    if tp is inspect.Parameter.empty or tp is Any or tp is object:
        return {}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        schema = _type_schema(args[0])
        texts = [a for a in args[1:] if isinstance(a, str)]
        if texts:
            schema = {**schema, "description": " ".join(texts)}
        return schema
    if tp is None or tp is _NONE_TYPE:
        return {"type": "null"}
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in args if a is not _NONE_TYPE]
        nullable = len(members) < len(args)
        if len(members) == 1:
            schema = _type_schema(members[0])
        else:
            subs = [_type_schema(m) for m in members]
            schema = {} if any(not s for s in subs) else {"anyOf": subs}
        return _with_null(schema) if nullable else schema
    if origin is typing.Literal:
        return _enum_schema([a.value if isinstance(a, enum.Enum) else a for a in args])
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_schema([m.value for m in tp])
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    base = origin if origin is not None else tp
    if isinstance(base, type):
        if issubclass(base, (list, tuple, set, frozenset)):
            schema = {"type": "array"}
            if args and not (base is tuple and (len(args) != 2 or args[1] is not Ellipsis)):
                item = _type_schema(args[0])
                if item:
                    schema["items"] = item
            elif args and base is tuple:
                subs = [_type_schema(a) for a in args]
                if all(subs) and all(s == subs[0] for s in subs):
                    schema["items"] = subs[0]
            return schema
        if issubclass(base, Mapping) or base is dict:
            schema = {"type": "object"}
            if len(args) == 2:
                value = _type_schema(args[1])
                if value:
                    schema["additionalProperties"] = value
            return schema
    if tp in (typing.List, typing.Tuple, typing.Set):  # noqa: UP006 - bare typing aliases
        return {"type": "array"}
    if tp is typing.Dict:  # noqa: UP006
        return {"type": "object"}
    return {}


def _jsonable_default(value: Any) -> tuple[bool, Any]:
    if isinstance(value, enum.Enum):
        value = value.value
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False, None
    return True, value


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    for target in (fn, vars(type(fn)).get("__call__"), getattr(fn, "func", None)):
        if target is None:
            continue
        try:
            return typing.get_type_hints(target, include_extras=True)
        except Exception:
            continue
    return {}


def _enum_converter(tp: Any) -> type[enum.Enum] | None:
    """The Enum class a parameter annotated ``tp`` should receive (unwrapping Optional/Annotated)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _enum_converter(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(tp) if a is not _NONE_TYPE]
        return _enum_converter(members[0]) if len(members) == 1 else None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    return None


def _tool_name(fn: Callable[..., Any], name: str | None) -> str:
    if name is None:
        name = getattr(fn, "__name__", None)
        if not isinstance(name, str) or name == "<lambda>":
            raise ValueError(f"cannot name the tool {fn!r}: pass name=")
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid tool name {name!r}: use 1-64 letters, digits, '_' or '-'")
    return name


def build(
    fn: Callable[..., Any],
    name: str | None,
    description: str | None,
    parameters: Mapping[str, Any] | None,
) -> tuple[Tool, dict[str, type[enum.Enum]]]:
    tool_name = _tool_name(fn, name)
    summary, arg_docs = _parse_docstring(inspect.getdoc(fn))
    converters: dict[str, type[enum.Enum]] = {}
    if parameters is not None:
        schema = json.loads(json.dumps(dict(parameters)))  # a deep, JSON-clean copy
    else:
        hints = _type_hints(fn)
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot read the signature of {fn!r}: {exc}") from exc
        properties: dict[str, Any] = {}
        required: list[str] = []
        for pname, param in sig.parameters.items():
            if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise ValueError(f"tool {tool_name!r}: positional-only parameter {pname!r} is not supported")
            tp = hints.get(pname, param.annotation)
            prop = dict(_type_schema(tp))
            if pname in arg_docs and arg_docs[pname] and "description" not in prop:
                prop["description"] = arg_docs[pname]
            if param.default is inspect.Parameter.empty:
                required.append(pname)
            else:
                ok, value = _jsonable_default(param.default)
                if ok:
                    prop["default"] = value
            conv = _enum_converter(tp)
            if conv is not None:
                converters[pname] = conv
            properties[pname] = prop
        schema = {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
    tool = Tool(
        type="function",
        name=tool_name,
        description=summary if description is None else description,
        parameters=schema,
    )
    return tool, converters


def function_schema(
    fn: Callable[..., Any],
    name: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> Tool:
    """The function :class:`~rtsync.events.Tool` (``type: "function"``) describing ``fn``.

    Args:
        fn: the function; its type hints give the parameter schema and its docstring the
            descriptions (see the module docstring for the mapping).
        name: the tool name (default: ``fn.__name__``); 1-64 letters, digits, ``_`` or ``-``.
        description: the tool description (default: the docstring's first paragraph).
        parameters: a JSON schema to use as is instead of the one built from the hints.

    Raises:
        ValueError: no usable name, or a positional-only parameter.
    """
    return build(fn, name, description, parameters)[0]

