"""``VoiceSession``: microphone -> server, server -> speaker, and barge-in, on a ``RealtimeClient``.

Built only on the client's public surface and :mod:`rtsync.audio`::

    microphone -> PortAudio callback -> ring buffer -> rtsync-voice-sender -> input_audio_buffer.append
    response.audio.delta -> (dispatcher thread) decode -> Speaker ring buffer -> PortAudio callback

Threads:

* PortAudio's callback threads only copy between the device and the ring buffers.
* ``rtsync-voice-sender`` takes one block at a time from the microphone and sends it with
  ``append_audio`` (never from the PortAudio callback).
* The client's dispatcher thread decodes audio deltas into the speaker and handles barge-in.

Echo cancellation (``echo_guard="aec"``, the default where ``pip install 'rtsync[aec]'`` is
installed): the speaker's PortAudio callback copies every block it hands to PortAudio (zeros
while idle, the fade on barge-in) into a :class:`~rtsync.audio.RingBuffer`; the sender thread
takes one reference block per microphone block, in lockstep, and sends what
:class:`~rtsync.audio.EchoCanceller` leaves of the microphone. One canceller per session, never
reset (a barge-in does not make it relearn the room). Its start-up guard covers the first
seconds, while AEC3 still lets short bursts of echo through: see :mod:`rtsync.audio.echo`.

Barge-in: on ``input_audio_buffer.speech_started`` (server VAD) or :meth:`VoiceSession.interrupt`
the speaker goes silent within one block, with a short fade. The response is cancelled only
where the server does not do it itself (with server VAD and ``interrupt_response`` it does;
``interrupt()`` and push-to-talk send ``response.cancel``). ``conversation.item.truncate`` is
sent for the item actually playing (a response of a reasoning model may hold a preamble item
and then the answer item, played one after the other), with ``audio_end_ms`` = the samples of
that item handed to the device, clamped to what was received; nothing is sent when 0 ms of it
were played or it had finished playing.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any

import attrs

from rtsync._log import logger
from rtsync.errors import ClosedError, RealtimeError

if TYPE_CHECKING:
    from rtsync.audio.devices import Microphone, Speaker
    from rtsync.audio.echo import EchoCanceller
    from rtsync.audio.ringbuffer import RingBuffer
    from rtsync.client import RealtimeClient

__all__ = ["VoiceSession", "VoiceStats", "aec_available", "default_echo_guard"]

RATE = 24000

ECHO_GUARDS = ("aec", "half_duplex", "threshold")
_no_aec_logged = False


def aec_available() -> bool:
    """Whether echo cancellation can be used: the ``aec`` extra (``livekit``) is installed.

    Checked without importing the library.
    """
    try:
        return importlib.util.find_spec("livekit") is not None
    except (ImportError, ValueError):
        return False


def default_echo_guard() -> str | None:
    """The ``echo_guard`` of a :class:`VoiceSession` that does not choose one.

    ``"aec"`` where the ``aec`` extra is installed; else None (the microphone is sent as it
    is), with a one-time log line that names the extra and ``echo_guard="half_duplex"``.
    """
    global _no_aec_logged
    if aec_available():
        return "aec"
    if not _no_aec_logged:
        _no_aec_logged = True
        logger.warning("rtsync voice: no echo cancellation (pip install 'rtsync[aec]'); on open speakers the "
                       "assistant may interrupt itself: use headphones or echo_guard='half_duplex'")
    return None


@attrs.define
class VoiceStats:
    """Counters of a voice session, readable from any thread.

    Attributes:
        underruns: speaker blocks that ran short while playing.
        overruns: samples dropped because a ring buffer was full (microphone + speaker).
        played_ms: milliseconds of each assistant item handed to the speaker, by item id.
        received_ms: milliseconds of each assistant item received, by item id.
        interrupts: barge-ins that silenced assistant audio.
        truncations: ``(item_id, audio_end_ms)`` sent with ``conversation.item.truncate``.
        last_barge_in_ms: time from the barge-in trigger to the speaker going silent, last one.
        blocks_sent: microphone blocks sent with ``input_audio_buffer.append``.
        echo_reduction_db: the echo canceller's running echo reduction (ERLE) in dB, None
            without a canceller or before the speaker has played.
        echo_converged: the echo canceller has converged (its start-up guard is off).
        reference_gaps: samples of reference missing for their microphone block (the speaker
            fell behind the microphone; replaced by zeros).
    """

    underruns: int = 0
    overruns: int = 0
    played_ms: dict[str, int] = attrs.field(factory=dict)
    received_ms: dict[str, int] = attrs.field(factory=dict)
    interrupts: int = 0
    truncations: list[tuple[str, int]] = attrs.field(factory=list)
    last_barge_in_ms: float | None = None
    blocks_sent: int = 0
    echo_reduction_db: float | None = None
    echo_converged: bool = False
    reference_gaps: int = 0


class _ItemPlayback:
    """Where one assistant audio item sits in the speaker's played stream."""

    __slots__ = ("done", "item_id", "received", "start")

    def __init__(self, item_id: str, start: int) -> None:
        self.item_id = item_id
        self.start = start  # position of the item's first sample in the speaker's played stream
        self.received = 0
        self.done = False  # response.audio.done arrived

    def played(self, played_total: int) -> int:
        """Samples of this item handed to the device, given the speaker's played position."""
        return max(0, min(played_total - self.start, self.received))

    def finished(self, played_total: int) -> bool:
        """All of it was received (``response.audio.done``) and handed to the device."""
        return self.done and played_total - self.start >= self.received


class VoiceSession:
    """Microphone and speaker glue for a connected :class:`~rtsync.RealtimeClient`.

    Args:
        client: a connected client (or one that will be connected before :meth:`start`).
        mode: ``"server_vad"`` (default: the server detects turns) or ``"push_to_talk"``
            (:meth:`start_talking` / :meth:`stop_talking` commit and ask for a response).
        microphone: a :class:`~rtsync.audio.Microphone` to use; one is opened when None.
        speaker: a :class:`~rtsync.audio.Speaker` to use; one is opened when None.
        input_device, output_device: device index or name for the devices opened here.
        block_ms: block size of both devices and of the appends.
        prebuffer_ms: jitter prebuffer of the speaker.
        echo_guard: what keeps the assistant's own voice from reaching the server.
            ``"aec"``: echo cancellation (:class:`~rtsync.audio.EchoCanceller`; needs
            ``pip install 'rtsync[aec]'``); the user can still talk over the assistant.
            ``"half_duplex"`` sends silence instead of the microphone while the assistant
            speaks (no barge-in by voice); ``"threshold"`` sends only blocks louder than
            ``barge_in_level_db`` while it speaks; None (or ``"none"``) sends everything.
            The default, ``"auto"``, is ``"aec"`` where the extra is installed and None
            elsewhere (see :func:`default_echo_guard`).
        echo_canceller: a canceller to use with ``"aec"`` (one is created when None; giving
            one makes ``"auto"`` mean ``"aec"``); it must run at 24 kHz. It is not closed with
            the session.
        barge_in_level_db: the RMS level (dBFS) a block must exceed to pass ``"threshold"``.
        fade_ms: fade-out length on barge-in.
        configure_session: send a ``session.update`` for the mode (turn detection on or off).

    Use as a context manager, or call :meth:`start` and :meth:`close`.
    """

    def __init__(
        self,
        client: RealtimeClient,
        *,
        mode: str = "server_vad",
        microphone: Microphone | None = None,
        speaker: Speaker | None = None,
        input_device: int | str | None = None,
        output_device: int | str | None = None,
        block_ms: int = 20,
        prebuffer_ms: int = 60,
        echo_guard: str | None = "auto",
        echo_canceller: EchoCanceller | None = None,
        barge_in_level_db: float = -30.0,
        fade_ms: float = 5.0,
        configure_session: bool = True,
    ) -> None:
        if mode not in ("server_vad", "push_to_talk"):
            raise ValueError(f"mode must be 'server_vad' or 'push_to_talk', got {mode!r}")
        if echo_guard == "auto":
            echo_guard = "aec" if echo_canceller is not None else default_echo_guard()
        elif echo_guard == "none":
            echo_guard = None
        if echo_guard is not None and echo_guard not in ECHO_GUARDS:
            raise ValueError("echo_guard must be 'auto', 'aec', 'half_duplex', 'threshold' or None, "
                             f"got {echo_guard!r}")
        if echo_guard == "aec" and block_ms % 10:
            raise ValueError(f"echo_guard='aec' needs block_ms in whole 10 ms, got {block_ms}")
        self.client = client
        self.mode = mode
        self.echo_guard = echo_guard
        self.barge_in_level_db = barge_in_level_db
        self.fade_ms = fade_ms
        self.block_ms = block_ms
        self._configure_session = configure_session
        self._own_mic = microphone is None
        self._own_speaker = speaker is None
        self._mic_arg = microphone
        self._speaker_arg = speaker
        self._input_device = input_device
        self._output_device = output_device
        self._prebuffer_ms = prebuffer_ms
        self.microphone: Microphone | None = None
        self.speaker: Speaker | None = None
        self.stats = VoiceStats()
        # the items whose audio may still be queued or playing, in the order they were queued
        self._items: dict[str, _ItemPlayback] = {}
        self._written = 0  # samples accepted by the speaker, in played-stream positions
        self._active_response: str | None = None
        self._muted: set[str] = set()  # responses whose late deltas are dropped after a barge-in
        self._talking = False
        self._running = threading.Event()
        self._sender: threading.Thread | None = None
        self._registered: list[tuple[str, Any]] = []
        self._lock = threading.Lock()  # guards playback bookkeeping between interrupt() callers
        self._output_format = "pcm16"
        self._aec_arg = echo_canceller
        self.echo_canceller: EchoCanceller | None = None
        self._reference: RingBuffer | None = None  # written by the speaker's PortAudio callback
        self._ref_resampler: Any = None
        self._ref_staging: RingBuffer | None = None  # the reference at RATE when the device rate differs

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> VoiceSession:
        """Open the devices, register the callbacks and start the sender thread."""
        from rtsync.audio.devices import Microphone, Speaker

        if self._running.is_set():
            return self
        if self.echo_guard == "aec" and self.echo_canceller is None:
            # Before the devices: a missing extra fails here, with nothing to clean up.
            from rtsync.audio.echo import EchoCanceller

            self.echo_canceller = self._aec_arg or EchoCanceller(RATE)
        # The microphone first: opening a device object probes every device, and on some
        # setups (the ALSA file plugin) that probe resets an output already open.
        self.microphone = self._mic_arg or Microphone(rate=RATE, block_ms=self.block_ms, device=self._input_device)
        try:
            self.speaker = self._speaker_arg or Speaker(
                rate=RATE, block_ms=self.block_ms, device=self._output_device,
                buffer_ms=120_000, prebuffer_ms=self._prebuffer_ms,
            )
        except Exception:
            if self._own_mic:
                self.microphone.close()
            raise
        self._on("response.created", self._on_response_created)
        self._on("response.done", self._on_response_done)
        self._on("response.audio.delta", self._on_audio_delta)
        self._on("response.audio.done", self._on_audio_done)
        self._on("input_audio_buffer.speech_started", self._on_speech_started)
        self._on("input_audio_buffer.speech_stopped", self._on_speech_stopped)
        self._on("session.updated", self._on_session)
        self._on("rtsync.close", lambda ev: self._running.clear())
        if self.client.session is not None:
            self._on_session_obj(self.client.session)
        if self._configure_session and self.client.is_open:
            if self.mode == "push_to_talk":
                self.client.update_session(turn_detection=None)
            else:
                self.client.update_session(turn_detection={"type": "server_vad"})
        if self.echo_canceller is not None:
            self._tap_reference(self.speaker)
        self.speaker.start()
        self.microphone.start()
        self._running.set()
        self._sender = threading.Thread(target=self._send_loop, name="rtsync-voice-sender", daemon=True)
        self._sender.start()
        return self

    def close(self) -> None:
        """Stop the sender, unregister the callbacks and close the devices opened here. Idempotent."""
        self._running.clear()
        sender = self._sender
        if sender is not None and sender is not threading.current_thread():
            sender.join(2.0)
        for key, fn in self._registered:
            self.client.off(key, fn)
        self._registered.clear()
        if self.microphone is not None and self._own_mic:
            self.microphone.close()
        if self.speaker is not None:
            if self._reference is not None:
                self.speaker.tap(None)
            if self._own_speaker:
                self.speaker.close()
        if self.echo_canceller is not None and self._aec_arg is None:
            self.echo_canceller.close()

    def __enter__(self) -> VoiceSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on(self, key: str, fn: Any) -> None:
        self.client.on(key, fn)
        self._registered.append((key, fn))

    # -- state read by users -----------------------------------------------------------------
    @property
    def assistant_speaking(self) -> bool:
        """True while assistant audio is queued or playing."""
        sp = self.speaker
        return sp is not None and sp.queued_samples > 0

    def refresh_stats(self) -> VoiceStats:
        """Update :attr:`stats` from the devices and return it."""
        st = self.stats
        if self.speaker is not None:
            st.underruns = self.speaker.underruns
            st.overruns = self.speaker.overruns + (self.microphone.overruns if self.microphone else 0)
            played = self.speaker.played_samples
            with self._lock:
                for rec in self._items.values():
                    st.played_ms[rec.item_id] = rec.played(played) * 1000 // RATE
        aec = self.echo_canceller
        if aec is not None:
            erle = aec.erle_db
            st.echo_reduction_db = None if math.isnan(erle) else round(erle, 1)
            st.echo_converged = aec.converged
        return st

    # -- echo reference (speaker callback -> ring buffer -> sender thread) ---------------------
    def _tap_reference(self, speaker: Speaker) -> None:
        from rtsync.audio.formats import Resampler
        from rtsync.audio.ringbuffer import RingBuffer

        # Two seconds of reference at the device rate: the sender takes it every block.
        self._reference = RingBuffer(1 << max(12, (2 * speaker.device_rate - 1).bit_length()))
        if speaker.device_rate != RATE:
            self._ref_resampler = Resampler(speaker.device_rate, RATE)
            self._ref_staging = RingBuffer(1 << 16)
        speaker.tap(self._reference)

    def _timing_trouble(self) -> int:
        """A count that grows whenever the speaker or the microphone lost time (sender thread).

        A late speaker callback (a reference gap) is not counted: the device's buffer absorbs
        it, and the lockstep keeps the reference in step.
        """
        sp, mic = self.speaker, self.microphone
        n = 0
        if sp is not None:
            n += sp.output_underflows
        if mic is not None:
            n += mic.input_overflows + mic.overruns
        return n

    def _take_reference(self, out: Any, mic_backlog: int) -> None:
        """Fill ``out`` with the reference for the microphone block of the same length (sender thread).

        ``mic_backlog``: microphone samples still queued behind this block; their reference
        must stay in the ring.
        """
        import numpy as np

        ring = self._reference
        assert ring is not None
        if self._ref_resampler is not None:
            staging = self._ref_staging
            assert staging is not None
            raw = np.empty(ring.read_available, dtype=np.int16)
            if len(raw):
                ring.readinto(raw)
                staging.write(self._ref_resampler.process(raw))
            ring = staging
        n = len(out)
        got = ring.readinto(out)
        if got < n:
            # The speaker fell behind the microphone (a late callback, or an output underrun
            # whose time is never made up): nothing was handed to PortAudio for this period.
            out[got:] = 0
            self.stats.reference_gaps += n - got
        backlog = ring.read_available - mic_backlog - 2 * n
        if backlog > 0:
            # The microphone lost time instead (a late callback, dropped blocks): keep the
            # reference at most two blocks ahead of the microphone, so that it never falls
            # behind the echo it has to predict.
            ring.skip(backlog)

    # -- microphone path (rtsync-voice-sender) -----------------------------------------------
    def _send_loop(self) -> None:
        import numpy as np

        mic = self.microphone
        assert mic is not None
        block_s = self.block_ms / 1000
        aec = self.echo_canceller
        ref = np.zeros(RATE * self.block_ms // 1000, dtype=np.int16)
        first = True
        last_trouble = 0
        while self._running.is_set():
            block = mic.read_block(timeout=block_s * 5)
            if len(block) == 0:
                continue
            if aec is not None:
                if first and self._reference is not None:
                    # Lockstep from here: what the speaker handed over before the first
                    # microphone block cannot be in it (all but one block of it is dropped).
                    self._reference.skip(max(0, self._reference.read_available - len(ref)))
                    first = False
                if len(block) == len(ref):
                    self._take_reference(ref, mic.available)
                    trouble = self._timing_trouble()
                    if trouble != last_trouble:
                        # A device lost time: the echo's delay has jumped, so the canceller
                        # relearns it under its guard (it keeps the rest of what it learnt).
                        last_trouble = trouble
                        aec.reconverge()
                    block = aec.process(block, ref)
            if self.mode == "push_to_talk" and not self._talking:
                continue
            if self.echo_guard is not None and self.assistant_speaking:
                if self.echo_guard == "half_duplex" or mic.level < self.barge_in_level_db:
                    block = np.zeros_like(block)
            try:
                self.client.append_audio(block)
                self.stats.blocks_sent += 1
            except ClosedError:
                break
            except RealtimeError as exc:  # pragma: no cover - reported, loop goes on
                logger.warning("rtsync voice: append failed: %s", exc)

    # -- push to talk --------------------------------------------------------------------------
    def start_talking(self) -> None:
        """Push-to-talk: interrupt the assistant, clear the input buffer and start sending audio."""
        if self.assistant_speaking or self._active_response:
            self.interrupt()
        self.client.clear_audio()
        self._talking = True

    def stop_talking(self, create_response: bool = True) -> None:
        """Push-to-talk: stop sending, commit the audio and (by default) ask for a response."""
        self._talking = False
        time.sleep(self.block_ms / 1000 * 1.5)  # let the sender flush the last block
        self.client.commit_audio()
        if create_response:
            self.client.create_response()

    # -- speaker path and barge-in (dispatcher thread) -----------------------------------------
    def _on_session(self, ev: Any) -> None:
        self._on_session_obj(ev.session)

    def _on_session_obj(self, session: Any) -> None:
        fmt = getattr(session, "output_audio_format", None)
        if isinstance(fmt, str):
            self._output_format = fmt

    def _on_response_created(self, ev: Any) -> None:
        resp = ev.response
        if getattr(resp, "conversation_id", "") is None:
            return  # an out-of-band response (conversation "none") is not the one we play or cancel
        self._active_response = getattr(resp, "id", None) or "active"

    def _on_response_done(self, ev: Any) -> None:
        rid = getattr(ev.response, "id", None)
        if self._active_response is None or rid != self._active_response:
            return  # another (out-of-band) response ended: ours may still be streaming
        self._active_response = None
        if self.speaker is not None:
            self.speaker.end_of_stream()

    def _decode(self, ev: Any) -> Any:
        from rtsync.audio import formats

        if self._output_format == "pcm16":
            return ev.samples
        pcm = formats.decode_audio(ev.audio_bytes(), self._output_format)
        return formats.resample(pcm, formats.FORMAT_RATES[self._output_format], RATE)

    def _on_audio_delta(self, ev: Any) -> None:
        sp = self.speaker
        if sp is None:
            return
        if ev.response_id in self._muted:
            return
        samples = self._decode(ev)
        with self._lock:
            rec = self._items.get(ev.item_id)
            if rec is None:
                self._forget_finished(sp.played_samples)
                rec = self._items[ev.item_id] = _ItemPlayback(ev.item_id, self._written)
            n = sp.write(samples)
            self._written += n
            rec.received += n
            self.stats.received_ms[rec.item_id] = rec.received * 1000 // RATE

    def _forget_finished(self, played_total: int) -> None:
        """Drop the records of items that finished playing (their played ms go to the stats)."""
        for item_id, rec in list(self._items.items()):
            if rec.finished(played_total):
                self.stats.played_ms[item_id] = rec.played(played_total) * 1000 // RATE
                del self._items[item_id]

    def _playing(self, played_total: int) -> _ItemPlayback | None:
        """The item the speaker is in (or waiting in for more audio) at ``played_total``: the
        last one queued that starts at or before it; ``None`` before the first."""
        found = None
        for rec in self._items.values():
            if rec.start <= played_total and rec.received > 0 and (found is None or rec.start >= found.start):
                found = rec
        return found

    def _on_audio_done(self, ev: Any) -> None:
        with self._lock:
            rec = self._items.get(ev.item_id)
            if rec is not None:
                rec.done = True
        if self.speaker is not None:
            self.speaker.end_of_stream()

    def _on_speech_started(self, ev: Any) -> None:
        aec = self.echo_canceller
        if aec is not None:
            aec.user_turn = True  # the turn has started: the start-up guard must not cut it up
        # With server VAD the server cancels the response itself (interrupt_response).
        self._barge_in(cancel=self._server_does_not_cancel())

    def _on_speech_stopped(self, ev: Any) -> None:
        aec = self.echo_canceller
        if aec is not None:
            aec.user_turn = False

    def _server_does_not_cancel(self) -> bool:
        session = self.client.session
        td = getattr(session, "turn_detection", None)
        interrupt = getattr(td, "interrupt_response", True)
        return td is None or interrupt is False

    def interrupt(self) -> None:
        """Stop the assistant now: silence the speaker, cancel the response, truncate the item.

        Safe from any thread (the barge-in bookkeeping is serialized).
        """
        self._barge_in(cancel=True)

    def _barge_in(self, cancel: bool) -> None:
        sp = self.speaker
        if sp is None:
            return
        t0 = time.monotonic()
        with self._lock:
            was_playing = sp.queued_samples > 0
            sp.interrupt(self.fade_ms)
            deadline = t0 + max(0.2, 10 * self.block_ms / 1000)
            while sp.interrupt_pending and sp.active and time.monotonic() < deadline:
                time.sleep(0.001)
            if was_playing:
                self.stats.last_barge_in_ms = (time.monotonic() - t0) * 1000
                self.stats.interrupts += 1
            played_total = sp.played_samples
            rec = self._playing(played_total)
            for old in self._items.values():  # the queue was flushed: each item's share is final
                self.stats.played_ms[old.item_id] = old.played(played_total) * 1000 // RATE
            self._items.clear()
            self._written = played_total  # the queue is empty now: positions resync
            if self._active_response is not None:
                self._muted.add(self._active_response)
        if cancel and self._active_response is not None:
            try:
                self.client.cancel_response()
            except ClosedError:
                return
        if rec is None:
            return
        played = rec.played(played_total)
        if rec.done and played >= rec.received:
            return  # it had finished playing: nothing to truncate
        audio_end_ms = played * 1000 // RATE
        if audio_end_ms <= 0:
            return
        try:
            self.client.truncate_item(rec.item_id, audio_end_ms)
            self.stats.truncations.append((rec.item_id, audio_end_ms))
        except ClosedError:
            return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("rtsync voice: truncated %s at %d ms", rec.item_id, audio_end_ms)
