"""Function tools of a client: ``client.tools``, ``add_tool``, ``@client.tool``, ``remove_tool``.

A mixin of :class:`~rtsync.client.RealtimeClient`. The registry and the runner live in
:mod:`rtsync.tools`; this wires them to the client: the registry's ``on_change`` hook sends the
tool list to an open session, and the runner answers the calls of each ``response.done``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, TypeVar, overload

from rtsync.client.state import State
from rtsync.events import client as ce
from rtsync.events._base import UNSET, Event
from rtsync.events.models import Item, Session, Tool

if TYPE_CHECKING:
    from rtsync.client.requests import Request
    from rtsync.tools import ToolRegistry, ToolRunner

__all__ = ["ToolsMixin"]

F = TypeVar("F", bound=Callable[..., Any])


class ToolsMixin:
    """The client's function tools (one registry, one runner)."""

    if TYPE_CHECKING:  # provided by RealtimeClient
        _state: State
        _tool_registry: ToolRegistry | None
        _tool_runner: ToolRunner | None
        _tools_lock: threading.Lock

        def send(self, event: Any) -> Request: ...
        def create_item(self, item: Any, previous_item_id: Any = ...) -> Request: ...
        def _create_follow_up(self) -> None: ...

    @property
    def tools(self) -> ToolRegistry:
        """The client's function tools: a :class:`rtsync.tools.ToolRegistry` wired to this client.

        Registering through it is the same as through the client: ``client.tools.add(fn)`` is
        :meth:`add_tool`, ``@client.tools.tool`` is :meth:`tool`, ``client.tools.remove(name)``
        is :meth:`remove_tool`. Every change reaches an open session at once (the registry's
        ``on_change`` hook sends ``session.update``), the tools go out again on
        :meth:`connect` and after a reconnection, and the client's tool runner answers the
        model's calls to every tool in it. (One registry with a change hook, rather than a
        read-only view, so that every way of registering that the registry offers works, and
        works the same.)
        """
        reg = self._tool_registry
        if reg is None:
            from rtsync.tools import ToolRegistry, ToolRunner

            with self._tools_lock:
                reg = self._tool_registry
                if reg is None:
                    reg = ToolRegistry(on_change=self._tools_changed)
                    self._tool_runner = ToolRunner(
                        reg,
                        lambda call_id, output: self.create_item(Item.function_output(call_id, output)),
                        self._create_follow_up,
                        registered_only=True,
                    )
                    self._tool_registry = reg
        return reg

    def _has_tools(self) -> bool:
        return self._tool_registry is not None and len(self._tool_registry) > 0

    def _tools_changed(self, registry: ToolRegistry) -> None:
        if self._state is State.OPEN:
            self._send_tools()

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Tool:
        """Register ``fn`` as a function tool the model may call; returns its :class:`Tool`.

        The JSON schema comes from ``fn``'s type hints and docstring (see
        :func:`rtsync.tools.function_schema`) unless ``parameters`` is given. The tools go to
        the server in ``session.update``: on :meth:`connect`, and at once when the client is
        already open. A tool of the same name is replaced. Same as ``client.tools.add(fn)``.

        When a response ends with function calls to registered tools, each call runs on an
        ``rtsync-tool-N`` worker thread (never on the reader or dispatcher thread) with its
        arguments checked against the schema; its result (or ``{"error": ...}`` when it raised)
        goes back as a ``function_call_output`` item, and exactly one ``response.create``
        follows the last output of that response (queued while another response runs). Calls to
        names that are not registered are left to the application.
        """
        return self.tools.add(fn, name=name, description=description, parameters=parameters)

    @overload
    def tool(self, fn: F) -> F: ...
    @overload
    def tool(self, *, name: str | None = None, description: str | None = None,
             parameters: Mapping[str, Any] | None = None) -> Callable[[F], F]: ...

    def tool(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Decorator form of :meth:`add_tool`: ``@client.tool`` or ``@client.tool(name=...)``.

        The function is returned unchanged; it runs on an ``rtsync-tool-N`` worker thread.
        Same as ``@client.tools.tool``.
        """
        from rtsync.tools import tool_decorator

        return tool_decorator(self.tools.add, fn, name=name, description=description, parameters=parameters)

    def remove_tool(self, name: str) -> bool:
        """Unregister a tool (and tell an open session); ``False`` when there was none. Same as
        ``client.tools.remove(name)``."""
        return self.tools.remove(name)

    def _send_tools(self) -> None:
        self.send(ce.SessionUpdate(session=Session(tools=self.tools.tools())))

    def _feed_tools(self, ev: Event) -> None:
        runner = self._tool_runner
        if runner is not None and ev.type == "response.done":
            resp = getattr(ev, "response", None)
            if getattr(resp, "conversation_id", UNSET) is None:
                return  # out-of-band calls are the application's to answer
            runner.on_event(ev)
