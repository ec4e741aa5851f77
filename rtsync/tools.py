"""Function tools: JSON schemas from Python functions, a registry, and a runner that answers calls.

This module never imports the client (DESIGN.md, layer 5); the client wires it in.

Schema (:func:`function_schema`)
    A function's type hints become a JSON schema (``"type": "object"``,
    ``"additionalProperties": false``): ``str`` -> ``string``, ``int`` -> ``integer``, ``float`` ->
    ``number``, ``bool`` -> ``boolean``, ``list[X]`` / ``tuple`` / ``set`` -> ``array`` (with
    ``items``), ``dict`` -> ``object``, ``Optional[X]`` / ``X | None`` -> ``X`` or ``null``,
    ``Literal[...]`` and :class:`enum.Enum` subclasses -> ``enum`` (of the values), other unions ->
    ``anyOf``; ``Annotated[X, "text"]`` gives a parameter description. A parameter without an
    annotation (or annotated ``Any``) accepts any JSON value. A parameter with a default is not
    required (the default is written into the schema when it is JSON-encodable). ``*args`` and
    ``**kwargs`` are left out. The docstring's first paragraph is the tool description, and the
    lines of a Google-style ``Args:`` section describe the parameters.

Registry (:class:`ToolRegistry`)
    ``registry.add(fn)`` or ``@registry.tool`` / ``@registry.tool(name=...)``; adding a name that
    is already registered replaces the earlier tool. ``registry.tools()`` gives the
    :class:`~rtsync.events.Tool` models for ``session.update``; ``registry.call(name, arguments)``
    runs one call and always returns the output string (errors become ``{"error": "..."}``).

Runner (:class:`ToolRunner`)
    Independent of the client: it is given ``send_output(call_id, output)`` and
    ``create_response()``, and fed every event through :meth:`ToolRunner.on_event` (an internal
    hook on the dispatcher thread). For each ``response.done`` holding completed
    ``function_call`` items, every call runs on a small pool of ``rtsync-tool-N`` threads (never on
    the dispatcher thread, so a slow tool never stalls callbacks); the calls of one response run
    concurrently. Each output is sent as soon as it is ready, and exactly one ``create_response()``
    follows the last output of that response.

Outputs
    A ``str`` result is sent as is; any other result is JSON-encoded (enums by value, dataclasses
    and attrs classes as objects, anything else by ``str()``). Invalid JSON arguments, arguments
    that do not match the schema (missing required key, unknown key, wrong basic type, value not
    in the enum) and unknown tool names give ``{"error": "..."}`` without calling the function; a
    function that raises gives ``{"error": "ExcType: message"}``.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import itertools
import json
import logging
import re
import threading
import types
import typing
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, overload

import attrs

from rtsync.events import Tool

__all__ = ["RegisteredTool", "ToolRegistry", "ToolRunner", "function_schema", "tool_decorator"]

logger = logging.getLogger("rtsync.tools")

F = TypeVar("F", bound=Callable[..., Any])

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SECTION_RE = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments)\s*:\s*$")
_OTHER_SECTION_RE = re.compile(
    r"^(Returns?|Yields?|Raises|Examples?|Notes?|Attributes|See Also|Warnings?|Todo|References)\s*:\s*$"
)
_ARG_LINE_RE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NONE_TYPE = type(None)


# -- schema ----------------------------------------------------------------------------------------

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


def _build(
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
    return _build(fn, name, description, parameters)[0]


# -- argument checking -----------------------------------------------------------------------------

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


def _check(value: Any, schema: Any, path: str) -> str | None:
    """The first mismatch of ``value`` against the basic keywords of ``schema``, or ``None``."""
    if not isinstance(schema, dict) or not schema:
        return None
    if "anyOf" in schema or "oneOf" in schema:
        subs = schema.get("anyOf") or schema.get("oneOf") or []
        if isinstance(subs, list) and subs and all(_check(value, s, path) is not None for s in subs):
            return f"argument {path!r} does not match any allowed type"
    t = schema.get("type")
    if isinstance(t, str) or isinstance(t, list):
        kinds = [t] if isinstance(t, str) else [k for k in t if isinstance(k, str)]
        if kinds and not any(_type_ok(value, k) for k in kinds):
            return f"argument {path!r} must be {' or '.join(kinds)}, not {_describe(value)}"
    enum_values = schema.get("enum")
    if isinstance(enum_values, list) and not any(
        value == e and isinstance(value, bool) == isinstance(e, bool) for e in enum_values
    ):
        return f"argument {path!r} must be one of {json.dumps(enum_values)}"
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            err = _check(item, schema["items"], f"{path}[{i}]")
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
                err = _check(sub, props[key], _join(path, key))
            elif extra is False:
                err = f"unexpected argument {_join(path, key)!r}"
            else:
                err = _check(sub, extra, _join(path, key)) if isinstance(extra, dict) else None
            if err:
                return err
    return None


def _join(path: str, key: str) -> str:
    return str(key) if not path else f"{path}.{key}"


def _describe(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null",
            int: "integer", float: "number"}.get(type(value), type(value).__name__)


def _error(message: str) -> str:
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


# -- registry --------------------------------------------------------------------------------------

@attrs.define(frozen=True)
class RegisteredTool:
    """One registered tool: its ``name``, the Python ``fn`` and the ``tool`` model sent to the server."""

    name: str
    fn: Callable[..., Any]
    tool: Tool
    converters: Mapping[str, type[enum.Enum]] = attrs.field(factory=dict, repr=False)

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments."""
        params: dict[str, Any] = self.tool.parameters
        return params

    def check(self, arguments: Any) -> str | None:
        """Why ``arguments`` (parsed JSON) does not fit the schema, or ``None`` when it does."""
        if not isinstance(arguments, dict):
            return f"arguments must be a JSON object, not {_describe(arguments)}"
        return _check(arguments, self.parameters, "")

    def call(self, arguments: str | Mapping[str, Any] | None) -> tuple[str, bool]:
        """Run one call; returns ``(output, is_error)``. Never raises for a tool's own failure."""
        if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
            parsed: Any = {}
        elif isinstance(arguments, str):
            try:
                parsed = json.loads(arguments)
            except ValueError as exc:
                return _error(f"arguments for {self.name} are not valid JSON: {exc}"), True
        else:
            parsed = dict(arguments)
        problem = self.check(parsed)
        if problem is not None:
            return _error(f"invalid arguments for {self.name}: {problem}"), True
        kwargs = dict(parsed)
        for key, conv in self.converters.items():
            if kwargs.get(key) is not None:
                try:
                    kwargs[key] = conv(kwargs[key])
                except ValueError as exc:
                    return _error(f"invalid arguments for {self.name}: {exc}"), True
        try:
            result = self.fn(**kwargs)
        except Exception as exc:
            logger.debug("tool %s raised", self.name, exc_info=True)
            return _error(f"{type(exc).__name__}: {exc}"), True
        try:
            return encode_output(result), False
        except (TypeError, ValueError) as exc:
            return _error(f"cannot encode the result of {self.name}: {type(exc).__name__}: {exc}"), True


def tool_decorator(
    add: Callable[..., Any],
    fn: Callable[..., Any] | None,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> Any:
    """The body of a ``@tool`` / ``@tool(name=...)`` decorator whose registration is ``add``.

    With ``fn``, registers it and returns it; without, returns a decorator that does.
    """
    if fn is not None:
        add(fn, name=name, description=description, parameters=parameters)
        return fn

    def deco(f: F) -> F:
        add(f, name=name, description=description, parameters=parameters)
        return f

    return deco


class ToolRegistry:
    """The function tools of a session, by name. Thread-safe.

    Example::

        tools = ToolRegistry()

        @tools.tool
        def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict:
            '''Current weather of a city.

            Args:
                city: the city name.
                unit: temperature unit.
            '''
            return {"city": city, "temp": 21, "unit": unit}

        client.update_session(tools=[t.to_dict() for t in tools.tools()])
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tools: dict[str, RegisteredTool] = {}

    def add(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Tool:
        """Register ``fn`` (replacing a tool of the same name) and return its :class:`Tool` model.

        The arguments are those of :func:`function_schema`.
        """
        tool, converters = _build(fn, name, description, parameters)
        entry = RegisteredTool(name=tool.name, fn=fn, tool=tool, converters=converters)
        with self._lock:
            self._tools[entry.name] = entry
        return tool

    @overload
    def tool(self, fn: F) -> F: ...
    @overload
    def tool(
        self, *, name: str | None = None, description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Decorator registering a function: ``@registry.tool`` or ``@registry.tool(name=...)``.

        The function is returned unchanged.
        """
        return tool_decorator(self.add, fn, name=name, description=description, parameters=parameters)

    def remove(self, name: str) -> bool:
        """Unregister ``name``; ``False`` when there was no such tool."""
        with self._lock:
            return self._tools.pop(name, None) is not None

    def get(self, name: str) -> RegisteredTool | None:
        """The registered tool called ``name``, or ``None``."""
        with self._lock:
            return self._tools.get(name)

    def tools(self) -> list[Tool]:
        """The :class:`Tool` models, in registration order (for ``session.update``)."""
        with self._lock:
            return [e.tool for e in self._tools.values()]

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        with self._lock:
            return list(self._tools)

    def call(self, name: str, arguments: str | Mapping[str, Any] | None) -> tuple[str, bool]:
        """Run the call ``name(arguments)``; returns ``(output, is_error)`` and never raises for the
        tool's failure (an unknown name, bad arguments or an exception give an error output)."""
        entry = self.get(name)
        if entry is None:
            return _error(f"unknown tool {name!r}"), True
        return entry.call(arguments)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._tools

    def __len__(self) -> int:
        with self._lock:
            return len(self._tools)

    def __iter__(self) -> typing.Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names()!r})"


# -- runner ----------------------------------------------------------------------------------------

_pool_ids = itertools.count(1)


def _field(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


class _Batch:
    """The calls of one response: the follow-up goes out when ``remaining`` reaches zero."""

    __slots__ = ("remaining", "response_id")

    def __init__(self, response_id: str, remaining: int) -> None:
        self.response_id = response_id
        self.remaining = remaining


class ToolRunner:
    """Answers the function calls of finished responses, on worker threads.

    Args:
        registry: the tools to run.
        send_output: ``send_output(call_id, output)`` sends one ``function_call_output`` item
            (the client's ``create_item(Item.function_output(call_id, output))``).
        create_response: sends the follow-up ``response.create``; called exactly once per
            response with calls, after its last output was sent. ``None``: no follow-up.
        max_workers: the most calls run at once (threads named ``rtsync-tool-N``, started when
            needed).
        registered_only: leave calls to names the registry does not hold unanswered (for an
            application that answers some calls itself) instead of answering them with an error.

    Feed it every event with :meth:`on_event` (a dispatcher hook). Exceptions raised by
    ``send_output`` or ``create_response`` (the connection closed, say) are logged and counted
    in :attr:`errors`; they never reach the dispatcher. A call id is answered once even if its
    ``response.done`` is seen twice.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        send_output: Callable[[str, str], Any],
        create_response: Callable[[], Any] | None,
        *,
        max_workers: int = 4,
        registered_only: bool = False,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.registry = registry
        self._send_output = send_output
        self._create_response = create_response
        self._max_workers = max_workers
        self._registered_only = registered_only
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pool: ThreadPoolExecutor | None = None
        self._threads: set[threading.Thread] = set()
        self._closed = False
        self._pending = 0  # calls submitted and not finished, plus follow-ups not yet sent
        self._seen: set[str] = set()
        self._calls = 0
        self._errors = 0
        self._responses = 0

    # -- counters ------------------------------------------------------------------------------
    @property
    def calls(self) -> int:
        """Calls answered (an output was produced), errors included."""
        with self._lock:
            return self._calls

    @property
    def errors(self) -> int:
        """Calls whose output was an error, plus failures of ``send_output``/``create_response``."""
        with self._lock:
            return self._errors

    @property
    def responses(self) -> int:
        """Follow-up ``create_response()`` calls made."""
        with self._lock:
            return self._responses

    @property
    def pending(self) -> int:
        """Calls (and follow-ups) not finished yet."""
        with self._lock:
            return self._pending

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (new calls are no longer taken)."""
        with self._lock:
            return self._closed

    # -- feeding -------------------------------------------------------------------------------
    def on_event(self, ev: Any) -> None:
        """Look at one event; on a ``response.done`` with completed function calls, run them.

        Returns at once (the calls run on worker threads). Safe on any thread.
        """
        if _field(ev, "type") != "response.done":
            return
        response = _field(ev, "response")
        output = _field(response, "output") if response is not None else None
        if not isinstance(output, list):
            return
        calls: list[tuple[str, str, Any]] = []
        for item in output:
            if _field(item, "type") != "function_call":
                continue
            status = _field(item, "status")
            if isinstance(status, str) and status != "completed":
                continue
            call_id, name = _field(item, "call_id"), _field(item, "name")
            if not isinstance(call_id, str) or not call_id or not isinstance(name, str):
                logger.warning("function call without call_id or name ignored: %r", item)
                continue
            if self._registered_only and name not in self.registry:
                continue
            calls.append((call_id, name, _field(item, "arguments")))
        if not calls:
            return
        response_id = _field(response, "id")
        with self._lock:
            if self._closed:
                logger.debug("tool runner closed: %d call(s) of %s not answered", len(calls), response_id)
                return
            calls = [c for c in calls if c[0] not in self._seen]
            if not calls:
                return
            self._seen.update(c[0] for c in calls)
            batch = _Batch(response_id if isinstance(response_id, str) else "", len(calls))
            self._pending += len(calls) + 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self._max_workers,
                    thread_name_prefix="rtsync-tool",
                    initializer=self._name_worker,
                    initargs=(next(_pool_ids),),
                )
            pool = self._pool
            for call_id, name, arguments in calls:
                pool.submit(self._run, batch, call_id, name, arguments)

    def _name_worker(self, pool_id: int) -> None:
        t = threading.current_thread()
        with self._lock:
            self._threads.add(t)
            t.name = f"rtsync-tool-{pool_id}-{len(self._threads)}"

    def _run(self, batch: _Batch, call_id: str, name: str, arguments: Any) -> None:
        output, is_error = self.registry.call(name, arguments)
        send_failed = False
        try:
            self._send_output(call_id, output)
        except Exception:
            send_failed = True
            logger.warning("sending the output of tool %s (%s) failed", name, call_id, exc_info=True)
        with self._lock:
            self._calls += 1
            self._errors += int(is_error) + int(send_failed)
            self._pending -= 1
            batch.remaining -= 1
            last = batch.remaining == 0
            if not last:
                self._idle.notify_all()
        if not last:
            return
        failed = False
        sent = False
        if self._create_response is not None:
            try:
                self._create_response()
                sent = True
            except Exception:
                failed = True
                logger.warning("follow-up response.create after %s failed", batch.response_id or "the calls",
                               exc_info=True)
        with self._lock:
            self._responses += int(sent)
            self._errors += int(failed)
            self._pending -= 1
            self._idle.notify_all()

    # -- waiting and closing -------------------------------------------------------------------
    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no call or follow-up is in progress; ``False`` on timeout.

        Do not call it from the dispatcher thread while the runner is its hook's target
        (calls still run, but nothing new can be dispatched while it blocks).
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, wait: bool = True) -> None:
        """Stop taking calls and join the workers (after the calls in flight finish and their
        follow-up is sent). Idempotent; from a tool's own thread it does not wait."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            own = threading.current_thread() in self._threads
        if pool is not None:
            pool.shutdown(wait=wait and not own)

    def __enter__(self) -> ToolRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"ToolRunner(tools={self.registry.names()!r}, calls={self.calls}, errors={self.errors}, "
                f"closed={self.closed})")
