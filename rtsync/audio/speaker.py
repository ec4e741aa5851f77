"""The speaker: :class:`Speaker`, a PortAudio output stream played out by a :class:`~rtsync.audio.playout.Playout`."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from rtsync.audio.formats import Resampler
from rtsync.audio.playout import Playout
from rtsync.audio.portaudio import _PA_CONTINUE, _PA_OUTPUT_UNDERFLOW, DeviceInfo
from rtsync.audio.stream import _pow2_at_least, _Stream

__all__ = ["Speaker"]


def _ndarray_return_ok() -> bool:
    # PyAudio parses the callback's return value with "z#", which accepts any buffer whose type
    # has no bf_releasebuffer slot. numpy arrays qualify, so the callback can return its
    # preallocated array instead of a new bytes object. Python >= 3.12 shows the slot as
    # __release_buffer__; if a future numpy grows one, fall back to .tobytes().
    return not hasattr(np.ndarray, "__release_buffer__")


class Speaker(_Stream):
    """Speaker output: a PortAudio callback stream of mono int16 samples, with barge-in.

    Which thread runs what:

    * **Your thread** (the producer) calls :meth:`write` (and :meth:`end_of_stream`,
      :meth:`wait_until_drained`). ``write`` converts to the device rate when needed and puts
      the samples in a :class:`~rtsync.audio.ringbuffer.RingBuffer`; concurrent writers are
      serialised by a producer-side lock that the callback never takes. If the ring buffer
      (``buffer_ms``) is full, the samples that do not fit are **dropped** and counted in
      :attr:`overruns`/:attr:`overrun_samples` (pass ``timeout=`` to wait for room instead).
    * **Any thread** may call :meth:`interrupt` (barge-in), :meth:`start`, :meth:`stop`,
      :meth:`close` and read the counters.
    * **PortAudio's callback thread** runs only the internal callback. It asks the
      speaker's :class:`~rtsync.audio.playout.Playout` for the next block
      (:meth:`Playout.fill <rtsync.audio.playout.Playout.fill>`), which copies it from the
      ring buffer into a preallocated array, and returns that same array to PortAudio (no
      ``bytes`` object per block); with a :meth:`tap`, it also copies that block into the
      tap's ring buffer (an echo canceller's reference). It never takes a lock, never allocates sample memory,
      never logs, never touches a socket, never resamples, and never lets an exception
      escape (an exception is counted in :attr:`callback_errors` and the block is silence).
      Requests reach it as messages: an interrupt counter it compares with the last one it
      saw, and an end-of-stream mark.

    Playback rules (the :class:`~rtsync.audio.playout.Playout` state machine):

    * **Prebuffer** (jitter buffer): after :meth:`start`, an underrun or an interrupt, the
      callback plays silence until ``prebuffer_ms`` of audio is queued, so that audio
      arriving in bursts plays smoothly. :meth:`end_of_stream` (also called by
      :meth:`wait_until_drained`) marks that everything written so far must play even if it
      is shorter than the prebuffer, so the tail of a reply is never stuck.
    * **Underrun**: when the ring buffer runs dry in the middle of a block (and not at an
      end-of-stream mark), the rest of the block is zeros; :attr:`underruns` counts such
      blocks and :attr:`underrun_samples` the zeros. Playback resumes after the prebuffer
      refills. Running dry at an end-of-stream mark is the normal end and is not counted.
    * **Interrupt** (:meth:`interrupt`): everything queued is discarded (``RingBuffer.flush``)
      and the sound stops within one block: the callback fades the next ``fade_ms`` of
      audio it already holds (a linear ramp to zero, so there is no click), then plays
      silence until new audio reaches the prebuffer. Samples written after ``interrupt()``
      returns play normally.

    The callback keeps a look-ahead of up to ``max_fade_ms`` samples read from the ring
    buffer beyond the block it returns; they are what an interrupt fades out. This costs no
    latency (the output sequence is unchanged) and is counted in :attr:`queued_samples`.

    :meth:`close` (and leaving ``with``) drops whatever is still queued: call
    :meth:`wait_until_drained` first to hear the end.

    Args:
        rate: the rate of the samples you write, in Hz.
        block_ms: PortAudio's buffer size in milliseconds.
        device: ``None`` (default output), a device index, a name (exact, then substring) or
            a :class:`DeviceInfo`.
        buffer_ms: how much audio the ring buffer holds (a reply usually arrives faster than
            real time).
        prebuffer_ms: how much audio must be queued before playback starts or resumes.
        device_rate: open the device at this rate instead of negotiating it (``write``
            converts). ``None`` negotiates.
        max_fade_ms: the longest fade-out an :meth:`interrupt` can ask for (at most one block).

    Raises:
        AudioError: PyAudio/PortAudio missing, no such device, or the device cannot be opened
            (the message names the device and the rates tried).

    Example::

        with Speaker() as spk:
            spk.write(samples)            # int16 at 24 kHz, or pcm16 bytes
            spk.wait_until_drained()
    """

    _output = True

    def __init__(
        self,
        rate: int = 24000,
        block_ms: float = 20,
        device: int | str | DeviceInfo | None = None,
        buffer_ms: float = 10000,
        prebuffer_ms: float = 60,
        *,
        device_rate: int | None = None,
        max_fade_ms: float = 10,
    ) -> None:
        if buffer_ms <= 0:
            raise ValueError(f"buffer_ms must be positive, got {buffer_ms!r}")
        if prebuffer_ms < 0 or prebuffer_ms > buffer_ms:
            raise ValueError(f"prebuffer_ms must be between 0 and buffer_ms, got {prebuffer_ms!r}")
        if max_fade_ms < 0:
            raise ValueError(f"max_fade_ms must not be negative, got {max_fade_ms!r}")
        self._buffer_ms = float(buffer_ms)
        self._prebuffer_ms = float(prebuffer_ms)
        self._max_fade_ms = float(max_fade_ms)
        self._write_lock = threading.Lock()
        self._interrupt_lock = threading.Lock()
        self._return_array = _ndarray_return_ok()
        super().__init__(rate, block_ms, device, device_rate)

    def _setup(self, device_rate: int) -> None:
        super()._setup(device_rate)
        n = self._device_block
        capacity = max(round(device_rate * self._buffer_ms / 1000.0), 2 * n)
        playout = Playout(
            block=n,
            capacity=_pow2_at_least(capacity),
            prebuffer=max(0, round(device_rate * self._prebuffer_ms / 1000.0)),
            lookahead=max(0, round(device_rate * self._max_fade_ms / 1000.0)),
        )
        self._playout = playout
        self._playout_fill = playout.fill  # bound once: the callback calls it every block
        # Preallocated return values of the callback: the two arrays fill() hands out.
        self._buf = playout.buffer
        self._result = (self._buf, _PA_CONTINUE)
        self._silence_result = (np.zeros(len(self._buf), dtype=np.int16), _PA_CONTINUE)
        # The played-audio tap (tap()): views of the two arrays fill() hands out, made once.
        self._tap_ring: Any = None
        # Byte views: RingBuffer.write_block copies them with one memoryview assignment, which
        # runs far less code than a numpy copy in a callback that runs with cold caches.
        self._tap_block = self._buf[:n].data.cast("B")
        self._tap_silence = self._silence_result[0][:n].data.cast("B")
        self._resampler = Resampler(self._rate, device_rate) if self._resampling else None
        self._reset_resampler = False
        self._output_underflows = 0  # written by the callback
        # Producer-side counters.
        self._overruns = 0
        self._overrun_samples = 0

    def _reset_for_start(self) -> None:
        # The stream is stopped here, so the callback is not running.
        self._playout.reset()

    # -- the real-time callback (PortAudio's thread)

    def _callback(self, in_data: Any, frame_count: int, time_info: Any, status: int) -> tuple[Any, int]:
        try:
            if status & _PA_OUTPUT_UNDERFLOW:
                self._output_underflows += 1
            if frame_count > self._device_block:  # never happens with a fixed frames_per_buffer
                self._callback_errors += 1
                return (bytes(2 * frame_count), _PA_CONTINUE)
            out = self._playout_fill(frame_count)  # never raises
            tap = self._tap_ring
            if tap is not None:
                if frame_count == self._device_block:
                    tap.write_block(self._tap_block if out is self._buf else self._tap_silence)
                else:
                    tap.write(out[:frame_count])
            if self._return_array:
                return self._result if out is self._buf else self._silence_result
            return (out[:frame_count].tobytes(), _PA_CONTINUE)
        except BaseException as exc:
            self._callback_errors += 1
            self._last_callback_error = exc
            return self._silence_result if self._return_array else (bytes(2 * frame_count), _PA_CONTINUE)

    # -- producer side

    def write(self, samples: Any, timeout: float = 0.0) -> int:
        """Queue samples for playback.

        Args:
            samples: mono int16 samples at :attr:`rate`: a numpy int16 array or pcm16 bytes
                (little-endian).
            timeout: seconds to wait for room in the ring buffer; ``0`` (default) drops what
                does not fit at once. An :meth:`interrupt` during the wait ends it.

        Returns:
            The number of samples (at :attr:`rate`) queued; less than ``len(samples)`` when
            some were dropped (counted in :attr:`overruns` and :attr:`overrun_samples`).
            0 once the speaker is closed (a late write is not an error).

        Raises:
            TypeError: ``samples`` is neither int16 nor bytes.
            ValueError: ``samples`` is bytes of odd length.

        Called on: your thread (any thread; writers are serialised).
        """
        if isinstance(samples, (bytes, bytearray, memoryview)):
            x = np.frombuffer(samples, dtype="<i2").astype(np.int16, copy=False)
        else:
            x = np.asarray(samples)
            if x.dtype != np.int16:
                raise TypeError(f"Speaker.write() takes int16 samples or pcm16 bytes, not {x.dtype}")
            x = x.reshape(-1)
        if len(x) == 0 or self._closed:
            return 0
        with self._write_lock:
            playout = self._playout
            generation = playout.interrupts
            if self._resampler is not None:
                if self._reset_resampler:
                    self._reset_resampler = False
                    self._resampler.reset()
                y = self._resampler.process(x)
            else:
                y = x
            done = playout.write(y)
            if done < len(y) and timeout > 0:
                deadline = time.monotonic() + timeout
                poll = self._block_ms / 4000.0
                while done < len(y) and playout.interrupts == generation and time.monotonic() < deadline:
                    time.sleep(poll)
                    if playout.interrupts != generation:
                        break
                    done += playout.write(y[done:])
            dropped = len(y) - done
            if dropped <= 0:
                return len(x)
            self._overruns += 1
            self._overrun_samples += dropped
            return min(len(x), done * self._rate // self._device_rate)

    def end_of_stream(self) -> None:
        """Mark that everything written so far must play, even if shorter than the prebuffer.

        Call it when a reply is complete (e.g. on ``response.audio.done``). When playback
        then runs dry at this mark, that is the normal end, not an underrun. Writing more
        afterwards starts a new stream with the usual prebuffer.

        Called on: your thread (the writer's; it flushes the rate converter's tail).
        """
        with self._write_lock:
            if self._resampler is not None and not self._reset_resampler:
                tail = self._resampler.flush()
                if len(tail):
                    self._playout.write(tail)
            self._playout.end_of_stream()

    def interrupt(self, fade_ms: float = 5.0) -> None:
        """Barge-in: stop playback within one block, with a short fade-out, and drop the queue.

        Everything written before this call is discarded. The callback fades out the next
        ``fade_ms`` (at most ``max_fade_ms``) of the audio it already holds, then plays
        silence; audio written after this call returns plays once it reaches the prebuffer.

        Args:
            fade_ms: length of the linear fade to zero, in milliseconds (0 cuts at once).

        Called on: any thread; never blocks on the callback.
        """
        fade = round(self._device_rate * max(0.0, fade_ms) / 1000.0)  # Playout clamps it to max_fade_ms
        with self._interrupt_lock:
            self._playout.interrupt(fade)
            self._reset_resampler = True

    def tap(self, ring: Any) -> None:
        """Copy every block handed to PortAudio into ``ring`` as well (None stops it).

        The copy is exactly what is played: silence while idle or prebuffering, the fade-out of
        an interrupt, at :attr:`device_rate`. An echo canceller uses it as its reference. What
        does not fit into a full ``ring`` is dropped.

        Args:
            ring: a :class:`~rtsync.audio.ringbuffer.RingBuffer` of int16 whose single consumer
                is yours, or None.

        Called on: any thread. The callback writes to ``ring`` (its single producer).
        """
        self._tap_ring = ring

    def wait_until_drained(self, timeout: float | None = None) -> bool:
        """Play out everything queued, then wait until it has been handed to the device.

        Calls :meth:`end_of_stream` first, so a tail shorter than the prebuffer plays too,
        and after the queue is empty waits for the device's own output latency so the last
        sample has left the speaker.

        Args:
            timeout: the longest wait in seconds; ``None`` waits as long as the stream runs.

        Returns:
            True when everything queued was played; False on timeout or when the stream is
            not running (a stopped stream cannot drain).
        """
        self.end_of_stream()
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = self._block_ms / 4000.0
        while self._playout.queued > 0:
            if not self.active:
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        latency = self.device_latency
        if deadline is not None:
            latency = min(latency, max(0.0, deadline - time.monotonic()))
        if latency > 0:
            time.sleep(latency)
        return True

    # -- counters and state (any thread)

    @property
    def device_latency(self) -> float:
        """PortAudio's reported output latency in seconds (audio handed over but not yet heard)."""
        stream = self._stream
        if stream is None or self._closed:
            return 0.0
        try:
            return float(stream.get_output_latency())
        except Exception:
            return 0.0

    @property
    def played_samples(self) -> int:
        """Samples (at :attr:`rate`) the callback has handed to PortAudio from the queue.

        Excludes the silence of prebuffering, underruns and interrupts; includes a fade-out.
        Use it to tell the server how much of a reply was heard (``audio_end_ms``).
        """
        return self._to_rate(self._playout.played)

    @property
    def interrupt_pending(self) -> bool:
        """True from :meth:`interrupt` until the callback has faded out the old audio.

        Once it is False again, :attr:`played_samples` is final for everything written before
        the interrupt (a stopped stream never clears it).
        """
        return self._playout.interrupt_pending

    @property
    def played_frames_device(self) -> int:
        """Like :attr:`played_samples`, in frames at :attr:`device_rate`."""
        return self._playout.played

    @property
    def queued_samples(self) -> int:
        """Samples (at :attr:`rate`) written but not yet handed to PortAudio."""
        return self._to_rate(self._playout.queued)

    @property
    def write_available(self) -> int:
        """Samples (at :attr:`rate`) that :meth:`write` can queue now without dropping."""
        return self._to_rate(self._playout.write_available)

    @property
    def underruns(self) -> int:
        """Blocks in which the queue ran dry mid-stream and the rest of the block was zeros."""
        return self._playout.underruns

    @property
    def underrun_samples(self) -> int:
        """Zeros (at :attr:`rate`) inserted because of underruns."""
        return self._to_rate(self._playout.underrun_samples)

    @property
    def overruns(self) -> int:
        """:meth:`write` calls that dropped samples because the ring buffer was full."""
        return self._overruns

    @property
    def overrun_samples(self) -> int:
        """Samples (at :attr:`device_rate`) dropped by :meth:`write` because the ring buffer was full."""
        return self._overrun_samples

    @property
    def output_underflows(self) -> int:
        """Callbacks in which PortAudio flagged ``paOutputUnderflow`` (the callback was late)."""
        return self._output_underflows

    @property
    def playing(self) -> bool:
        """True while the callback is playing queued audio (not prebuffering or interrupted)."""
        return self._playout.playing

    @property
    def callback_errors(self) -> int:
        """Exceptions caught inside the audio callback (each one produced a block of silence)."""
        return self._callback_errors + self._playout.errors

    @property
    def last_callback_error(self) -> BaseException | None:
        """The most recent exception caught inside the audio callback, if any."""
        return self._last_callback_error or self._playout.last_error

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("active" if self.active else "stopped")
        return (
            f"<Speaker {self._info.name!r} rate={self._rate} device_rate={self._device_rate} {state} "
            f"played={self.played_samples} queued={self.queued_samples} underruns={self.underruns}>"
        )
