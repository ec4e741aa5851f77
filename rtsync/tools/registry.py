"""The tool registry: :class:`ToolRegistry` of :class:`RegisteredTool` entries, and the decorator body."""

from __future__ import annotations

import enum
import json
import logging
import threading
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

import attrs

from rtsync.events import Tool
from rtsync.tools.schema import build
from rtsync.tools.validation import check, describe, encode_output, error_output

__all__ = ["RegisteredTool", "ToolRegistry", "tool_decorator"]

logger = logging.getLogger("rtsync.tools")

F = TypeVar("F", bound=Callable[..., Any])


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
            return f"arguments must be a JSON object, not {describe(arguments)}"
        return check(arguments, self.parameters, "")

    def call(self, arguments: str | Mapping[str, Any] | None) -> tuple[str, bool]:
        """Run one call; returns ``(output, is_error)``. Never raises for a tool's own failure."""
        if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
            parsed: Any = {}
        elif isinstance(arguments, str):
            try:
                parsed = json.loads(arguments)
            except ValueError as exc:
                return error_output(f"arguments for {self.name} are not valid JSON: {exc}"), True
        else:
            parsed = dict(arguments)
        problem = self.check(parsed)
        if problem is not None:
            return error_output(f"invalid arguments for {self.name}: {problem}"), True
        kwargs = dict(parsed)
        for key, conv in self.converters.items():
            if kwargs.get(key) is not None:
                try:
                    kwargs[key] = conv(kwargs[key])
                except ValueError as exc:
                    return error_output(f"invalid arguments for {self.name}: {exc}"), True
        try:
            result = self.fn(**kwargs)
        except Exception as exc:
            logger.debug("tool %s raised", self.name, exc_info=True)
            return error_output(f"{type(exc).__name__}: {exc}"), True
        try:
            return encode_output(result), False
        except (TypeError, ValueError) as exc:
            return error_output(f"cannot encode the result of {self.name}: {type(exc).__name__}: {exc}"), True


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

    Args:
        on_change: called as ``on_change(registry)`` after every :meth:`add` and every
            :meth:`remove` that removed something, on the thread that made the change, outside
            the registry's lock. A client's own registry (``client.tools``) uses it to send the
            new tool list to an open session; exceptions from it reach the caller of
            ``add``/``remove`` (the change itself stays made).
    """

    def __init__(self, on_change: Callable[[ToolRegistry], Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._tools: dict[str, RegisteredTool] = {}
        self._on_change = on_change

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
        tool, converters = build(fn, name, description, parameters)
        entry = RegisteredTool(name=tool.name, fn=fn, tool=tool, converters=converters)
        with self._lock:
            self._tools[entry.name] = entry
        if self._on_change is not None:
            self._on_change(self)
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
            removed = self._tools.pop(name, None) is not None
        if removed and self._on_change is not None:
            self._on_change(self)
        return removed

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
            return error_output(f"unknown tool {name!r}"), True
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

