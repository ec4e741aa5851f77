"""The events of the translation endpoint (``/v1/realtime/translations``, ``gpt-realtime-translate``).

A vocabulary of its own: no conversation and no responses, audio in and translated audio and
transcripts out, continuously. Several of its types share a name with conversation events
(``session.created``, ``session.update``, ``error``) but not their payloads, so every class here
says ``_type_table = "translation"`` and goes in the codec's translation table as it is defined:
``parse_event(frame, dialect="translation")`` gives these classes, while ``parse_event(frame)``
and ``dialect="ga"`` never do. The module is imported on first use of that dialect.

Client events: :class:`TranslationSessionUpdate`, :class:`TranslationInputAudioAppend`
(``session.input_audio_buffer.append``), :class:`TranslationSessionClose`.
Server events: :class:`TranslationSessionCreated`, :class:`TranslationSessionUpdated`,
:class:`TranslationInputTranscriptDelta`, :class:`TranslationOutputTranscriptDelta`,
:class:`TranslationOutputAudioDelta`, :class:`TranslationSessionClosed`,
:class:`TranslationError`. The session object: :class:`TranslationSession`.
"""

# obj_field() wraps attrs.field(); RUF009 cannot see through it.
# ruff: noqa: RUF009

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from rtsync.events._base import UNSET, ClientEvent, Model, ServerEvent, audio_field, obj_field
from rtsync.events.models import ErrorInfo, _samples

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "TranslationError",
    "TranslationInputAudioAppend",
    "TranslationInputTranscriptDelta",
    "TranslationOutputAudioDelta",
    "TranslationOutputTranscriptDelta",
    "TranslationSession",
    "TranslationSessionClose",
    "TranslationSessionClosed",
    "TranslationSessionCreated",
    "TranslationSessionUpdate",
    "TranslationSessionUpdated",
]


@attrs.define(kw_only=True, repr=False)
class TranslationSession(Model):
    """A translation session: ``{id, type: "translation", model, expires_at, audio}``.

    ``audio`` is ``{"input": {"noise_reduction": {type, strength} | None, "transcription":
    {"model": ...} | None}, "output": {"language": "es"}}`` (kept as plain dicts). A
    ``session.update`` carries only ``audio``.
    """

    id: str = UNSET
    type: str = UNSET
    model: str = UNSET
    expires_at: int = UNSET
    audio: dict[str, Any] = UNSET

    @property
    def language(self) -> str | None:
        """``audio.output.language``, or ``None`` when absent."""
        out = self.audio.get("output") if isinstance(self.audio, dict) else None
        lang = out.get("language") if isinstance(out, dict) else None
        return lang if isinstance(lang, str) else None


@attrs.define(kw_only=True, repr=False)
class _TranslationClientEvent(ClientEvent):
    _type_table: ClassVar[str | None] = "translation"


@attrs.define(kw_only=True, repr=False)
class _TranslationServerEvent(ServerEvent):
    _type_table: ClassVar[str | None] = "translation"


@attrs.define(kw_only=True, repr=False)
class TranslationSessionUpdate(_TranslationClientEvent):
    """``session.update`` (translation): change ``audio.output.language``, the source
    transcription or noise reduction (``type`` and ``model`` are fixed at connection)."""

    type: ClassVar[str] = "session.update"
    _type_table: ClassVar[str | None] = "translation"
    session: TranslationSession = obj_field(TranslationSession)


@attrs.define(kw_only=True, repr=False)
class TranslationInputAudioAppend(_TranslationClientEvent):
    """``session.input_audio_buffer.append``: base64 pcm16 24 kHz mono audio (200 ms chunks
    work best; keep appending silence while the session is open)."""

    type: ClassVar[str] = "session.input_audio_buffer.append"
    _type_table: ClassVar[str | None] = "translation"
    audio: str = audio_field()


@attrs.define(kw_only=True, repr=False)
class TranslationSessionClose(_TranslationClientEvent):
    """``session.close``: the server flushes what it has, sends ``session.closed`` and closes."""

    type: ClassVar[str] = "session.close"
    _type_table: ClassVar[str | None] = "translation"


@attrs.define(kw_only=True, repr=False)
class TranslationSessionCreated(_TranslationServerEvent):
    """``session.created`` (translation): the first event, with the default session."""

    type: ClassVar[str] = "session.created"
    _type_table: ClassVar[str | None] = "translation"
    session: TranslationSession = obj_field(TranslationSession)


@attrs.define(kw_only=True, repr=False)
class TranslationSessionUpdated(_TranslationServerEvent):
    """``session.updated`` (translation): the session after a ``session.update``."""

    type: ClassVar[str] = "session.updated"
    _type_table: ClassVar[str | None] = "translation"
    session: TranslationSession = obj_field(TranslationSession)


@attrs.define(kw_only=True, repr=False)
class TranslationInputTranscriptDelta(_TranslationServerEvent):
    """``session.input_transcript.delta``: source-language text (append-only; insert no spaces)."""

    type: ClassVar[str] = "session.input_transcript.delta"
    _type_table: ClassVar[str | None] = "translation"
    delta: str = UNSET
    elapsed_ms: int | None = UNSET


@attrs.define(kw_only=True, repr=False)
class TranslationOutputTranscriptDelta(_TranslationServerEvent):
    """``session.output_transcript.delta``: translated text (append-only; insert no spaces)."""

    type: ClassVar[str] = "session.output_transcript.delta"
    _type_table: ClassVar[str | None] = "translation"
    delta: str = UNSET
    elapsed_ms: int | None = UNSET


@attrs.define(kw_only=True, repr=False)
class TranslationOutputAudioDelta(_TranslationServerEvent):
    """``session.output_audio.delta``: a chunk of translated speech (base64 pcm16, any length)."""

    type: ClassVar[str] = "session.output_audio.delta"
    _type_table: ClassVar[str | None] = "translation"
    delta: str = audio_field()
    sample_rate: int | None = UNSET
    channels: int | None = UNSET
    format: str | None = UNSET
    elapsed_ms: int | None = UNSET

    @property
    def samples(self) -> np.ndarray:
        """The audio as an int16 numpy array, decoded on each access."""
        return _samples(self.delta)

    def audio_bytes(self) -> bytes:
        """The decoded audio bytes (empty when ``delta`` is missing or not a string)."""
        return base64.b64decode(self.delta) if isinstance(self.delta, str) else b""


@attrs.define(kw_only=True, repr=False)
class TranslationSessionClosed(_TranslationServerEvent):
    """``session.closed``: the session ended (after ``session.close``, once everything was sent)."""

    type: ClassVar[str] = "session.closed"
    _type_table: ClassVar[str | None] = "translation"


@attrs.define(kw_only=True, repr=False)
class TranslationError(_TranslationServerEvent):
    """``error`` on the translation endpoint (same envelope as the conversation ``error``)."""

    type: ClassVar[str] = "error"
    _type_table: ClassVar[str | None] = "translation"
    error: ErrorInfo = obj_field(ErrorInfo)
