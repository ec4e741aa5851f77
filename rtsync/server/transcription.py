"""Transcription sessions of the local server (live captions): ``/v1/realtime?intent=transcription``.

A transcription session has an input audio buffer (append, commit, clear, server VAD) and no
conversation model: each committed turn, by an explicit ``input_audio_buffer.commit`` or by
server VAD at the end of speech, is answered with

* ``input_audio_buffer.committed`` (``item_id``, ``previous_item_id``),
* ``conversation.item.input_audio_transcription.delta`` events, whose deltas join to the
  transcript ``[speech N.N s]`` (N.N: the turn's length; the server has no recogniser),
* ``conversation.item.input_audio_transcription.completed`` with that transcript and
  ``usage: {"type": "duration", "seconds": N.N}``.

No items are created and no responses are generated. The session is configured with
``transcription_session.update`` (beta) or, in GA, ``session.update`` with
``session.type == "transcription"``; it is answered with ``transcription_session.updated``
(GA: ``session.updated`` carrying the transcription session). A realtime ``session.update``
(GA ``type: "realtime"``, or any beta ``session.update``) and the conversation events
(``conversation.item.*``, ``response.*``) are refused with an ``error``; the session goes on.

The connection, the GA boundary and the audio buffer are those of
:class:`~rtsync.server.session.RealtimeSession`; this class changes the session object, the
handler table and what a commit does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from rtsync.server.input_audio import InputAudio
from rtsync.server.session import RealtimeSession
from rtsync.server.store import ItemStore, input_audio_seconds
from rtsync.server.validation import SERVER_VAD_DEFAULTS, ClientError, check_session_update
from rtsync.server.wire import Emit, Gone, new_id

__all__ = ["DEFAULT_TRANSCRIPTION_MODEL", "TRANSCRIPTION_EVENT_TYPES", "TranscriptionSession"]

#: The transcription model of a new session (a current one; see ``rtsync.transcribe``).
DEFAULT_TRANSCRIPTION_MODEL = "gpt-transcribe"
#: Client event types a transcription session accepts (beta vocabulary).
TRANSCRIPTION_EVENT_TYPES = (
    "transcription_session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
)
_SESSION_SECONDS = 1800
_TRANSCRIPTION_KEYS = frozenset(
    {"input_audio_format", "input_audio_transcription", "turn_detection", "input_audio_noise_reduction",
     "include", "client_secret", "modalities"}
)


class _NoResponses:
    """The responses of a transcription session: there are none (VAD neither cancels nor starts any)."""

    def interrupt(self, reason: str) -> None:
        return None

    def create(self, event: dict[str, Any]) -> None:
        return None

    def cancel_all(self) -> list[threading.Thread]:
        return []


class _TranscriptionInput(InputAudio):
    """The input buffer of a transcription session: a commit is transcribed, no item is created."""

    def _commit(self, audio: bytes, item_id: str) -> None:
        seconds = input_audio_seconds(audio, self._bytes_per_ms())
        previous = self._store.last_id()
        self._store.insert({"id": item_id, "type": "message", "role": "user", "content": []}, None, None)
        self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        helper = threading.Thread(
            target=self._caption, args=(item_id, seconds),
            name=f"rtsync-server-transcribe-{len(self._helpers) + 1}", daemon=True,
        )
        self._helpers = [t for t in self._helpers if t.is_alive()]
        self._helpers.append(helper)
        if self._on_thread is not None:
            self._on_thread(helper)
        helper.start()

    def _caption(self, item_id: str, seconds: float) -> None:
        transcript = f"[speech {seconds:.1f} s]"
        envelope = {"item_id": item_id, "content_index": 0}
        words = transcript.split(" ")
        try:
            for i, word in enumerate(words):  # append-only fragments that join to the transcript
                with self._lock:
                    self._emit("conversation.item.input_audio_transcription.delta", **envelope,
                               delta=word if i == len(words) - 1 else word + " ")
            with self._lock:
                self._emit("conversation.item.input_audio_transcription.completed", **envelope,
                           transcript=transcript, usage={"type": "duration", "seconds": round(seconds, 3)})
        except Gone:
            pass


class TranscriptionSession(RealtimeSession):
    """Protocol state of one transcription connection (see the module docstring).

    Args:
        send_text: sends one text frame (as for :class:`RealtimeSession`).
        on_thread: called with every transcription thread before it starts.
        dialect: ``"beta"`` or ``"ga"``.
    """

    def __init__(
        self,
        send_text: Callable[[str], None],
        *,
        on_thread: Callable[[threading.Thread], None] | None = None,
        dialect: str = "ga",
    ) -> None:
        super().__init__(send_text, model=DEFAULT_TRANSCRIPTION_MODEL, on_thread=on_thread, dialect=dialect)
        vad = dict(SERVER_VAD_DEFAULTS)
        vad.pop("create_response")
        vad.pop("interrupt_response")
        self.session = {
            "id": new_id("sess"),
            "object": "realtime.transcription_session",
            "expires_at": int(time.time()) + _SESSION_SECONDS,
            "input_audio_format": "pcm16",
            "input_audio_transcription": {"model": DEFAULT_TRANSCRIPTION_MODEL, "language": None, "prompt": ""},
            "turn_detection": vad,
            "input_audio_noise_reduction": None,
            "include": None,
        }
        emit: Emit = self._emit
        self._input_audio = _TranscriptionInput(
            self.session, ItemStore(), self._lock, emit, _NoResponses(), on_thread,  # type: ignore[arg-type]
        )
        self._handlers = {
            "transcription_session.update": self._on_update,
            "session.update": self._on_realtime_update,
            "input_audio_buffer.append": self._input_audio.append,
            "input_audio_buffer.commit": self._input_audio.commit,
            "input_audio_buffer.clear": self._input_audio.clear,
        }
        for kind in ("conversation.item.create", "conversation.item.truncate", "conversation.item.delete",
                     "conversation.item.retrieve", "response.create", "response.cancel"):
            self._handlers[kind] = self._on_conversation_event

    def start(self) -> None:
        """Send ``transcription_session.created`` (GA: ``session.created`` of type transcription)."""
        try:
            with self._lock:
                self._emit("transcription_session.created", session=self.session)
        except Gone:
            pass

    def _on_update(self, event: dict[str, Any]) -> None:
        changes = event.get("session")
        if isinstance(changes, dict):
            for key in changes:
                if key not in _TRANSCRIPTION_KEYS:
                    raise ClientError(f"Unknown parameter: 'session.{key}'.", code="unknown_parameter",
                                      param=f"session.{key}")
            changes = {k: v for k, v in changes.items() if k != "modalities"}
        valid = check_session_update({"session": changes} if "session" in event else event)
        td = valid.get("turn_detection")
        if isinstance(td, dict):  # a transcription session never responds
            td.pop("create_response", None)
            td.pop("interrupt_response", None)
        with self._lock:
            self.session.update(valid)
            self._input_audio.settings_changed()
            self._emit("transcription_session.updated", session=self.session)

    def _on_realtime_update(self, event: dict[str, Any]) -> None:
        raise ClientError(
            "Passing a realtime session update event to a transcription session is not allowed.",
            code="invalid_value", param="session.type",
        )

    def _on_conversation_event(self, event: dict[str, Any]) -> None:
        raise ClientError(
            f"Invalid value: '{event.get('type')}'. A transcription session has no conversation and "
            "no responses; it accepts session.update, input_audio_buffer.append, "
            "input_audio_buffer.commit and input_audio_buffer.clear.",
            code="invalid_value", param="type",
        )
