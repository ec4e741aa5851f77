"""The live one-line status of ``python -m rtsync voice``.

Three parts, each usable on its own:

* Pure rendering: :func:`level_meter`, :func:`format_level` and :func:`render_status` build the
  line from a :class:`StatusSnapshot` (a VoiceSession's counters, the microphone level in dBFS,
  the turn state and the last turn's latency) for a given terminal width. No I/O, no clock.
* :class:`TurnTracker` follows the conversation from the client's events
  (``input_audio_buffer.speech_started/stopped``, ``response.created``, ``response.audio.delta``,
  ``response.done`` ...) and knows the turn state and the latency of the last turn. Its event
  handlers run on the client's dispatcher thread; its readers may run on any thread.
* :class:`StatusLine` paints the line at about 10 Hz on its own thread (``rtsync-status``),
  with ``\\r`` and erase-to-end-of-line, and only when the stream is a terminal. Messages
  printed through :meth:`StatusLine.println` appear above the line instead of through it.

The latency of a turn is the time from the end of the user's speech (``speech_stopped``, or
``input_audio_buffer.committed`` without server VAD) to the first output of the reply (its first
audio, text or transcript delta), measured when the events are dispatched.
"""

from __future__ import annotations

import math
import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import attrs

if TYPE_CHECKING:
    from rtsync.client import RealtimeClient
    from rtsync.voice import VoiceSession

__all__ = [
    "ASSISTANT_SPEAKING",
    "INTERRUPTED",
    "LISTENING",
    "USER_SPEAKING",
    "StatusLine",
    "StatusSnapshot",
    "TurnTracker",
    "format_level",
    "level_meter",
    "render_status",
    "snapshot",
]

#: Turn state: nobody speaks; the microphone is being sent.
LISTENING = "listening"
#: Turn state: the server's VAD heard the user start speaking and not stop yet.
USER_SPEAKING = "user speaking"
#: Turn state: assistant audio is arriving or still queued in the speaker.
ASSISTANT_SPEAKING = "assistant speaking"
#: Turn state: the assistant was just cut off (barge-in, ``interrupt()``, a cancelled response).
INTERRUPTED = "interrupted"

_FLOOR_DB = -60.0


@attrs.frozen
class StatusSnapshot:
    """What the status line shows, read at one moment.

    Attributes:
        level_db: RMS level of the last microphone block, in dBFS (``-inf`` for digital silence).
        state: one of :data:`LISTENING`, :data:`USER_SPEAKING`, :data:`ASSISTANT_SPEAKING`,
            :data:`INTERRUPTED`.
        latency_ms: latency of the last turn in milliseconds, None before the first reply.
        underruns: speaker blocks that ran short (``VoiceStats.underruns``).
        overruns: samples dropped by a full ring buffer (``VoiceStats.overruns``).
        interrupts: barge-ins so far (``VoiceStats.interrupts``).
        turns: replies that started so far.
    """

    level_db: float = -math.inf
    state: str = LISTENING
    latency_ms: float | None = None
    underruns: int = 0
    overruns: int = 0
    interrupts: int = 0
    turns: int = 0


def level_meter(level_db: float, width: int = 10, floor_db: float = _FLOOR_DB) -> str:
    """A bar of ``width`` cells, ``#`` filled and ``-`` empty, for a level in dBFS.

    ``floor_db`` (and anything quieter, ``-inf`` and NaN included) is an empty bar; 0 dBFS and
    above is a full one; the scale is linear in dB between them. Any level above the floor
    lights at least one cell, so quiet speech still shows.
    """
    if width <= 0:
        return ""
    if math.isnan(level_db) or level_db <= floor_db:
        filled = 0
    elif level_db >= 0:
        filled = width
    else:
        filled = max(1, min(width, round(width * (level_db - floor_db) / -floor_db)))
    return "#" * filled + "-" * (width - filled)


def format_level(level_db: float) -> str:
    """The level as a fixed-width text: ``" -23 dB"``; ``"-inf dB"`` for silence."""
    if math.isnan(level_db) or level_db == -math.inf or level_db < -999:
        return "-inf dB"
    return f"{max(-999.0, min(level_db, 99.0)):4.0f} dB"


def _latency_text(latency_ms: float | None) -> str:
    if latency_ms is None:
        return "-"
    if latency_ms >= 10_000:
        return f"{latency_ms / 1000:.0f} s"
    return f"{latency_ms:.0f} ms"


def render_status(snap: StatusSnapshot, width: int = 80) -> str:
    """The status line for ``snap``, at most ``width - 1`` characters long.

    The full form is ``mic [######----]  -23 dB | user speaking | turn 412 ms | underruns 0``
    (plus ``overruns``/``barge-ins`` when non-zero). On a narrow terminal the optional parts go
    first, then the meter shrinks; the state is kept as long as it fits. One column stays free
    so that the cursor never wraps to the next line.
    """
    limit = max(0, width - 1)
    level = format_level(snap.level_db)
    extras = []
    if snap.overruns:
        extras.append(f"overruns {snap.overruns}")
    if snap.interrupts:
        extras.append(f"barge-ins {snap.interrupts}")
    tail = [f"turn {_latency_text(snap.latency_ms)}", f"underruns {snap.underruns}", *extras]
    # The widest form that fits, dropping the optional parts from the end, then shrinking the meter.
    for meter_width in (10, 5):
        head = f"mic [{level_meter(snap.level_db, meter_width)}] {level}"
        for keep in range(len(tail), -1, -1):
            line = " | ".join([head, snap.state, *tail[:keep]])
            if len(line) <= limit:
                return line
    short = f"[{level_meter(snap.level_db, 5)}] {snap.state}"
    if len(short) <= limit:
        return short
    return snap.state[:limit]


class TurnTracker:
    """The turn state and the last turn's latency, followed from a client's events.

    Register it with :meth:`attach` (before or after ``connect``); :meth:`detach` removes its
    callbacks. The handlers run on the client's dispatcher thread. :meth:`state`,
    :attr:`latency_ms` and :attr:`turns` may be read from any thread.

    Args:
        interrupted_hold: seconds the state stays :data:`INTERRUPTED` after a barge-in, so that
            a 10 Hz display shows it.
        clock: the monotonic clock in seconds (a parameter so that tests can drive it).
    """

    _EVENTS = (
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "response.created",
        "response.audio.delta",
        "response.audio_transcript.delta",
        "response.text.delta",
        "response.audio.done",
        "response.done",
        "rtsync.close",
    )

    def __init__(self, interrupted_hold: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interrupted_hold = interrupted_hold
        self._clock = clock
        self._lock = threading.Lock()
        self._user_speaking = False
        self._audio_streaming = False
        self._response: str | None = None  # id of the in-band response in progress
        self._turn_end: float | None = None  # when the user's turn ended, waiting for the reply
        self._latency_ms: float | None = None
        self._turns = 0
        self._interrupted_until = -math.inf
        self._interrupts_seen = 0
        self._registered: list[tuple[RealtimeClient, str]] = []

    # -- registration ----------------------------------------------------------------------------
    def attach(self, client: RealtimeClient) -> TurnTracker:
        """Register the tracker's handlers on ``client`` (they run on its dispatcher thread)."""
        for key in self._EVENTS:
            client.on(key, self.handle)
            self._registered.append((client, key))
        return self

    def detach(self) -> None:
        """Remove the handlers registered by :meth:`attach`. Idempotent."""
        for client, key in self._registered:
            client.off(key, self.handle)
        self._registered.clear()

    # -- readers (any thread) ----------------------------------------------------------------------
    @property
    def latency_ms(self) -> float | None:
        """Latency of the last turn in milliseconds (end of user speech -> first reply output)."""
        return self._latency_ms

    @property
    def turns(self) -> int:
        """Replies that produced output after a user turn so far."""
        return self._turns

    def note_interrupts(self, count: int) -> None:
        """Tell the tracker the session's barge-in counter (``VoiceStats.interrupts``).

        A count above the last one seen shows :data:`INTERRUPTED` for ``interrupted_hold``
        seconds; this catches barge-ins that no event announces (``VoiceSession.interrupt()``).
        """
        with self._lock:
            if count > self._interrupts_seen:
                self._interrupts_seen = count
                self._interrupted_until = self._clock() + self.interrupted_hold

    def state(self, assistant_audio_queued: bool = False) -> str:
        """The turn state now.

        Args:
            assistant_audio_queued: True while the speaker still has assistant audio to play
                (``VoiceSession.assistant_speaking``); audio arriving counts as speaking anyway.
        """
        with self._lock:
            if self._clock() < self._interrupted_until:
                return INTERRUPTED
            if self._user_speaking:
                return USER_SPEAKING
            if self._audio_streaming or assistant_audio_queued:
                return ASSISTANT_SPEAKING
            return LISTENING

    # -- the event handler (dispatcher thread) ------------------------------------------------------
    def handle(self, ev: Any) -> None:
        """Update the state from one client event; registered by :meth:`attach`.

        Runs on the client's dispatcher thread (or whoever calls it directly).
        """
        kind = getattr(ev, "type", "")
        now = self._clock()
        with self._lock:
            if kind == "input_audio_buffer.speech_started":
                if self._audio_streaming or self._response is not None:
                    self._interrupted_until = now + self.interrupted_hold
                self._user_speaking = True
                self._turn_end = None
            elif kind == "input_audio_buffer.speech_stopped":
                self._user_speaking = False
                self._turn_end = now
            elif kind == "input_audio_buffer.committed":
                self._user_speaking = False
                if self._turn_end is None:
                    self._turn_end = now
            elif kind == "response.created":
                resp = getattr(ev, "response", None)
                if getattr(resp, "conversation_id", "") is not None:  # not an out-of-band response
                    self._response = getattr(resp, "id", None) or "active"
            elif kind in ("response.audio.delta", "response.audio_transcript.delta", "response.text.delta"):
                if kind == "response.audio.delta":
                    self._audio_streaming = True
                if self._turn_end is not None:
                    self._latency_ms = (now - self._turn_end) * 1000.0
                    self._turn_end = None
                    self._turns += 1
            elif kind == "response.audio.done":
                self._audio_streaming = False
            elif kind == "response.done":
                resp = getattr(ev, "response", None)
                rid = getattr(resp, "id", None)
                if self._response is not None and rid in (self._response, None):
                    self._response = None
                    self._audio_streaming = False
                    if getattr(resp, "status", None) == "cancelled":
                        self._interrupted_until = now + self.interrupted_hold
            elif kind == "rtsync.close":
                self._user_speaking = False
                self._audio_streaming = False
                self._response = None
                self._turn_end = None


def snapshot(voice: VoiceSession | None, tracker: TurnTracker) -> StatusSnapshot:
    """Read a :class:`StatusSnapshot` from a voice session and a tracker, from any thread."""
    level = -math.inf
    underruns = overruns = interrupts = 0
    queued = False
    if voice is not None:
        mic = voice.microphone
        if mic is not None:
            level = mic.level
        stats = voice.refresh_stats()
        underruns, overruns, interrupts = stats.underruns, stats.overruns, stats.interrupts
        queued = voice.assistant_speaking
        tracker.note_interrupts(interrupts)
    return StatusSnapshot(
        level_db=level,
        state=tracker.state(queued),
        latency_ms=tracker.latency_ms,
        underruns=underruns,
        overruns=overruns,
        interrupts=interrupts,
        turns=tracker.turns,
    )


class StatusLine:
    """Paints a one-line status on a terminal, about ten times a second, on its own thread.

    Args:
        render: called on the ``rtsync-status`` thread with the terminal width in columns;
            returns the line (it should fit, see :func:`render_status`; longer text is cut).
        stream: where to paint (default ``sys.stdout``). Nothing is painted, and no thread
            started, unless ``stream.isatty()``; :attr:`enabled` tells which.
        interval: seconds between repaints.

    Use :meth:`println` for any other output while the line is shown: it clears the line,
    prints, and repaints. :meth:`stop` repaints a last time and ends the line with a newline.
    Works as a context manager.
    """

    def __init__(
        self,
        render: Callable[[int], str],
        stream: TextIO | None = None,
        interval: float = 0.1,
    ) -> None:
        self._render = render
        self._stream = stream if stream is not None else sys.stdout
        self.interval = interval
        try:
            self.enabled = bool(self._stream.isatty())
        except (AttributeError, ValueError, OSError):
            self.enabled = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown = ""  # the line currently on screen ("" = none)
        self._errors = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> StatusLine:
        """Start the painter thread (only on a terminal). Returns self."""
        if self.enabled and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="rtsync-status", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the painter, leave the last line on screen and move to the next line. Idempotent.

        Call it from any thread but the painter's own.
        """
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        if thread is not threading.current_thread():
            thread.join(2.0)
        self._thread = None
        self.paint()
        with self._lock:
            if self._shown:
                self._write("\n")
                self._shown = ""

    def __enter__(self) -> StatusLine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the painter thread runs."""
        return self._thread is not None

    # -- output ----------------------------------------------------------------------------------
    def println(self, text: str, file: TextIO | None = None) -> None:
        """Print ``text`` and a newline above the status line (or plainly, when not painting).

        Safe from any thread (callbacks on the client's dispatcher thread included). ``file``
        defaults to the status stream; another stream (``sys.stderr``) that shows on the same
        terminal is handled the same way.
        """
        out = file if file is not None else self._stream
        with self._lock:
            if not self.running or not self._shown:
                print(text, file=out, flush=True)
                return
            self._write("\r\x1b[K")
            print(text, file=out, flush=True)
            self._write("\r" + self._shown + "\x1b[K")

    def paint(self) -> None:
        """Render and paint the line once (the painter thread calls this every ``interval``)."""
        if not self.enabled:
            return
        width = shutil.get_terminal_size((80, 24)).columns
        try:
            line = self._render(width)
        except Exception as exc:  # a rendering failure must not end the painter
            self._errors += 1
            line = f"status unavailable: {type(exc).__name__}"
        line = line.replace("\r", " ").replace("\n", " ")[: max(0, width - 1)]
        with self._lock:
            if line != self._shown:
                self._write("\r" + line + "\x1b[K")
                self._shown = line

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop painting
            self.enabled = False
            self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.paint()
            self._stop.wait(self.interval)
