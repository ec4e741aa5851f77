"""Nested value objects of the protocol: session, item, content part, response and friends.

Every field defaults to :data:`UNSET` (absent on the wire) and every class keeps unknown keys
in ``extra_fields``, so the objects round-trip losslessly. Free-form JSON (tool ``parameters``,
``metadata``, ``tracing``...) stays a plain dict. Field names are the wire names.
"""

# obj_field()/list_field()/audio_field() wrap attrs.field(); RUF009 cannot see through them.
# ruff: noqa: RUF009

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import attrs

from rtsync.events._base import UNSET, Model, audio_field, list_field, obj_field

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ContentPart",
    "ConversationObject",
    "ErrorInfo",
    "InputAudioTranscription",
    "InputTokenDetails",
    "Item",
    "OutputTokenDetails",
    "RateLimit",
    "Response",
    "ResponseCreateParams",
    "ResponseStatusDetails",
    "Session",
    "Tool",
    "TranscriptionSession",
    "TurnDetection",
    "Usage",
]


@attrs.define(kw_only=True, repr=False)
class TurnDetection(Model):
    """``session.turn_detection``: server VAD (or semantic VAD) settings."""

    type: str = UNSET
    threshold: float = UNSET
    prefix_padding_ms: int = UNSET
    silence_duration_ms: int = UNSET
    create_response: bool = UNSET
    interrupt_response: bool = UNSET
    eagerness: str = UNSET
    idle_timeout_ms: int | None = UNSET


@attrs.define(kw_only=True, repr=False)
class InputAudioTranscription(Model):
    """``session.input_audio_transcription``: the separate speech-to-text pass on user audio."""

    model: str = UNSET
    language: str | None = UNSET
    prompt: str | None = UNSET
    delay: str | None = UNSET
    keywords: list[str] | None = UNSET
    languages: list[str] | None = UNSET


@attrs.define(kw_only=True, repr=False)
class Tool(Model):
    """A function tool: ``{type: "function", name, description, parameters}``."""

    type: str = UNSET
    name: str = UNSET
    description: str = UNSET
    parameters: dict[str, Any] = UNSET


@attrs.define(kw_only=True, repr=False)
class Session(Model):
    """The session configuration (``session.update``) and state (``session.created/updated``).

    In ``session.update`` every field is optional and only the fields set are changed.
    ``voice`` is a built-in name or a custom voice ``{"id": "voice_..."}``; ``reasoning``
    (``{"effort": ...}``) and ``parallel_tool_calls`` are for reasoning models.
    """

    id: str = UNSET
    object: str = UNSET
    model: str = UNSET
    expires_at: int = UNSET
    modalities: list[str] = UNSET
    instructions: str = UNSET
    voice: str | dict[str, Any] = UNSET
    input_audio_format: str = UNSET
    output_audio_format: str = UNSET
    input_audio_transcription: InputAudioTranscription | None = obj_field(InputAudioTranscription)
    turn_detection: TurnDetection | None = obj_field(TurnDetection)
    tools: list[Tool] = list_field(Tool)
    tool_choice: str | dict[str, Any] = UNSET
    temperature: float = UNSET
    max_response_output_tokens: int | str = UNSET
    input_audio_noise_reduction: dict[str, Any] | None = UNSET
    speed: float = UNSET
    tracing: str | dict[str, Any] | None = UNSET
    client_secret: dict[str, Any] | None = UNSET
    include: list[str] | None = UNSET
    prompt: dict[str, Any] | None = UNSET
    reasoning: dict[str, Any] | None = UNSET
    parallel_tool_calls: bool = UNSET


@attrs.define(kw_only=True, repr=False)
class TranscriptionSession(Model):
    """A transcription-only session (``transcription_session.update/created/updated``)."""

    id: str = UNSET
    object: str = UNSET
    expires_at: int = UNSET
    modalities: list[str] = UNSET
    input_audio_format: str = UNSET
    input_audio_transcription: InputAudioTranscription | None = obj_field(InputAudioTranscription)
    turn_detection: TurnDetection | None = obj_field(TurnDetection)
    input_audio_noise_reduction: dict[str, Any] | None = UNSET
    include: list[str] | None = UNSET
    client_secret: dict[str, Any] | None = UNSET


@attrs.define(kw_only=True, repr=False)
class ContentPart(Model):
    """One content part of a message item (``input_text``, ``input_audio``, ``text``, ``audio``).

    ``audio`` (base64) appears only on parts a client sends and in ``conversation.item.retrieved``.
    """

    type: str = UNSET
    text: str = UNSET
    audio: str = audio_field()
    transcript: str | None = UNSET
    id: str = UNSET

    def audio_bytes(self) -> bytes:
        """The decoded ``audio`` bytes (empty when the part carries none)."""
        return base64.b64decode(self.audio) if isinstance(self.audio, str) else b""


@attrs.define(kw_only=True, repr=False)
class Item(Model):
    """A conversation item: a ``message``, a ``function_call`` or a ``function_call_output``.

    In ``response.create``'s ``input`` an item may also be ``Item(type="item_reference", id=...)``.
    The assistant messages of reasoning models carry ``phase``: ``"commentary"`` for a preamble,
    ``"final_answer"`` for the answer.
    """

    id: str = UNSET
    object: str = UNSET
    type: str = UNSET
    status: str = UNSET
    role: str = UNSET
    content: list[ContentPart] = list_field(ContentPart)
    call_id: str = UNSET
    name: str = UNSET
    arguments: str = UNSET
    output: str = UNSET
    phase: str = UNSET

    @classmethod
    def user_text(cls, text: str, **kw: Any) -> Item:
        """A user message with one ``input_text`` part."""
        return cls(type="message", role="user", content=[ContentPart(type="input_text", text=text)], **kw)

    @classmethod
    def system_text(cls, text: str, **kw: Any) -> Item:
        """A system message with one ``input_text`` part."""
        return cls(type="message", role="system", content=[ContentPart(type="input_text", text=text)], **kw)

    @classmethod
    def assistant_text(cls, text: str, **kw: Any) -> Item:
        """An assistant message with one ``text`` part (the only content a client may create)."""
        return cls(type="message", role="assistant", content=[ContentPart(type="text", text=text)], **kw)

    @classmethod
    def function_output(cls, call_id: str, output: str, **kw: Any) -> Item:
        """A ``function_call_output`` item answering the call ``call_id``."""
        return cls(type="function_call_output", call_id=call_id, output=output, **kw)

    @property
    def text(self) -> str:
        """The concatenated text (or audio transcript) of the item's content parts."""
        if not isinstance(self.content, list):
            return ""
        out = []
        for part in self.content:
            if isinstance(part, ContentPart):
                if isinstance(part.text, str):
                    out.append(part.text)
                elif isinstance(part.transcript, str):
                    out.append(part.transcript)
        return "".join(out)


@attrs.define(kw_only=True, repr=False)
class ErrorInfo(Model):
    """The ``error`` object of an ``error`` event (and of a failed response's status details)."""

    type: str = UNSET
    code: str | None = UNSET
    message: str = UNSET
    param: str | None = UNSET
    event_id: str | None = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseStatusDetails(Model):
    """Why a response ended as it did: ``{type, reason, error}``."""

    type: str = UNSET
    reason: str = UNSET
    error: ErrorInfo | None = obj_field(ErrorInfo)


@attrs.define(kw_only=True, repr=False)
class InputTokenDetails(Model):
    """``usage.input_token_details``."""

    cached_tokens: int = UNSET
    text_tokens: int = UNSET
    audio_tokens: int = UNSET
    cached_tokens_details: dict[str, Any] = UNSET


@attrs.define(kw_only=True, repr=False)
class OutputTokenDetails(Model):
    """``usage.output_token_details``."""

    text_tokens: int = UNSET
    audio_tokens: int = UNSET


@attrs.define(kw_only=True, repr=False)
class Usage(Model):
    """Token usage of one response (``response.done``)."""

    total_tokens: int = UNSET
    input_tokens: int = UNSET
    output_tokens: int = UNSET
    input_token_details: InputTokenDetails = obj_field(InputTokenDetails)
    output_token_details: OutputTokenDetails = obj_field(OutputTokenDetails)


@attrs.define(kw_only=True, repr=False)
class Response(Model):
    """The response object of ``response.created`` / ``response.done``."""

    object: str = UNSET
    id: str = UNSET
    status: str = UNSET
    status_details: ResponseStatusDetails | None = obj_field(ResponseStatusDetails)
    output: list[Item] = list_field(Item)
    conversation_id: str | None = UNSET
    modalities: list[str] = UNSET
    voice: str = UNSET
    output_audio_format: str = UNSET
    temperature: float = UNSET
    max_output_tokens: int | str = UNSET
    usage: Usage | None = obj_field(Usage)
    metadata: dict[str, Any] | None = UNSET


@attrs.define(kw_only=True, repr=False)
class ResponseCreateParams(Model):
    """``response.create.response``: per-response overrides of the session settings."""

    modalities: list[str] = UNSET
    instructions: str = UNSET
    voice: str | dict[str, Any] = UNSET
    output_audio_format: str = UNSET
    tools: list[Tool] = list_field(Tool)
    tool_choice: str | dict[str, Any] = UNSET
    temperature: float = UNSET
    max_response_output_tokens: int | str = UNSET
    conversation: str = UNSET
    metadata: dict[str, Any] | None = UNSET
    input: list[Item] = list_field(Item)
    reasoning: dict[str, Any] | None = UNSET
    parallel_tool_calls: bool = UNSET


@attrs.define(kw_only=True, repr=False)
class RateLimit(Model):
    """One entry of ``rate_limits.updated``."""

    name: str = UNSET
    limit: int = UNSET
    remaining: int = UNSET
    reset_seconds: float = UNSET


@attrs.define(kw_only=True, repr=False)
class ConversationObject(Model):
    """The ``conversation`` object of ``conversation.created``."""

    id: str = UNSET
    object: str = UNSET


def _samples(b64: object) -> np.ndarray:
    """Decode base64 pcm16 (little-endian) to an int16 numpy array; numpy is imported here."""
    import numpy as np

    if not isinstance(b64, str):
        return np.zeros(0, dtype=np.int16)
    raw = base64.b64decode(b64)
    if len(raw) % 2:
        raw = raw[:-1]
    return np.frombuffer(raw, dtype="<i2")
