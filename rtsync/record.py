"""Recording a session: every sent and received event, with timestamps, as JSON lines.

``RealtimeClient(..., record="session.jsonl")`` (or ``python -m rtsync chat --record FILE``)
creates a :class:`Recorder` on a successful ``connect()``. ``python -m rtsync serve --replay
FILE`` plays the file back as a server (:mod:`rtsync.server.replay`) and ``python -m rtsync
inspect FILE`` prints a timeline of it (:mod:`rtsync.inspect`).

File format (version 1)
    ``session.jsonl`` is UTF-8 JSON, one object per line. The first line is the header::

        {"format": "rtsync-recording", "version": 1, "rtsync_version": "0.1.0",
         "started": "2026-01-01T12:00:00.000000+00:00", "model": "...", "url": "wss://...",
         "dialect": "beta", "audio": {"input": "session.input.wav",
         "output": "session.output.wav", "rate": 24000, "format": "pcm16"}}

    Every further line is one event::

        {"t": 1.234567, "dir": "send" | "recv", "event": {...}}

    ``t`` is seconds since the recorder started (monotonic clock, microseconds). ``send`` lines
    hold the client events as given to :meth:`Recorder.sent`; ``recv`` lines hold
    ``event.to_dict()`` of every event the client delivered, rtsync's local events
    (``rtsync.close``, ``rtsync.callback_error``, ``rtsync.protocol_error``) included, in
    delivery order. Values JSON cannot hold (an exception in ``rtsync.close``) are written as
    their redacted ``repr``; the frame of an ``rtsync.protocol_error`` is kept as ``"frame"``
    (text) or ``"frame_b64"`` (a binary frame), so that a replay can send it again.

Audio
    The base64 audio of ``input_audio_buffer.append`` (sent) and ``response.audio.delta``
    (received; ``response.output_audio.delta`` too) is not stored inline. Its bytes are appended
    to ``<stem>.input.wav`` / ``<stem>.output.wav`` beside the JSONL (mono, 16 bit, 24 kHz) and
    the event loses its ``audio`` / ``delta`` key; the line gets a reference instead::

        {"t": ..., "dir": "recv", "event": {"type": "response.audio.delta", ...},
         "audio": {"wav": "output", "field": "delta", "offset": 4800, "samples": 2400}}

    ``offset`` and ``samples`` count 16-bit samples from the start of the WAV's data, so
    :func:`load_recording` rebuilds the exact base64 text. The WAV header is rewritten after
    every chunk, so the files are valid even if the process dies.

    Only audio that is pcm16 (the session's format, as last seen in a sent ``session.update`` or
    a received ``session.created`` / ``session.updated``) goes to the WAVs. G.711 audio
    (``g711_ulaw``, ``g711_alaw``, GA ``audio/pcmu`` / ``audio/pcma``) stays inline as base64 in
    the JSONL: it is small (8 kB per second), and converting it to 24 kHz pcm16 could not be
    undone exactly. So does any chunk whose base64 is not the canonical encoding of its bytes
    or that has an odd number of bytes: the rebuilt event is always byte for byte the recorded
    one.

Secrets
    The API key never reaches the files: the URL in the header and every string of every line
    are redacted before JSON encoding, as log lines are (keys registered by the client,
    ``Bearer`` values and key-shaped strings become ``***``). Text in an event that looks like a
    key is therefore masked too, and a replay sends it masked.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import os
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import attrs

from rtsync._log import logger, redact
from rtsync._version import __version__
from rtsync.audio.formats import read_wav

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "RecordedEvent",
    "Recorder",
    "Recording",
    "load_recording",
    "wav_paths",
]

FORMAT_NAME = "rtsync-recording"
FORMAT_VERSION = 1
RATE = 24000

#: Event types whose base64 audio goes to a WAV: type -> (direction, wav name, field).
AUDIO_FIELDS: dict[str, tuple[str, str, str]] = {
    "input_audio_buffer.append": ("send", "input", "audio"),
    "response.audio.delta": ("recv", "output", "delta"),
    "response.output_audio.delta": ("recv", "output", "delta"),
}

_PCM_FORMATS = ("pcm16", "audio/pcm")


def wav_paths(path: str | os.PathLike[str]) -> dict[str, Path]:
    """The two WAV files that belong to the recording ``path``: ``{"input": ..., "output": ...}``.

    ``session.jsonl`` has ``session.input.wav`` and ``session.output.wav`` beside it.
    """
    p = Path(path)
    return {name: p.with_name(f"{p.stem}.{name}.wav") for name in ("input", "output")}


class _WavAppender:
    """A mono 16-bit WAV file written incrementally; the header is patched after each write."""

    def __init__(self, path: Path, rate: int) -> None:
        self.path = path
        self.samples = 0
        self._f: IO[bytes] = open(path, "wb")
        self._f.write(_wav_header(0, rate))
        self._f.flush()

    def append(self, raw: bytes) -> int:
        """Append pcm16 bytes (even length); return the sample offset where they start."""
        offset = self.samples
        f = self._f
        f.write(raw)
        self.samples += len(raw) // 2
        data_bytes = self.samples * 2
        f.seek(4)
        f.write(struct.pack("<I", 36 + data_bytes))
        f.seek(40)
        f.write(struct.pack("<I", data_bytes))
        f.seek(0, os.SEEK_END)
        f.flush()
        return offset

    def close(self) -> None:
        self._f.close()


def _wav_header(data_bytes: int, rate: int) -> bytes:
    return b"".join((
        b"RIFF", struct.pack("<I", 36 + data_bytes), b"WAVE",
        b"fmt ", struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16),
        b"data", struct.pack("<I", data_bytes),
    ))


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if attrs.has(type(value)) and hasattr(value, "to_dict"):
        return value.to_dict()
    return redact(repr(value))


def _redact_tree(value: Any) -> Any:
    """``value`` with every string in it passed through :func:`redact` (before JSON encoding, so
    that a masked value can never break the JSON around it)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_tree(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    """Compact JSON of ``value`` with every string redacted."""
    return json.dumps(_redact_tree(value), separators=(",", ":"), ensure_ascii=False,
                      default=lambda v: _redact_tree(_json_default(v)))


def _format_name(fmt: Any) -> str | None:
    """A session audio format as a name: ``"pcm16"``, ``"g711_ulaw"``, ...; GA objects by their type."""
    if isinstance(fmt, str):
        return fmt
    if isinstance(fmt, dict) and isinstance(fmt.get("type"), str):
        return str(fmt["type"])
    return None


class Recorder:
    """Writes one session's events to a JSONL file and its pcm16 audio to two WAV files.

    The client creates it after a successful ``connect()`` and calls :meth:`sent`,
    :meth:`received` and :meth:`close`; see the module docstring for the file format.

    Args:
        path: the JSONL file to create (overwritten if it exists); the WAVs go beside it.
        url: the endpoint, for the header (redacted again here, to be sure).
        model: the model, for the header.
        dialect: the wire dialect of the session, for the header.

    Thread safety: :meth:`sent` may be called from several threads at once, :meth:`received`
    from the dispatcher thread, :meth:`close` from any thread; a lock keeps lines whole and in
    timestamp order. Calls after :meth:`close` are ignored. A write error (disk full) is
    logged once and ends the recording; it never reaches the caller.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        url: str = "",
        model: str = "",
        dialect: str = "beta",
    ) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._closed = False
        self._start = time.monotonic()
        self._formats = {"input": "pcm16", "output": "pcm16"}
        wavs = wav_paths(self.path)
        self._file: IO[str] = open(self.path, "w", encoding="utf-8", newline="\n")
        try:
            self._wavs = {name: _WavAppender(p, RATE) for name, p in wavs.items()}
        except BaseException:
            self._file.close()
            raise
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "rtsync_version": __version__,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "model": model,
            "url": redact(url),
            "dialect": dialect,
            "audio": {"input": wavs["input"].name, "output": wavs["output"].name, "rate": RATE,
                      "format": "pcm16"},
        }
        self._file.write(_dumps(header) + "\n")
        self._file.flush()

    def __repr__(self) -> str:
        return f"<Recorder {str(self.path)!r}{' closed' if self._closed else ''}>"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run (or a write failed)."""
        return self._closed

    def sent(self, payload: dict[str, Any]) -> None:
        """Record a client event (its wire dict) about to be written to the socket.

        Called on: whichever thread calls ``send``; safe from several at once.
        """
        if self._closed or not isinstance(payload, dict):
            return
        self._note_formats(payload, "send")
        self._write("send", payload)

    def received(self, event: Any) -> None:
        """Record a delivered event (server event or rtsync local event).

        Called on: the dispatcher thread, in delivery order. ``rtsync.close`` is the last event a
        client delivers, so recording it also closes the files; this covers ``client.close()``
        called from a callback, which cannot wait for the dispatcher to finish.
        """
        if self._closed:
            return
        try:
            t = event.type
            if t == "rtsync.protocol_error":
                data = self._protocol_error_dict(event)
            else:
                data = event.to_dict()
        except Exception:  # never let a strange event break the client
            logger.debug("rtsync: recorder could not convert an event", exc_info=True)
            data = {"type": str(getattr(event, "type", "?")), "unrecordable": redact(repr(event))[:200]}
        self._note_formats(data, "recv")
        self._write("recv", data)
        if data.get("type") == "rtsync.close":  # the client's last event: nothing follows it
            self.close()

    def close(self) -> None:
        """Flush and close the files. Idempotent; safe from any thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_files()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------

    @staticmethod
    def _protocol_error_dict(event: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "rtsync.protocol_error", "error": redact(str(event.error))}
        data = event.data
        if isinstance(data, str):
            out["frame"] = data
        elif isinstance(data, (bytes, bytearray, memoryview)):
            out["frame_b64"] = base64.b64encode(bytes(data)).decode("ascii")
        return out

    def _note_formats(self, data: dict[str, Any], direction: str) -> None:
        t = data.get("type")
        if t not in ("session.update", "session.created", "session.updated"):
            return
        session = data.get("session")
        if not isinstance(session, dict):
            return
        for name, keys in (("input", ("input_audio_format",)), ("output", ("output_audio_format",))):
            for key in keys:
                fmt = _format_name(session.get(key))
                if fmt is not None:
                    self._formats[name] = fmt
        audio = session.get("audio")  # GA shape: {"input": {"format": ...}, "output": {"format": ...}}
        if isinstance(audio, dict):
            for name in ("input", "output"):
                part = audio.get(name)
                fmt = _format_name(part.get("format")) if isinstance(part, dict) else None
                if fmt is not None:
                    self._formats[name] = fmt

    def _audio_bytes(self, data: dict[str, Any], direction: str) -> tuple[str, str, bytes] | None:
        """(wav name, field, pcm bytes) when the event's audio should go to a WAV, else None."""
        spec = AUDIO_FIELDS.get(data.get("type"))  # type: ignore[arg-type]
        if spec is None or spec[0] != direction:
            return None
        _, wav, field = spec
        text = data.get(field)
        if not isinstance(text, str) or self._formats[wav] not in _PCM_FORMATS:
            return None
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) % 2 or base64.b64encode(raw).decode("ascii") != text:
            return None
        return wav, field, raw

    def _write(self, direction: str, data: dict[str, Any]) -> None:
        audio = self._audio_bytes(data, direction)
        if audio is not None:
            wav, field, raw = audio
            stripped = {k: v for k, v in data.items() if k != field}
            event_json = _dumps(stripped)
        else:
            event_json = _dumps(data)
        with self._lock:
            if self._closed:
                return
            t = time.monotonic() - self._start
            try:
                if audio is not None:
                    offset = self._wavs[wav].append(raw)
                    ref = f',"audio":{{"wav":"{wav}","field":"{field}","offset":{offset},"samples":{len(raw) // 2}}}'
                else:
                    ref = ""
                self._file.write(f'{{"t":{t:.6f},"dir":"{direction}","event":{event_json}{ref}}}\n')
                self._file.flush()
            except (OSError, ValueError) as exc:
                logger.error("rtsync: recording to %s stopped: %s", self.path, redact(exc))
                self._closed = True
                self._close_files()

    def _close_files(self) -> None:
        files: list[IO[str] | _WavAppender] = [self._file, *self._wavs.values()]
        for f in files:
            try:
                f.close()
            except OSError:
                logger.debug("rtsync: closing a recording file failed", exc_info=True)


# ------------------------------------------------------------------------------------ reading


@attrs.define(kw_only=True)
class RecordedEvent:
    """One event line of a recording, with its audio put back.

    Attributes:
        t: seconds since the recording started.
        direction: ``"send"`` (client event) or ``"recv"`` (delivered event).
        event: the event dict, with the base64 audio rebuilt exactly as recorded.
        audio_samples: the number of 16-bit samples of audio the event carried in a WAV (0 if
            none or inline).
    """

    t: float
    direction: str
    event: dict[str, Any]
    audio_samples: int = 0

    @property
    def type(self) -> str:
        """The event's ``type``."""
        return str(self.event.get("type", ""))


@attrs.define(kw_only=True)
class Recording:
    """A loaded recording: the header and the events in file order.

    Attributes:
        header: the first line (format, versions, start time, model, url, dialect, audio).
        events: every event line, audio rebuilt.
        path: the JSONL file.
    """

    header: dict[str, Any]
    events: list[RecordedEvent]
    path: Path

    @property
    def duration(self) -> float:
        """Seconds from the start to the last event."""
        return self.events[-1].t if self.events else 0.0

    def __iter__(self) -> Iterator[RecordedEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


def load_recording(path: str | os.PathLike[str], *, audio: bool = True) -> Recording:
    """Read a recording written by :class:`Recorder`.

    Args:
        path: the JSONL file.
        audio: rebuild the base64 audio from the WAVs (``False`` leaves the referencing events
            without their audio field, which is faster when only the timeline matters).

    Returns:
        The header and the events. A last line cut short (the process died while writing) is
        ignored; a WAV that ends early gives the audio that is there.

    Raises:
        ValueError: the file is not an rtsync recording, or a line in the middle is not JSON.
        OSError: the file cannot be read.
    """
    p = Path(path)
    with open(p, encoding="utf-8") as f:
        lines = f.read().split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{p} is empty, not an rtsync recording")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValueError(f"{p} is not an rtsync recording (no {FORMAT_NAME!r} header)")
    if int(header.get("version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{p} is a version {header.get('version')} recording; this rtsync reads "
                         f"version {FORMAT_VERSION}")
    pcm: dict[str, bytes] = {}
    if audio:
        names_obj = header.get("audio")
        names: dict[str, Any] = names_obj if isinstance(names_obj, dict) else {}
        defaults = wav_paths(p)
        for name in ("input", "output"):
            wav = p.with_name(str(names.get(name))) if names.get(name) else defaults[name]
            pcm[name] = _read_pcm(wav)
    events: list[RecordedEvent] = []
    last = len(lines) - 1
    for n, line in enumerate(lines[1:], 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if n == last:
                break  # cut short while writing
            raise ValueError(f"{p}:{n + 1}: not a JSON line") from None
        ev = obj.get("event")
        if not isinstance(ev, dict):
            raise ValueError(f"{p}:{n + 1}: no event object")
        ref = obj.get("audio")
        samples = 0
        if isinstance(ref, dict):
            samples = int(ref.get("samples", 0))
            if audio:
                data = pcm.get(str(ref.get("wav")), b"")
                start = int(ref.get("offset", 0)) * 2
                ev[str(ref.get("field", "audio"))] = base64.b64encode(data[start: start + samples * 2]).decode("ascii")
        events.append(RecordedEvent(t=float(obj.get("t", 0.0)), direction=str(obj.get("dir", "")), event=ev,
                                    audio_samples=samples))
    return Recording(header=header, events=events, path=p)


def _read_pcm(path: Path) -> bytes:
    if not path.exists():
        return b""
    try:
        samples, _rate = read_wav(path)
    except Exception as exc:
        logger.warning("rtsync: cannot read %s: %s", path, exc)
        return b""
    return samples.astype("<i2", copy=False).tobytes()
