"""The translation endpoint of the local server: ``/v1/realtime/translations?model=gpt-realtime-translate``.

Its own vocabulary (see :mod:`rtsync.events.translation`), always in the GA shape. The scripted
model: the input audio is cut into 200 ms engine frames; an energy VAD (that of server VAD,
threshold 0.5, 300 ms padding, 500 ms of silence ends a segment) finds the speech segments.
At the end of each segment the server sends

* ``session.input_transcript.delta`` fragments joining to ``[speech N.N s]`` (only when
  ``audio.input.transcription`` is configured),
* ``session.output_transcript.delta`` fragments joining to ``[LANG] [speech N.N s]`` (LANG: the
  output language, e.g. ``[es] [speech 1.4 s]``),
* ``session.output_audio.delta`` chunks (pcm16, 24 kHz, mono, at most 200 ms each): the text
  ``speech N.N seconds`` spoken by espeak-ng in the output language (its ``-v LANG`` voice), or
  the tone voice of :mod:`rtsync.server.voice` without espeak-ng or for a language it lacks.

Every event carries ``elapsed_ms``: the end of the segment on the input clock (a multiple of
200 ms). ``session.close`` ends a segment still in progress (as if silence followed), sends
``session.closed`` and closes the connection (code 1000). ``session.update`` may change
``audio.output.language``, ``audio.input.transcription`` (``{"model": ...}`` or ``null``) and
``audio.input.noise_reduction`` (accepted, not emulated); ``type`` and ``model`` are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rtsync.audio.formats import read_wav, resample
from rtsync.server import voice as fake_voice
from rtsync.server.vad import EnergyVad
from rtsync.server.validation import error_event
from rtsync.server.wire import new_id

__all__ = ["DEFAULT_LANGUAGE", "PATH", "TRANSLATION_EVENT_TYPES", "TranslationSession", "speak"]

logger = logging.getLogger("rtsync.server")

#: The path of the translation endpoint.
PATH = "/v1/realtime/translations"
#: The output language of a new session.
DEFAULT_LANGUAGE = "en"
#: Client event types of the translation endpoint.
TRANSLATION_EVENT_TYPES = ("session.update", "session.input_audio_buffer.append", "session.close")

_RATE = 24000
_FRAME_MS = 200
_FRAME_BYTES = _RATE * 2 * _FRAME_MS // 1000
_SESSION_SECONDS = 1800
_VAD = (0.5, 300, 500)  # threshold, prefix padding ms, silence ms
_ESPEAK_TIMEOUT = 20.0


def speak(text: str, language: str, voice: str = "auto") -> NDArray[np.int16]:
    """``text`` spoken in ``language`` (espeak-ng ``-v LANGUAGE``), int16 samples at 24 kHz.

    Falls back to the tone voice (:func:`rtsync.server.voice.tone`) when ``voice`` is
    ``"tone"``, when espeak-ng is missing, or when it has no voice for ``language``.
    """
    program = shutil.which("espeak-ng")
    if fake_voice.resolve_voice(voice) == "espeak" and program is not None and text.strip():
        fd, path = tempfile.mkstemp(prefix="rtsync-translate-", suffix=".wav")
        os.close(fd)
        try:
            subprocess.run([program, "-v", language, "--stdin", "-w", path], input=text.encode("utf-8"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=_ESPEAK_TIMEOUT, check=True)
            samples, rate = read_wav(path)
            if len(samples):
                return np.asarray(resample(samples, rate, _RATE), dtype=np.int16)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            logger.warning("local server: espeak-ng -v %s failed (%s); using the tone voice", language, exc)
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
    return fake_voice.tone(len(text.split()))


class TranslationSession:
    """Protocol state of one translation connection (see the module docstring).

    Args:
        send_text: sends one text frame; may raise once the connection is gone.
        close: closes the connection (after ``session.closed``).
        model: the model id from the URL.
        voice: ``"auto"``, ``"espeak"`` or ``"tone"``.
    """

    def __init__(self, send_text: Callable[[str], None], close: Callable[[], None], *, model: str,
                 voice: str = "auto") -> None:
        self._send_text = send_text
        self._close = close
        self._voice = voice
        self._lock = threading.RLock()
        self._closed = False
        self.session: dict[str, Any] = {
            "id": new_id("sess"),
            "type": "translation",
            "model": model,
            "expires_at": int(time.time()) + _SESSION_SECONDS,
            "audio": {"input": {"noise_reduction": None, "transcription": None},
                      "output": {"language": DEFAULT_LANGUAGE}},
        }
        self._pending = bytearray()  # input bytes short of a 200 ms frame
        self._vad = EnergyVad()
        self._start_ms: float | None = None
        self._elapsed_ms = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Send ``session.created``."""
        self._emit("session.created", session=self.session)

    def close(self) -> None:
        """Stop sending (the connection is gone). Idempotent."""
        with self._lock:
            self._closed = True

    # -- input ------------------------------------------------------------------------------
    def handle_binary(self, data: bytes) -> None:
        """Report a binary frame with an ``invalid_event`` error."""
        self._error("Expected a text WebSocket message; binary frames are not supported.", "invalid_event")

    def handle_text(self, text: str) -> None:
        """Parse and apply one client event; never raises."""
        event_id: str | None = None
        try:
            data = json.loads(text)
        except ValueError as exc:
            self._error(f"Invalid event: failed to parse JSON value. {exc}", "invalid_json")
            return
        if not isinstance(data, dict):
            self._error("Invalid event: expected a JSON object.", "invalid_event")
            return
        if isinstance(data.get("event_id"), str):
            event_id = data["event_id"]
        kind = data.get("type")
        try:
            with self._lock:
                if kind == "session.input_audio_buffer.append":
                    self._append(data, event_id)
                elif kind == "session.update":
                    self._update(data, event_id)
                elif kind == "session.close":
                    self._finish()
                    self._emit("session.closed")
                    self._closed = True
                    self._close()
                else:
                    self._error(f"Invalid value: '{kind}'. Supported values are: 'session.update', "
                                "'session.input_audio_buffer.append', and 'session.close'.",
                                "invalid_value", "type", event_id)
        except Exception:
            logger.exception("local server: error while handling a translation event")
            self._error("The server had an error while processing your request.", None, None, event_id,
                        "server_error")

    def _append(self, data: dict[str, Any], event_id: str | None) -> None:
        audio = data.get("audio")
        try:
            raw = base64.b64decode(audio, validate=True) if isinstance(audio, str) else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None:
            self._error("Invalid 'audio': expected base64-encoded pcm16 audio.", "invalid_value", "audio", event_id)
            return
        self._pending += raw
        while len(self._pending) >= _FRAME_BYTES:
            frame = np.frombuffer(bytes(self._pending[:_FRAME_BYTES]), dtype="<i2")
            del self._pending[:_FRAME_BYTES]
            self._frame(frame)

    def _frame(self, frame: NDArray[np.int16]) -> None:
        self._elapsed_ms += _FRAME_MS
        self._vad.push(frame, _RATE)
        while True:
            detected = self._vad.step(*_VAD)
            if detected is None:
                return
            if detected.kind == "started":
                self._start_ms = float(detected.ms)
            else:  # the segment ends where the silence that closed it began
                self._segment(max(float(detected.ms) - _VAD[2], self._start_ms or 0.0))

    def _finish(self) -> None:
        """``session.close``: flush a partial frame and end a segment in progress."""
        if self._pending:
            pad = bytes(_FRAME_BYTES - len(self._pending))
            self._append({"audio": base64.b64encode(pad).decode()}, None)
        if self._start_ms is not None:
            self._segment(self._vad.appended_ms)

    def _segment(self, end_ms: float) -> None:
        start = self._start_ms if self._start_ms is not None else end_ms
        self._start_ms = None
        self._vad.reset_speech()
        seconds = max(0.0, end_ms - start) / 1000.0
        language = self.session["audio"]["output"].get("language") or DEFAULT_LANGUAGE
        source = f"[speech {seconds:.1f} s]"
        timing = {"elapsed_ms": self._elapsed_ms}
        if self.session["audio"]["input"].get("transcription"):
            for fragment in _fragments(source):
                self._emit("session.input_transcript.delta", delta=fragment, **timing)
        for fragment in _fragments(f"[{language}] {source}"):
            self._emit("session.output_transcript.delta", delta=fragment, **timing)
        samples = speak(f"speech {seconds:.1f} seconds", language, self._voice)
        step = _RATE * _FRAME_MS // 1000
        for i in range(0, len(samples), step):
            chunk = np.ascontiguousarray(samples[i:i + step], dtype="<i2").tobytes()
            self._emit("session.output_audio.delta", delta=base64.b64encode(chunk).decode("ascii"),
                       sample_rate=_RATE, channels=1, format="pcm16", **timing)

    def _update(self, data: dict[str, Any], event_id: str | None) -> None:
        changes = data.get("session")
        if not isinstance(changes, dict):
            self._error("Missing required parameter: 'session'.", "missing_required_parameter", "session", event_id)
            return
        for key in changes:
            if key != "audio":
                self._error(f"Unknown parameter: 'session.{key}'. A translation session's type and model "
                            "are fixed when it is created.", "unknown_parameter", f"session.{key}", event_id)
                return
        audio = changes.get("audio") or {}
        new_in = dict(self.session["audio"]["input"])
        new_out = dict(self.session["audio"]["output"])
        problem = _check_audio(audio, new_in, new_out)
        if problem is not None:
            self._error(problem[0], "invalid_value", problem[1], event_id)
            return
        self.session["audio"] = {"input": new_in, "output": new_out}
        self._emit("session.updated", session=self.session)

    # -- output -----------------------------------------------------------------------------
    def _emit(self, kind: str, **fields: Any) -> None:
        text = json.dumps({"type": kind, "event_id": new_id("event"), **fields}, ensure_ascii=False)
        with self._lock:
            if self._closed:
                return
            try:
                self._send_text(text)
            except Exception:
                self._closed = True

    def _error(self, message: str, code: str | None, param: str | None = None, event_id: str | None = None,
               type: str = "invalid_request_error") -> None:
        event = error_event(message, code=code, param=param, event_id=event_id, type=type)
        fields = {k: v for k, v in event.items() if k not in ("type", "event_id")}
        self._emit("error", **fields)


def _fragments(text: str) -> list[str]:
    """Append-only fragments that join to ``text`` (one per word, the space kept)."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


def _check_audio(audio: Any, new_in: dict[str, Any], new_out: dict[str, Any]) -> tuple[str, str] | None:
    """Apply ``session.audio`` to copies of the input and output settings; a problem as (message, param)."""
    if not isinstance(audio, dict):
        return "Invalid type for 'session.audio': expected an object.", "session.audio"
    inp = audio.get("input") or {}
    out = audio.get("output") or {}
    if not isinstance(inp, dict) or not isinstance(out, dict):
        return "Invalid type for 'session.audio.input/output': expected an object.", "session.audio"
    if "language" in out:
        lang = out["language"]
        if lang is not None and (not isinstance(lang, str) or not lang.strip()):
            return "Invalid value for 'session.audio.output.language': expected a language code.", \
                "session.audio.output.language"
        new_out["language"] = lang
    if "transcription" in inp:
        tr = inp["transcription"]
        if tr is not None and not (isinstance(tr, dict) and isinstance(tr.get("model"), str)):
            return "Invalid value for 'session.audio.input.transcription': expected {\"model\": ...} or null.", \
                "session.audio.input.transcription"
        new_in["transcription"] = tr
    if "noise_reduction" in inp:
        nr = inp["noise_reduction"]
        if nr is not None and not (isinstance(nr, dict) and nr.get("type") in ("near_field", "far_field")):
            return "Invalid value for 'session.audio.input.noise_reduction.type': expected 'near_field' or " \
                "'far_field'.", "session.audio.input.noise_reduction.type"
        if isinstance(nr, dict) and "strength" not in nr:
            old = new_in.get("noise_reduction")
            nr = {**nr, "strength": old.get("strength", 1.0) if isinstance(old, dict) else 1.0}
        new_in["noise_reduction"] = nr
    return None
