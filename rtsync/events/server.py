"""The events a server sends: the 2024-10-01 protocol and the later beta additions.

One class per event type. Every field defaults to :data:`UNSET` (absent from the frame), keys
the class does not declare are kept in ``extra_fields``, and nested objects are typed
(:class:`Session`, :class:`Item`, :class:`Response`...) when they arrive as JSON objects and
kept raw otherwise, so ``parse_event(x).to_dict() == x``. Field names are the wire names.

The WebRTC-only ``output_audio_buffer.*`` events (and their early-2025 names
``output_audio_buffer.audio_*``) are typed so that recorded sessions parse, although a
WebSocket connection never receives them.
"""

# obj_field()/list_field()/audio_field() wrap attrs.field(); RUF009 cannot see through them.
# ruff: noqa: RUF009

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from rtsync.events._base import UNSET, ServerEvent, audio_field, list_field, obj_field
from rtsync.events.models import (
    ContentPart,
    ConversationObject,
    ErrorInfo,
    Item,
    RateLimit,
    Response,
    Session,
    TranscriptionSession,
    _samples,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ConversationCreated",
    "ConversationItemCreated",
    "ConversationItemDeleted",
    "ConversationItemInputAudioTranscriptionCompleted",
    "ConversationItemInputAudioTranscriptionDelta",
    "ConversationItemInputAudioTranscriptionFailed",
    "ConversationItemInputAudioTranscriptionSegment",
    "ConversationItemRetrieved",
    "ConversationItemTruncated",
    "ErrorEvent",
    "InputAudioBufferCleared",
    "InputAudioBufferCommitted",
    "InputAudioBufferSpeechStarted",
    "InputAudioBufferSpeechStopped",
    "InputAudioBufferTimeoutTriggered",
    "OutputAudioBufferAudioCleared",
    "OutputAudioBufferAudioStarted",
    "OutputAudioBufferAudioStopped",
    "OutputAudioBufferCleared",
    "OutputAudioBufferStarted",
    "OutputAudioBufferStopped",
    "RateLimitsUpdated",
    "ResponseAudioDelta",
    "ResponseAudioDone",
    "ResponseAudioTranscriptDelta",
    "ResponseAudioTranscriptDone",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreated",
    "ResponseDone",
    "ResponseFunctionCallArgumentsDelta",
    "ResponseFunctionCallArgumentsDone",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ResponseTextDelta",
    "ResponseTextDone",
    "SessionCreated",
    "SessionUpdated",
    "TranscriptionSessionCreated",
    "TranscriptionSessionUpdated",
]


@attrs.define(kw_only=True, repr=False)
class ErrorEvent(ServerEvent):
    """``error``: the server rejected a client event or hit a problem (not fatal to the session)."""

    type: ClassVar[str] = "error"
    error: ErrorInfo = obj_field(ErrorInfo)


@attrs.define(kw_only=True, repr=False)
class SessionCreated(ServerEvent):
    """``session.created``: the first event on every connection, with the server's default session."""

    type: ClassVar[str] = "session.created"
    session: Session = obj_field(Session)


@attrs.define(kw_only=True, repr=False)
class SessionUpdated(ServerEvent):
    """``session.updated``: the full effective session after a ``session.update``."""

    type: ClassVar[str] = "session.updated"
    session: Session = obj_field(Session)


@attrs.define(kw_only=True, repr=False)
class ConversationCreated(ServerEvent):
    """``conversation.created``: documented right after session creation, never seen in practice."""

    type: ClassVar[str] = "conversation.created"
    conversation: ConversationObject = obj_field(ConversationObject)


@attrs.define(kw_only=True, repr=False)
class ConversationItemCreated(ServerEvent):
    """``conversation.item.created``: an item joined the conversation (client, committed audio or model)."""

    type: ClassVar[str] = "conversation.item.created"
    previous_item_id: str | None = UNSET
    item: Item = obj_field(Item)


@attrs.define(kw_only=True, repr=False)
class ConversationItemInputAudioTranscriptionCompleted(ServerEvent):
    """``conversation.item.input_audio_transcription.completed``: a user audio transcript (asynchronous)."""

    type: ClassVar[str] = "conversation.item.input_audio_transcription.completed"
    item_id: str = UNSET
    content_index: int = UNSET
    transcript: str = UNSET
    usage: dict[str, Any] = UNSET
    logprobs: list[dict[str, Any]] | None = UNSET


@attrs.define(kw_only=True, repr=False)
class ConversationItemInputAudioTranscriptionDelta(ServerEvent):
    """``conversation.item.input_audio_transcription.delta`` (later beta): part of a user transcript."""

    type: ClassVar[str] = "conversation.item.input_audio_transcription.delta"
    item_id: str = UNSET
    content_index: int = UNSET
    delta: str = UNSET
    logprobs: list[dict[str, Any]] | None = UNSET


@attrs.define(kw_only=True, repr=False)
class ConversationItemInputAudioTranscriptionFailed(ServerEvent):
    """``conversation.item.input_audio_transcription.failed``: transcribing a user audio item failed."""

    type: ClassVar[str] = "conversation.item.input_audio_transcription.failed"
    item_id: str = UNSET
    content_index: int = UNSET
    error: ErrorInfo = obj_field(ErrorInfo)


@attrs.define(kw_only=True, repr=False)
class ConversationItemInputAudioTranscriptionSegment(ServerEvent):
    """``conversation.item.input_audio_transcription.segment`` (late beta): one diarized segment."""

    type: ClassVar[str] = "conversation.item.input_audio_transcription.segment"
    item_id: str = UNSET
    content_index: int = UNSET
    text: str = UNSET
    id: str = UNSET
    speaker: str = UNSET
    start: float = UNSET
    end: float = UNSET


@attrs.define(kw_only=True, repr=False)
class ConversationItemTruncated(ServerEvent):
    """``conversation.item.truncated``: an assistant audio item was cut at ``audio_end_ms``."""

    type: ClassVar[str] = "conversation.item.truncated"
    item_id: str = UNSET
    content_index: int = UNSET
    audio_end_ms: int = UNSET


@attrs.define(kw_only=True, repr=False)
class ConversationItemDeleted(ServerEvent):
    """``conversation.item.deleted``: an item was removed, in reply to ``conversation.item.delete``."""

    type: ClassVar[str] = "conversation.item.deleted"
    item_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class ConversationItemRetrieved(ServerEvent):
    """``conversation.item.retrieved`` (later beta): a full item, audio included, after a retrieve."""

    type: ClassVar[str] = "conversation.item.retrieved"
    item: Item = obj_field(Item)


@attrs.define(kw_only=True, repr=False)
class InputAudioBufferCommitted(ServerEvent):
    """``input_audio_buffer.committed``: the buffered audio became a user item (client or server VAD)."""

    type: ClassVar[str] = "input_audio_buffer.committed"
    previous_item_id: str | None = UNSET
    item_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class InputAudioBufferCleared(ServerEvent):
    """``input_audio_buffer.cleared``: the input audio buffer was emptied after a clear."""

    type: ClassVar[str] = "input_audio_buffer.cleared"


@attrs.define(kw_only=True, repr=False)
class InputAudioBufferSpeechStarted(ServerEvent):
    """``input_audio_buffer.speech_started``: server VAD heard speech begin at ``audio_start_ms``."""

    type: ClassVar[str] = "input_audio_buffer.speech_started"
    audio_start_ms: int = UNSET
    item_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class InputAudioBufferSpeechStopped(ServerEvent):
    """``input_audio_buffer.speech_stopped``: server VAD heard speech end; a commit follows."""

    type: ClassVar[str] = "input_audio_buffer.speech_stopped"
    audio_end_ms: int = UNSET
    item_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class InputAudioBufferTimeoutTriggered(ServerEvent):
    """``input_audio_buffer.timeout_triggered`` (late beta): server VAD's ``idle_timeout_ms`` ran out."""

    type: ClassVar[str] = "input_audio_buffer.timeout_triggered"
    audio_start_ms: int = UNSET
    audio_end_ms: int = UNSET
    item_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseCreated(ServerEvent):
    """``response.created``: a response started (status ``in_progress``, no output yet)."""

    type: ClassVar[str] = "response.created"
    response: Response = obj_field(Response)


@attrs.define(kw_only=True, repr=False)
class ResponseDone(ServerEvent):
    """``response.done``: a response ended, whatever its final status, with all output items and usage."""

    type: ClassVar[str] = "response.done"
    response: Response = obj_field(Response)


@attrs.define(kw_only=True, repr=False)
class ResponseOutputItemAdded(ServerEvent):
    """``response.output_item.added``: a response began a new output item (status ``in_progress``)."""

    type: ClassVar[str] = "response.output_item.added"
    response_id: str = UNSET
    output_index: int = UNSET
    item: Item = obj_field(Item)


@attrs.define(kw_only=True, repr=False)
class ResponseOutputItemDone(ServerEvent):
    """``response.output_item.done``: an output item is complete (or ``incomplete``)."""

    type: ClassVar[str] = "response.output_item.done"
    response_id: str = UNSET
    output_index: int = UNSET
    item: Item = obj_field(Item)


@attrs.define(kw_only=True, repr=False)
class ResponseContentPartAdded(ServerEvent):
    """``response.content_part.added``: a message output item began a new content part."""

    type: ClassVar[str] = "response.content_part.added"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    content_index: int = UNSET
    part: ContentPart = obj_field(ContentPart)


@attrs.define(kw_only=True, repr=False)
class ResponseContentPartDone(ServerEvent):
    """``response.content_part.done``: a content part is complete (full text or transcript, no audio)."""

    type: ClassVar[str] = "response.content_part.done"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    content_index: int = UNSET
    part: ContentPart = obj_field(ContentPart)


@attrs.define(kw_only=True, repr=False)
class ResponseTextDelta(ServerEvent):
    """``response.text.delta``: a piece of the model's text output."""

    type: ClassVar[str] = "response.text.delta"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    content_index: int = UNSET
    delta: str = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseTextDone(ServerEvent):
    """``response.text.done``: a text content part is finished; ``text`` is the whole of it."""

    type: ClassVar[str] = "response.text.done"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    content_index: int = UNSET
    text: str = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseAudioTranscriptDelta(ServerEvent):
    """``response.audio_transcript.delta``: a piece of the transcript of the model's audio output."""

    type: ClassVar[str] = "response.audio_transcript.delta"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    content_index: int = UNSET
    delta: str = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseAudioTranscriptDone(ServerEvent):
    """``response.audio_transcript.done``: the transcript of an audio content part is finished."""

    type: ClassVar[str] = "response.audio_transcript.done"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    content_index: int = UNSET
    transcript: str = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseAudioDelta(ServerEvent):
    """``response.audio.delta``: a chunk of the model's audio (base64, in ``output_audio_format``).

    Attributes:
        delta: the base64 audio as received; decode it with :attr:`samples` or
            :meth:`audio_bytes` (nothing is decoded while parsing).
    """

    type: ClassVar[str] = "response.audio.delta"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    content_index: int = UNSET
    delta: str = audio_field()

    @property
    def samples(self) -> np.ndarray:
        """The audio as an int16 numpy array (pcm16 little-endian), decoded on each access.

        Meaningful for ``pcm16`` output only; an odd trailing byte is dropped and a missing
        ``delta`` gives an empty array.
        """
        return _samples(self.delta)

    def audio_bytes(self) -> bytes:
        """The decoded audio bytes (empty when ``delta`` is missing or not a string)."""
        return base64.b64decode(self.delta) if isinstance(self.delta, str) else b""


@attrs.define(kw_only=True, repr=False)
class ResponseAudioDone(ServerEvent):
    """``response.audio.done``: the model's audio for a content part is finished (no payload)."""

    type: ClassVar[str] = "response.audio.done"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    content_index: int = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseFunctionCallArgumentsDelta(ServerEvent):
    """``response.function_call_arguments.delta``: a fragment of a function call's JSON arguments."""

    type: ClassVar[str] = "response.function_call_arguments.delta"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    call_id: str = UNSET
    delta: str = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseFunctionCallArgumentsDone(ServerEvent):
    """``response.function_call_arguments.done``: a function call's arguments are complete."""

    type: ClassVar[str] = "response.function_call_arguments.done"
    response_id: str = UNSET
    item_id: str = UNSET
    output_index: int = UNSET
    call_id: str = UNSET
    arguments: str = UNSET
    name: str = UNSET


@attrs.define(kw_only=True, repr=False)
class RateLimitsUpdated(ServerEvent):
    """``rate_limits.updated``: current rate limits, sent around each response (the list may be empty)."""

    type: ClassVar[str] = "rate_limits.updated"
    rate_limits: list[RateLimit] = list_field(RateLimit)


@attrs.define(kw_only=True, repr=False)
class OutputAudioBufferStarted(ServerEvent):
    """``output_audio_buffer.started`` (WebRTC): the server began playing a response's audio."""

    type: ClassVar[str] = "output_audio_buffer.started"
    response_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class OutputAudioBufferStopped(ServerEvent):
    """``output_audio_buffer.stopped`` (WebRTC): the server finished playing a response's audio."""

    type: ClassVar[str] = "output_audio_buffer.stopped"
    response_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class OutputAudioBufferCleared(ServerEvent):
    """``output_audio_buffer.cleared`` (WebRTC): the server dropped the audio not yet played."""

    type: ClassVar[str] = "output_audio_buffer.cleared"
    response_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class OutputAudioBufferAudioStarted(ServerEvent):
    """``output_audio_buffer.audio_started`` (WebRTC, early-2025 name of ``output_audio_buffer.started``)."""

    type: ClassVar[str] = "output_audio_buffer.audio_started"
    response_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class OutputAudioBufferAudioStopped(ServerEvent):
    """``output_audio_buffer.audio_stopped`` (WebRTC, early-2025 name of ``output_audio_buffer.stopped``)."""

    type: ClassVar[str] = "output_audio_buffer.audio_stopped"
    response_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class OutputAudioBufferAudioCleared(ServerEvent):
    """``output_audio_buffer.audio_cleared`` (WebRTC, early-2025 name of ``output_audio_buffer.cleared``)."""

    type: ClassVar[str] = "output_audio_buffer.audio_cleared"
    response_id: str = UNSET


@attrs.define(kw_only=True, repr=False)
class TranscriptionSessionCreated(ServerEvent):
    """``transcription_session.created`` (later beta): the first event of a transcription-only connection."""

    type: ClassVar[str] = "transcription_session.created"
    session: TranscriptionSession = obj_field(TranscriptionSession)


@attrs.define(kw_only=True, repr=False)
class TranscriptionSessionUpdated(ServerEvent):
    """``transcription_session.updated`` (later beta): the effective config after an update."""

    type: ClassVar[str] = "transcription_session.updated"
    session: TranscriptionSession = obj_field(TranscriptionSession)
