"""Events that exist only in the GA protocol (no 2024-10-01 beta counterpart).

Each class says ``_type_table = "ga"``, so it goes in the codec's GA type table as it is
defined, not in the beta one: with ``parse_event(data)`` (dialect ``"beta"``) their frames stay
:class:`~rtsync.events.UnknownEvent` as before, with ``parse_event(data, dialect="ga")`` they
get these classes. Together with the renamed events (which become their beta classes, see
:mod:`rtsync.events.dialect`) every server event type of the GA protocol is typed in dialect
``"ga"``.

``conversation.item.added`` becomes the beta :class:`~rtsync.events.ConversationItemCreated`
(same meaning: an item entered the conversation); ``conversation.item.done`` (the item in its
final state) has no beta equivalent and gets :class:`ConversationItemDone`, with its item
content types translated (``output_text`` -> ``text``, ``output_audio`` -> ``audio``).

The GA protocol has no client event that the beta protocol lacks (the eleven GA client events
all have beta classes in :mod:`rtsync.events.client`), so this module holds server events only.
"""

# obj_field() wraps attrs.field(); RUF009 cannot see through it.
# ruff: noqa: RUF009

from __future__ import annotations

from typing import Any, ClassVar  # noqa: F401 - Any resolves attrs-made annotations for the docs

import attrs

from rtsync.events._base import UNSET, ServerEvent, obj_field
from rtsync.events.models import Item

__all__ = [
    "ConversationItemDone",
    "InputAudioBufferDtmfEventReceived",
    "McpListToolsCompleted",
    "McpListToolsFailed",
    "McpListToolsInProgress",
    "ResponseMcpCallArgumentsDelta",
    "ResponseMcpCallArgumentsDone",
    "ResponseMcpCallCompleted",
    "ResponseMcpCallFailed",
    "ResponseMcpCallInProgress",
]


@attrs.define(kw_only=True, repr=False)
class ConversationItemDone(ServerEvent):
    """``conversation.item.done`` (GA): an item is final (full content, audio bytes omitted)."""

    type: ClassVar[str] = "conversation.item.done"
    _type_table: ClassVar[str | None] = "ga"
    previous_item_id: str | None = UNSET
    item: Item = obj_field(Item)


@attrs.define(kw_only=True, repr=False)
class InputAudioBufferDtmfEventReceived(ServerEvent):
    """``input_audio_buffer.dtmf_event_received`` (GA, SIP only): a keypad tone was received."""

    type: ClassVar[str] = "input_audio_buffer.dtmf_event_received"
    _type_table: ClassVar[str | None] = "ga"
    event: str = UNSET
    received_at: int = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseMcpCallArgumentsDelta(ServerEvent):
    """``response.mcp_call_arguments.delta`` (GA): a fragment of an MCP tool call's arguments."""

    type: ClassVar[str] = "response.mcp_call_arguments.delta"
    _type_table: ClassVar[str | None] = "ga"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    delta: str = UNSET
    obfuscation: str | None = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseMcpCallArgumentsDone(ServerEvent):
    """``response.mcp_call_arguments.done`` (GA): an MCP tool call's arguments are complete."""

    type: ClassVar[str] = "response.mcp_call_arguments.done"
    _type_table: ClassVar[str | None] = "ga"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    arguments: str = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseMcpCallInProgress(ServerEvent):
    """``response.mcp_call.in_progress`` (GA): the server started an MCP tool call."""

    type: ClassVar[str] = "response.mcp_call.in_progress"
    _type_table: ClassVar[str | None] = "ga"
    item_id: str = UNSET
    output_index: int = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseMcpCallCompleted(ServerEvent):
    """``response.mcp_call.completed`` (GA): an MCP tool call finished."""

    type: ClassVar[str] = "response.mcp_call.completed"
    _type_table: ClassVar[str | None] = "ga"
    item_id: str = UNSET
    output_index: int = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseMcpCallFailed(ServerEvent):
    """``response.mcp_call.failed`` (GA): an MCP tool call failed."""

    type: ClassVar[str] = "response.mcp_call.failed"
    _type_table: ClassVar[str | None] = "ga"
    item_id: str = UNSET
    output_index: int = UNSET


@attrs.define(kw_only=True, repr=False)
class McpListToolsInProgress(ServerEvent):
    """``mcp_list_tools.in_progress`` (GA): the server is listing an MCP server's tools."""

    type: ClassVar[str] = "mcp_list_tools.in_progress"
    _type_table: ClassVar[str | None] = "ga"
    item_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class McpListToolsCompleted(ServerEvent):
    """``mcp_list_tools.completed`` (GA): an MCP server's tools were listed."""

    type: ClassVar[str] = "mcp_list_tools.completed"
    _type_table: ClassVar[str | None] = "ga"
    item_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class McpListToolsFailed(ServerEvent):
    """``mcp_list_tools.failed`` (GA): listing an MCP server's tools failed."""

    type: ClassVar[str] = "mcp_list_tools.failed"
    _type_table: ClassVar[str | None] = "ga"
    item_id: str = UNSET
