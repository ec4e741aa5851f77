"""Typed events of the Realtime protocol (beta, 2024-10-01) and their JSON codec.

Every frame becomes an attrs object whose fields carry the wire names. Fields absent from the
frame hold :data:`UNSET`, unknown keys are kept in ``extra_fields``, and an unknown event type
becomes an :class:`UnknownEvent`, so ``parse_event(frame).to_dict()`` gives the frame back.

Codec:
    :func:`parse_event` (JSON text, UTF-8 bytes or a dict -> event; raises
    :class:`rtsync.errors.ProtocolError` for a frame that is not a JSON object with a string
    ``type``), :func:`dump_event`, :func:`event_class` (type -> class),
    :func:`event_types` (the whole table). Every event also has ``to_dict()`` / ``to_json()``
    and ``from_dict()``.

Bases and markers:
    :class:`Model`, :class:`Event`, :class:`ClientEvent`, :class:`ServerEvent`,
    :class:`UnknownEvent`, :data:`UNSET`, :class:`Unset`, :func:`is_set`.

Nested objects:
    :class:`Session`, :class:`TurnDetection`, :class:`InputAudioTranscription`, :class:`Tool`,
    :class:`TranscriptionSession`, :class:`Item`, :class:`ContentPart`, :class:`Response`,
    :class:`ResponseCreateParams`, :class:`ResponseStatusDetails`, :class:`Usage`,
    :class:`InputTokenDetails`, :class:`OutputTokenDetails`, :class:`ErrorInfo`,
    :class:`RateLimit`, :class:`ConversationObject`.

Client events (client -> server):
    :class:`SessionUpdate`, :class:`InputAudioBufferAppend`, :class:`InputAudioBufferCommit`,
    :class:`InputAudioBufferClear`, :class:`ConversationItemCreate`,
    :class:`ConversationItemTruncate`, :class:`ConversationItemDelete`, :class:`ResponseCreate`,
    :class:`ResponseCancel`; later beta: :class:`ConversationItemRetrieve`,
    :class:`OutputAudioBufferClear`, :class:`TranscriptionSessionUpdate`.

Server events, session and conversation:
    :class:`ErrorEvent`, :class:`SessionCreated`, :class:`SessionUpdated`,
    :class:`ConversationCreated`, :class:`ConversationItemCreated`,
    :class:`ConversationItemTruncated`, :class:`ConversationItemDeleted`,
    :class:`ConversationItemRetrieved`, :class:`RateLimitsUpdated`,
    :class:`TranscriptionSessionCreated`, :class:`TranscriptionSessionUpdated`.

Server events, input audio and its transcription:
    :class:`InputAudioBufferCommitted`, :class:`InputAudioBufferCleared`,
    :class:`InputAudioBufferSpeechStarted`, :class:`InputAudioBufferSpeechStopped`,
    :class:`InputAudioBufferTimeoutTriggered`,
    :class:`ConversationItemInputAudioTranscriptionDelta`,
    :class:`ConversationItemInputAudioTranscriptionCompleted`,
    :class:`ConversationItemInputAudioTranscriptionFailed`,
    :class:`ConversationItemInputAudioTranscriptionSegment`.

Server events, responses:
    :class:`ResponseCreated`, :class:`ResponseDone`, :class:`ResponseOutputItemAdded`,
    :class:`ResponseOutputItemDone`, :class:`ResponseContentPartAdded`,
    :class:`ResponseContentPartDone`, :class:`ResponseTextDelta`, :class:`ResponseTextDone`,
    :class:`ResponseAudioTranscriptDelta`, :class:`ResponseAudioTranscriptDone`,
    :class:`ResponseAudioDelta` (``samples``, ``audio_bytes()``), :class:`ResponseAudioDone`,
    :class:`ResponseFunctionCallArgumentsDelta`, :class:`ResponseFunctionCallArgumentsDone`.

Server events, WebRTC output buffer (typed so that recorded sessions parse):
    :class:`OutputAudioBufferStarted`, :class:`OutputAudioBufferStopped`,
    :class:`OutputAudioBufferCleared` and their early-2025 names
    :class:`OutputAudioBufferAudioStarted`, :class:`OutputAudioBufferAudioStopped`,
    :class:`OutputAudioBufferAudioCleared`.

GA-only server events (:mod:`rtsync.events.ga`):
    :class:`ConversationItemDone`,
    :class:`InputAudioBufferDtmfEventReceived`, :class:`ResponseMcpCallArgumentsDelta`,
    :class:`ResponseMcpCallArgumentsDone`, :class:`ResponseMcpCallInProgress`,
    :class:`ResponseMcpCallCompleted`, :class:`ResponseMcpCallFailed`,
    :class:`McpListToolsInProgress`, :class:`McpListToolsCompleted`, :class:`McpListToolsFailed`.

Dialects:
    rtsync's classes speak the beta vocabulary. ``parse_event(data, dialect="ga")`` translates
    GA frames into it (``event.wire`` keeps the GA dict) and :mod:`rtsync.events.dialect`
    holds every translation, both directions (:func:`client_to_ga`, :func:`event_from_ga`,
    :func:`server_to_ga`, :func:`client_from_ga`, ...).

Importing this package does not import numpy; ``ResponseAudioDelta.samples`` does, on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rtsync.events._base import UNSET, ClientEvent, Event, Model, ServerEvent, UnknownEvent, Unset, is_set
from rtsync.events.client import (
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
    TranscriptionSessionUpdate,
)
from rtsync.events.codec import dump_event, event_class, event_types, parse_event

if TYPE_CHECKING:  # loaded on first use, see __getattr__
    from rtsync.events.dialect import client_from_ga, client_to_ga, event_from_ga, server_from_ga, server_to_ga
    from rtsync.events.ga import (
        ConversationItemDone,
        InputAudioBufferDtmfEventReceived,
        McpListToolsCompleted,
        McpListToolsFailed,
        McpListToolsInProgress,
        ResponseMcpCallArgumentsDelta,
        ResponseMcpCallArgumentsDone,
        ResponseMcpCallCompleted,
        ResponseMcpCallFailed,
        ResponseMcpCallInProgress,
    )
from rtsync.events.models import (
    ContentPart,
    ConversationObject,
    ErrorInfo,
    InputAudioTranscription,
    InputTokenDetails,
    Item,
    OutputTokenDetails,
    RateLimit,
    Response,
    ResponseCreateParams,
    ResponseStatusDetails,
    Session,
    Tool,
    TranscriptionSession,
    TurnDetection,
    Usage,
)
from rtsync.events.server import (
    ConversationCreated,
    ConversationItemCreated,
    ConversationItemDeleted,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemInputAudioTranscriptionSegment,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    ErrorEvent,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioBufferTimeoutTriggered,
    OutputAudioBufferAudioCleared,
    OutputAudioBufferAudioStarted,
    OutputAudioBufferAudioStopped,
    OutputAudioBufferCleared,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    RateLimitsUpdated,
    ResponseAudioDelta,
    ResponseAudioDone,
    ResponseAudioTranscriptDelta,
    ResponseAudioTranscriptDone,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseTextDelta,
    ResponseTextDone,
    SessionCreated,
    SessionUpdated,
    TranscriptionSessionCreated,
    TranscriptionSessionUpdated,
)

__all__ = [
    "UNSET",
    "ClientEvent",
    "ContentPart",
    "ConversationCreated",
    "ConversationItemCreate",
    "ConversationItemCreated",
    "ConversationItemDelete",
    "ConversationItemDeleted",
    "ConversationItemDone",
    "ConversationItemInputAudioTranscriptionCompleted",
    "ConversationItemInputAudioTranscriptionDelta",
    "ConversationItemInputAudioTranscriptionFailed",
    "ConversationItemInputAudioTranscriptionSegment",
    "ConversationItemRetrieve",
    "ConversationItemRetrieved",
    "ConversationItemTruncate",
    "ConversationItemTruncated",
    "ConversationObject",
    "ErrorEvent",
    "ErrorInfo",
    "Event",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCleared",
    "InputAudioBufferCommit",
    "InputAudioBufferCommitted",
    "InputAudioBufferDtmfEventReceived",
    "InputAudioBufferSpeechStarted",
    "InputAudioBufferSpeechStopped",
    "InputAudioBufferTimeoutTriggered",
    "InputAudioTranscription",
    "InputTokenDetails",
    "Item",
    "McpListToolsCompleted",
    "McpListToolsFailed",
    "McpListToolsInProgress",
    "Model",
    "OutputAudioBufferAudioCleared",
    "OutputAudioBufferAudioStarted",
    "OutputAudioBufferAudioStopped",
    "OutputAudioBufferClear",
    "OutputAudioBufferCleared",
    "OutputAudioBufferStarted",
    "OutputAudioBufferStopped",
    "OutputTokenDetails",
    "RateLimit",
    "RateLimitsUpdated",
    "Response",
    "ResponseAudioDelta",
    "ResponseAudioDone",
    "ResponseAudioTranscriptDelta",
    "ResponseAudioTranscriptDone",
    "ResponseCancel",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreate",
    "ResponseCreateParams",
    "ResponseCreated",
    "ResponseDone",
    "ResponseFunctionCallArgumentsDelta",
    "ResponseFunctionCallArgumentsDone",
    "ResponseMcpCallArgumentsDelta",
    "ResponseMcpCallArgumentsDone",
    "ResponseMcpCallCompleted",
    "ResponseMcpCallFailed",
    "ResponseMcpCallInProgress",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ResponseStatusDetails",
    "ResponseTextDelta",
    "ResponseTextDone",
    "ServerEvent",
    "Session",
    "SessionCreated",
    "SessionUpdate",
    "SessionUpdated",
    "Tool",
    "TranscriptionSession",
    "TranscriptionSessionCreated",
    "TranscriptionSessionUpdate",
    "TranscriptionSessionUpdated",
    "TurnDetection",
    "UnknownEvent",
    "Unset",
    "Usage",
    "client_from_ga",
    "client_to_ga",
    "dump_event",
    "event_class",
    "event_from_ga",
    "event_types",
    "is_set",
    "parse_event",
    "server_from_ga",
    "server_to_ga",
]


# Loaded on first use (``import rtsync`` stays light): the GA-only classes, which register in the
# codec's GA table as their module is imported, and the dialect translations.
_GA_NAMES = frozenset({
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
})
_DIALECT_NAMES = frozenset({"client_from_ga", "client_to_ga", "event_from_ga", "server_from_ga", "server_to_ga"})


def __getattr__(name: str) -> Any:
    if name in _GA_NAMES:
        from rtsync.events import ga

        return getattr(ga, name)
    if name in _DIALECT_NAMES:
        from rtsync.events import dialect

        return getattr(dialect, name)
    raise AttributeError(f"module 'rtsync.events' has no attribute {name!r}")
