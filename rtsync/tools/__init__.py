"""Function tools: JSON schemas from Python functions, a registry, and a runner that answers calls.

This package never imports the client (DESIGN.md, layer 5); the client wires it in. One job
per module: :mod:`~rtsync.tools.schema` (function -> schema), :mod:`~rtsync.tools.validation`
(argument checks, output encoding), :mod:`~rtsync.tools.registry` (the registry),
:mod:`~rtsync.tools.runner` (the runner).

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
    A registry built with ``on_change`` calls it after every ``add`` and ``remove``: that is how
    a client's registry (``client.tools``) sends the new schema to an open session, so
    ``client.tools.add(fn)``, ``@client.tools.tool`` and ``client.tools.remove(name)`` are the
    same as ``client.add_tool``, ``@client.tool`` and ``client.remove_tool``.

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

from rtsync.tools.registry import RegisteredTool, ToolRegistry, tool_decorator
from rtsync.tools.runner import ToolRunner
from rtsync.tools.schema import function_schema
from rtsync.tools.validation import encode_output

__all__ = ["RegisteredTool", "ToolRegistry", "ToolRunner", "encode_output", "function_schema", "tool_decorator"]
