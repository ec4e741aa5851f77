"""The input audio buffer of the local server: append, commit, clear, server VAD and transcription.

Appended audio accumulates in the buffer (bytes counted in the session's
``input_audio_format``). With server VAD on (``turn_detection.type == "server_vad"``) every
append feeds :class:`~rtsync.server.vad.EnergyVad`: a turn's start sends
``input_audio_buffer.speech_started`` (and, with ``interrupt_response``, cancels the response
in flight), its end sends ``speech_stopped`` and commits the turn's audio (and, with
``create_response``, starts a response). A commit makes a user audio item; with
``input_audio_transcription`` set, its transcript follows from a thread of its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from rtsync.audio.formats import FORMAT_RATES, bytes_per_ms, decode_audio
from rtsync.server import model as fake_model
from rtsync.server.responses import Responses
from rtsync.server.store import ItemInfo, ItemStore, input_audio_seconds
from rtsync.server.vad import EnergyVad
from rtsync.server.validation import ClientError, check_audio_append
from rtsync.server.wire import Emit, Gone, new_id

__all__ = ["InputAudio", "transcription_usage"]

logger = logging.getLogger("rtsync.server")

_MIN_COMMIT_MS = 100.0
_MAX_IDLE_BUFFER_MS = 60_000.0  # with server VAD on and nobody speaking, older audio is dropped


def transcription_usage(model: str, seconds: float, transcript: str) -> dict[str, Any]:
    """The ``usage`` of a transcription ``completed`` event, billed as the service bills ``model``.

    ``whisper-1`` is billed by duration (``{"type": "duration", "seconds"}``), the other
    transcription models by tokens (``{"type": "tokens", "input_tokens", "output_tokens",
    "total_tokens", "input_token_details"}``, estimated like a response's).

    Args:
        model: the transcription model of the session.
        seconds: the duration of the transcribed audio.
        transcript: the transcript.
    """
    if model == "whisper-1":
        return {"type": "duration", "seconds": round(seconds, 3)}
    audio_in = fake_model.audio_tokens(seconds)
    text_out = fake_model.text_tokens(transcript)
    return {
        "type": "tokens",
        "input_tokens": audio_in,
        "output_tokens": text_out,
        "total_tokens": audio_in + text_out,
        "input_token_details": {"text_tokens": 0, "audio_tokens": audio_in},
    }


class InputAudio:
    """The input audio buffer of one session.

    Args:
        settings: the session settings (``input_audio_format``, ``turn_detection``,
            ``input_audio_transcription``).
        store: the session's items; commits add user audio items to it.
        lock: the session lock; state changes and their events happen under it.
        emit: sends one server event.
        responses: the session's responses (cancelled by speech, started at a turn's end).
        on_thread: called with every transcription thread before it starts.
    """

    def __init__(
        self,
        settings: dict[str, Any],
        store: ItemStore,
        lock: threading.RLock,
        emit: Emit,
        responses: Responses,
        on_thread: Callable[[threading.Thread], None] | None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._lock = lock
        self._emit = emit
        self._responses = responses
        self._on_thread = on_thread
        self._vad = EnergyVad()
        self._vad_item_id: str | None = None
        self._vad_start_ms = 0.0
        self._buffer_start_ms = 0.0  # session clock of the first byte of the input buffer
        self._helpers: list[threading.Thread] = []  # transcription threads
        self._audio = bytearray()

    def settings_changed(self) -> None:
        """After ``session.update``: a turn in progress ends when server VAD is turned off."""
        if not self._server_vad():
            self._vad.reset_speech()

    def threads(self) -> list[threading.Thread]:
        """The transcription threads started so far (for the session to join on close)."""
        return list(self._helpers)

    def _bytes_per_ms(self) -> int:
        return bytes_per_ms(str(self._settings["input_audio_format"]))  # validated on session.update

    def append(self, event: dict[str, Any]) -> None:
        """``input_audio_buffer.append``: buffer the audio and run server VAD over it."""
        data = check_audio_append(event)
        with self._lock:
            self._audio += data
            fmt = str(self._settings["input_audio_format"])
            self._vad.push(decode_audio(data, fmt), FORMAT_RATES[fmt])
        self._run_vad()

    def _server_vad(self) -> dict[str, Any] | None:
        """The turn_detection settings when server VAD is on, else None."""
        settings = self._settings.get("turn_detection")
        if isinstance(settings, dict) and settings.get("type") == "server_vad":
            return settings
        return None

    def _run_vad(self) -> None:
        """Feed the appended audio through the VAD and act on what it detects."""
        while True:
            interrupted: threading.Thread | None = None
            respond = False
            with self._lock:
                settings = self._server_vad()
                if settings is None:
                    self._vad.skip()
                    return
                detected = self._vad.step(
                    float(settings.get("threshold", 0.5)),
                    int(settings.get("prefix_padding_ms", 300)),
                    int(settings.get("silence_duration_ms", 200)),
                )
                if detected is None:
                    self._trim_idle_buffer()
                    return
                if detected.kind == "started":
                    self._vad_item_id = new_id("item")
                    self._vad_start_ms = max(float(detected.ms), self._buffer_start_ms)
                    self._emit(
                        "input_audio_buffer.speech_started",
                        audio_start_ms=detected.ms,
                        item_id=self._vad_item_id,
                    )
                    if settings.get("interrupt_response", True):
                        interrupted = self._responses.interrupt("turn_detected")
                else:
                    item_id = self._vad_item_id or new_id("item")
                    self._vad_item_id = None
                    self._emit("input_audio_buffer.speech_stopped", audio_end_ms=detected.ms, item_id=item_id)
                    audio = self._take_audio(self._vad_start_ms, float(detected.ms))
                    self._commit(audio, item_id)
                    respond = bool(settings.get("create_response", True))
            if interrupted is not None:
                # Let the cancelled response finish its tail before anything else is sent.
                interrupted.join()
            if respond:
                try:
                    self._responses.create({"type": "response.create"})
                except ClientError as exc:  # e.g. a response still running (interrupt_response off)
                    logger.debug("local server: no automatic response: %s", exc.message)

    def _take_audio(self, start_ms: float, end_ms: float) -> bytes:
        """Remove and return the buffered audio between two session times; drop what is before."""
        fmt = str(self._settings["input_audio_format"])
        per_ms = bytes_per_ms(fmt)
        width = 2 if fmt == "pcm16" else 1

        def offset(ms: float) -> int:
            n = round((ms - self._buffer_start_ms) * per_ms)
            n -= n % width
            return min(max(n, 0), len(self._audio))

        first, last = offset(start_ms), offset(end_ms)
        audio = bytes(self._audio[first:last])
        del self._audio[:last]
        self._buffer_start_ms += last / per_ms
        return audio

    def _trim_idle_buffer(self) -> None:
        """With server VAD on and no speech, keep at most a minute of input buffer."""
        if self._vad.speaking:
            return
        per_ms = self._bytes_per_ms()
        excess = len(self._audio) - int(_MAX_IDLE_BUFFER_MS * per_ms)
        if excess > 0:
            excess -= excess % (2 if per_ms == 48 else 1)
            del self._audio[:excess]
            self._buffer_start_ms += excess / per_ms

    def _empty_buffer(self) -> None:
        self._audio.clear()
        self._buffer_start_ms = self._vad.appended_ms
        self._vad.reset_speech()
        self._vad_item_id = None

    def commit(self, event: dict[str, Any]) -> None:
        """``input_audio_buffer.commit``: turn the buffer into a user audio item."""
        with self._lock:
            ms = len(self._audio) / self._bytes_per_ms()
            if ms < _MIN_COMMIT_MS:
                raise ClientError(
                    "Error committing input audio buffer: buffer too small. Expected at least "
                    f"100ms of audio, but buffer only has {ms:.2f}ms of audio.",
                    code="input_audio_buffer_commit_empty",
                )
            audio = bytes(self._audio)
            item_id = self._vad_item_id or new_id("item")
            self._empty_buffer()
            self._commit(audio, item_id)

    def _commit(self, audio: bytes, item_id: str) -> None:
        """Turn ``audio`` into a user audio item (committed, item.created, transcription)."""
        seconds = input_audio_seconds(audio, self._bytes_per_ms())
        previous = self._store.last_id()
        self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        part: dict[str, Any] = {"type": "input_audio", "transcript": None}
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [part],
        }
        info = ItemInfo(audio=audio, audio_seconds=seconds)
        previous = self._store.insert(item, None, info)
        self._emit("conversation.item.created", previous_item_id=previous, item=item)
        if self._settings.get("input_audio_transcription"):
            model = str(self._settings["input_audio_transcription"].get("model") or "")
            helper = threading.Thread(
                target=self._transcribe,
                args=(item_id, part, seconds, model),
                name=f"rtsync-server-transcribe-{len(self._helpers) + 1}",
                daemon=True,
            )
            self._helpers = [t for t in self._helpers if t.is_alive()]
            self._helpers.append(helper)
            if self._on_thread is not None:
                self._on_thread(helper)
            helper.start()

    def _transcribe(self, item_id: str, part: dict[str, Any], seconds: float, model: str) -> None:
        """Input transcription (runs on its own thread, like the real service's ASR pass)."""
        transcript = f"[speech {seconds:.1f} s]"
        envelope = {"item_id": item_id, "content_index": 0}
        usage = transcription_usage(model, seconds, transcript)
        try:
            with self._lock:
                self._emit("conversation.item.input_audio_transcription.delta", **envelope, delta=transcript)
            with self._lock:
                part["transcript"] = transcript
                self._emit(
                    "conversation.item.input_audio_transcription.completed",
                    **envelope,
                    transcript=transcript,
                    usage=usage,
                )
        except Gone:
            pass

    def clear(self, event: dict[str, Any]) -> None:
        """``input_audio_buffer.clear``: empty the buffer (ending a turn in progress)."""
        with self._lock:
            self._empty_buffer()
            self._emit("input_audio_buffer.cleared")
