"""The events a client sends: the nine of the 2024-10-01 protocol and the later beta additions.

Every field defaults to :data:`UNSET` and is left out of the frame until it is set; the
server reports a missing required field with an ``error`` event. ``event_id`` is filled in by
``RealtimeClient.send()`` when it is unset.
"""

# obj_field()/list_field()/audio_field() wrap attrs.field(); RUF009 cannot see through them.
# ruff: noqa: RUF009

from __future__ import annotations

from typing import Any, ClassVar  # noqa: F401 - Any resolves attrs-made annotations for the docs

import attrs

from rtsync.events._base import UNSET, ClientEvent, audio_field, obj_field
from rtsync.events.models import Item, ResponseCreateParams, Session, TranscriptionSession

__all__ = [
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemRetrieve",
    "ConversationItemTruncate",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "OutputAudioBufferClear",
    "ResponseCancel",
    "ResponseCreate",
    "SessionUpdate",
    "TranscriptionSessionUpdate",
]


@attrs.define(kw_only=True, repr=False)
class SessionUpdate(ClientEvent):
    """``session.update``: change the session configuration (only the fields set change)."""

    type: ClassVar[str] = "session.update"
    session: Session = obj_field(Session)


@attrs.define(kw_only=True, repr=False)
class InputAudioBufferAppend(ClientEvent):
    """``input_audio_buffer.append``: add base64 audio (session input format) to the buffer."""

    type: ClassVar[str] = "input_audio_buffer.append"
    audio: str = audio_field()


@attrs.define(kw_only=True, repr=False)
class InputAudioBufferCommit(ClientEvent):
    """``input_audio_buffer.commit``: turn the buffered audio into a user message item."""

    type: ClassVar[str] = "input_audio_buffer.commit"


@attrs.define(kw_only=True, repr=False)
class InputAudioBufferClear(ClientEvent):
    """``input_audio_buffer.clear``: drop the buffered audio."""

    type: ClassVar[str] = "input_audio_buffer.clear"


@attrs.define(kw_only=True, repr=False)
class ConversationItemCreate(ClientEvent):
    """``conversation.item.create``: add an item, after ``previous_item_id`` (``"root"`` = first)."""

    type: ClassVar[str] = "conversation.item.create"
    item: Item = obj_field(Item)
    previous_item_id: str | None = UNSET


@attrs.define(kw_only=True, repr=False)
class ConversationItemTruncate(ClientEvent):
    """``conversation.item.truncate``: cut an assistant audio item at ``audio_end_ms``."""

    type: ClassVar[str] = "conversation.item.truncate"
    item_id: str = UNSET
    content_index: int = UNSET
    audio_end_ms: int = UNSET


@attrs.define(kw_only=True, repr=False)
class ConversationItemDelete(ClientEvent):
    """``conversation.item.delete``: remove an item from the conversation."""

    type: ClassVar[str] = "conversation.item.delete"
    item_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseCreate(ClientEvent):
    """``response.create``: ask the model for a response (``response`` overrides session settings)."""

    type: ClassVar[str] = "response.create"
    response: ResponseCreateParams = obj_field(ResponseCreateParams)


@attrs.define(kw_only=True, repr=False)
class ResponseCancel(ClientEvent):
    """``response.cancel``: stop the active response (or the one named by ``response_id``)."""

    type: ClassVar[str] = "response.cancel"
    response_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class ConversationItemRetrieve(ClientEvent):
    """``conversation.item.retrieve`` (later beta): fetch an item, audio included."""

    type: ClassVar[str] = "conversation.item.retrieve"
    item_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class OutputAudioBufferClear(ClientEvent):
    """``output_audio_buffer.clear`` (later beta, WebRTC only): typed, never sent by rtsync."""

    type: ClassVar[str] = "output_audio_buffer.clear"


@attrs.define(kw_only=True, repr=False)
class TranscriptionSessionUpdate(ClientEvent):
    """``transcription_session.update`` (later beta): configure a transcription-only session."""

    type: ClassVar[str] = "transcription_session.update"
    session: TranscriptionSession = obj_field(TranscriptionSession)
